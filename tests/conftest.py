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
