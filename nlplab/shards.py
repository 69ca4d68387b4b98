"""Parquet shards as an input of nlplab.io: a corpus folder, a split folder, a .parquet file.

    DIR/manifest.json  DIR/train/train-00000.parquet ...  DIR/valid/valid-00000.parquet ...

`nlplab corpus build` writes such a folder (columns `text` and `source`). As an input, DIR
means its train split; DIR/valid its valid split: the shards its manifest lists, in that
order (any other folder of .parquet files: its files in name order). Only the text column is read, a batch of rows at a time, so a corpus of any size
streams in constant memory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from nlplab import NlplabError

MANIFEST = "manifest.json"  # marks a corpus folder, beside train/ and valid/


def is_corpus(path: str) -> bool:
    """A corpus folder from `nlplab corpus build`: manifest.json beside train/."""
    return path != "-" and (Path(path) / MANIFEST).is_file() and (Path(path) / "train").is_dir()


def corpus_split(path: str, split: str) -> str | None:
    """The folder of split `split` (train, valid) of corpus folder `path`; None when `path`
    is no corpus folder or has no such split."""
    folder = Path(path) / split
    return str(folder) if is_corpus(path) and folder.is_dir() else None


def files(path: str, fmt: str | None) -> list[str] | None:
    """The parquet files `path` stands for: a corpus folder's train split, a folder's
    *.parquet in name order, a .parquet file (or any file with --format parquet); None
    for every other input. A corpus's split may hold no file; another folder must."""
    p = Path(path)
    if path == "-" or not (p.is_dir() or p.is_file()):  # a pipe is read as a row file
        return None
    if p.is_file():
        return [path] if fmt == "parquet" or (fmt is None and p.suffix.lower() == ".parquet") else None
    if is_corpus(path):
        p = p / "train"
    listed = _listed(p)
    if listed is not None:
        return listed
    found = sorted(str(f) for f in p.glob("*.parquet") if f.is_file())
    if not found and not (p.parent / MANIFEST).is_file():
        raise NlplabError(f"{path}: is a folder without .parquet files; give a file, a folder of .parquet "
                          f"shards or a corpus folder ({MANIFEST}, train/, valid/)")
    return found


def _listed(split: Path) -> list[str] | None:
    """The shards the corpus manifest lists for this split folder, in its order (corpus
    build writes {"splits": {"train": {"shards": [names]}}}); None when it lists none."""
    manifest = split.parent / MANIFEST
    if not manifest.is_file():
        return None
    try:
        names = json.loads(manifest.read_text(encoding="utf-8"))["splits"][split.name]["shards"]
    except (ValueError, KeyError, TypeError):  # another layout: the folder's files decide
        return None
    if not isinstance(names, list):
        return None
    files = [str(split / n) for n in names]
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise NlplabError(f"{missing[0]}: shard listed in {manifest} is missing; rebuild the corpus")
    return files


def open_file(path: str):
    """pyarrow's ParquetFile (a context manager); an unreadable file is one line."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError, pa.ArrowException) as e:
        raise NlplabError(f"{path}: not a readable parquet file ({e}); re-create it") from None


def check_text(path: str, schema, column: str) -> None:
    """`column` exists in this shard's schema and holds strings."""
    import pyarrow as pa

    if column not in schema.names:
        raise NlplabError(f"{path}: no column {column!r}; columns: {', '.join(schema.names)}; every shard needs it")
    kind = schema.field(column).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)):
        raise NlplabError(f"{path}: column {column!r} holds {kind}, not text; pass --column with a string column")


def chunks(paths: list[str], column: str, chunk_bytes: int):
    """(first row number, texts, bytes) per batch of about chunk_bytes of text, over every
    shard in order, row numbers counted across them from 1. A shard's size is shared out by
    rows, so the bytes of its batches add up to its size (the progress bar's total)."""
    import pyarrow as pa

    row = 1
    for path in paths:
        with open_file(path) as pf:
            md, size, sent, done = pf.metadata, os.path.getsize(path), 0, 0
            check_text(path, pf.schema_arrow, column)
            stored = sum(md.row_group(g).total_byte_size for g in range(md.num_row_groups))  # all columns: a bound
            per = max(1, chunk_bytes * md.num_rows // max(1, stored))
            try:
                for batch in pf.iter_batches(batch_size=per, columns=[column]):
                    texts = batch.column(0).to_pylist()
                    if None in texts:
                        raise NlplabError(f"{path}: row {done + texts.index(None) + 1} has no text (null {column!r}); "
                                          "fill or drop the row")
                    done += len(texts)
                    n = size * done // md.num_rows - sent
                    sent += n
                    yield row, texts, n
                    row += len(texts)
            except (OSError, ValueError, pa.ArrowException) as e:
                raise NlplabError(f"{path}: damaged parquet data ({e}); re-create the file") from None
