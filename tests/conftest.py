import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Real data lives beside the repo (CI too); NLPLAB_SHARED overrides.
SHARED = Path(os.environ.get("NLPLAB_SHARED", ROOT.parent / "shared" / "data"))
os.environ.setdefault("NLTK_DATA", str(SHARED / "nltk_data"))
# Tests never reach the network: hub code paths are exercised with mocks, offline.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.exists():
        pytest.fail(f"real data not found at {SHARED}; set NLPLAB_SHARED")
    return SHARED


def run_cli(*args, capsys=None):
    """Run the CLI in-process; returns (exit code, stdout, stderr) when capsys is given."""
    from nlplab.cli import main

    code = main([str(a) for a in args])
    if capsys is None:
        return code
    out = capsys.readouterr()
    return code, out.out, out.err


# Headless Chromium (Debian's chromium + chromium-driver; .ci/run installs them) for the report
# and serve pages. The flags keep Chromium off the network this machine does not have.
CHROMIUM = os.environ.get("NLPLAB_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("NLPLAB_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,2000"]


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """A selenium WebDriver on headless Chromium. Missing Chromium fails in CI (CI=true), skips elsewhere."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        msg = f"{CHROMIUM} / {CHROMEDRIVER} not found: apt-get install chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"]:
        opts.add_argument(flag)
    # an explicit driver path: selenium-manager would otherwise try to download one
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
