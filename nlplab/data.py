"""Local data set-up: NLTK's data packages, from a local folder or (online) NLTK's downloader.

    nlplab setup-data --from ../shared/data/nltk_data
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from nlplab import NlplabError

# package -> where NLTK looks for it inside a data folder
NLTK_PACKAGES = {
    "punkt_tab": "tokenizers/punkt_tab",
    "stopwords": "corpora/stopwords",
    "averaged_perceptron_tagger_eng": "taggers/averaged_perceptron_tagger_eng",
}


def default_target() -> Path:
    first = os.environ.get("NLTK_DATA", "").split(os.pathsep)[0]
    return Path(first) if first else Path.home() / "nltk_data"


def status() -> dict[str, str | None]:
    """Where NLTK finds each package now (None: missing)."""
    import nltk

    found = {}
    for pkg, rel in NLTK_PACKAGES.items():
        try:
            found[pkg] = str(nltk.data.find(rel))
        except LookupError:
            found[pkg] = None
    return found


def setup_nltk(source: str | None = None, target: str | None = None, copy: bool = False) -> dict[str, str]:
    """Make every package in NLTK_PACKAGES findable. From `source` (a folder laid out like
    nltk_data) each package is linked (or copied) into `target`; without a source,
    NLTK's downloader fetches it (needs the internet). Returns package -> what was done."""
    target_dir = Path(target) if target else default_target()
    done = {}
    for pkg, rel in NLTK_PACKAGES.items():
        dest = target_dir / rel
        if dest.exists():
            done[pkg] = f"already in {dest}"
            continue
        if source:
            src = Path(source) / rel
            if not src.exists():
                raise NlplabError(f"{src}: not found; --from must be an nltk_data folder holding {rel}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            if copy:
                shutil.copytree(src, dest)
                done[pkg] = f"copied to {dest}"
            else:
                dest.symlink_to(src.resolve(), target_is_directory=True)
                done[pkg] = f"linked {dest} -> {src.resolve()}"
            continue
        import nltk

        if not nltk.download(pkg, download_dir=str(target_dir), quiet=True, raise_on_error=False):
            raise NlplabError(f"could not download NLTK package {pkg!r} (offline?); pass --from DIR with a local nltk_data folder")
        done[pkg] = f"downloaded to {target_dir}"
    if str(target_dir) not in os.environ.get("NLTK_DATA", "") and target_dir != Path.home() / "nltk_data":
        done["note"] = f"set NLTK_DATA={target_dir} so NLTK finds it"
    return done
