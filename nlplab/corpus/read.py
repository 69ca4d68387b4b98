"""Reading a corpus folder back: its manifest and the parquet shards of a split."""

from __future__ import annotations

import json
from pathlib import Path

from nlplab import NlplabError

MANIFEST = "manifest.json"


def manifest(folder) -> dict:
    path = Path(folder) / MANIFEST
    if not Path(folder).is_dir():
        raise NlplabError(f"{folder}: no such folder; give a corpus folder from `nlplab corpus build`")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NlplabError(f"{folder}: not a corpus folder (no {MANIFEST}); build one with `nlplab corpus build`") from None
    except json.JSONDecodeError as e:
        raise NlplabError(f"{path}:{e.lineno}:{e.colno}: damaged manifest ({e.msg}); rebuild the corpus") from None


def split_files(folder, split: str = "train") -> list[str]:
    """The shards of `split` (train, valid or all), in order."""
    m = manifest(folder)
    names = ("train", "valid") if split == "all" else (split,)
    files = [str(Path(folder) / s / name) for s in names for name in m["splits"][s]["shards"]]
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise NlplabError(f"{missing[0]}: shard listed in {MANIFEST} is missing; rebuild the corpus")
    return files
