"""Reading for `nlplab corpus`: a corpus folder's manifest (its shards are read by
nlplab.io, nlplab/shards.py), and the texts of one input row (`Fields`)."""

from __future__ import annotations

import json
from pathlib import Path

from nlplab import NlplabError
from nlplab.shards import MANIFEST


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


class Fields:
    """The texts of one input row: its named fields (each a text of its own: Q and A of a
    chat pair), or None when the row's ?KEY=VALUE selector does not match."""

    @staticmethod
    def inspect(path: str, fields: list[str], column: str | None = None):
        """The file's layout; fields that are all numbers name columns of a file without a
        header (GLUE CoLA dev: `dev.tsv:3`)."""
        from nlplab import io

        if fields and all(f.isdigit() for f in fields):
            return io.inspect(path, None, fields[0], no_header=True)
        return io.inspect(path, None, fields[0] if fields else column)

    def __init__(self, layout, fields: list[str], where: tuple | None, what: str):
        self.layout, self.where, self.what = layout, where, what
        self.cols = [self._col(f) for f in fields] or [layout.text_col]
        self.where_col = self._col(where[0]) if where else None

    def _col(self, name: str):
        layout = self.layout
        if layout.format == "txt":
            raise NlplabError(f"{self.what}: a txt file has no fields; drop :FIELD and ?KEY=VALUE")
        if layout.format == "jsonl":
            return name
        if name not in layout.columns:
            raise NlplabError(f"{self.what}: {layout.path} has no column {name!r}; columns: {', '.join(layout.columns)}")
        return layout.columns.index(name)

    def _get(self, lineno: int, record, col) -> str:
        if self.layout.format != "jsonl":
            return record[col]
        value = record.get(col)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and col == self.where_col:
            return str(value)
        if not isinstance(value, str):
            raise NlplabError(f"{self.layout.path}:{lineno}: no string field {col!r}; every line needs one")
        return value

    def __call__(self, lineno: int, record, text: str) -> list[str] | None:
        if self.where is not None and self._get(lineno, record, self.where_col) not in self.where[1]:
            return None
        if record is None or self.cols == [self.layout.text_col]:
            return [text]
        return [text if c == self.layout.text_col else self._get(lineno, record, c) for c in self.cols]
