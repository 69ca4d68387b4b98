"""The writer side of nlplab.io: the output's name decides its format and compression.

    fmt = output_format("out/reviews.jsonl.gz", layout.format)   # jsonl, written gzip-compressed
    with open_output("out/reviews.jsonl.gz") as f: ...           # atomic, compressed on the fly

An output named .txt, .tsv, .csv or .jsonl (.ndjson), with or without .gz/.bz2/.xz/.zst
after it, is written in that format; any other name (or `-`) keeps the command's own
default (preprocess: the input's format; finetune predict: tsv). `Rows` converts a parsed
input row to the output format, keeping every column:

- tsv/csv/jsonl -> tsv/csv/jsonl: all columns, in header order. A headerless tsv/csv
  has the reader's column names "0", "1", ... (the jsonl keys), and stays headerless as
  tsv/csv. JSON values that are not strings are written as their JSON text (1, true,
  null, ["a"]) in tsv/csv.
- txt -> tsv/csv/jsonl: one column `text` (a header is written, so the file reads back
  with its text column found by name).
- tsv/csv/jsonl -> txt: only when the text is the only column; otherwise an error, since
  a .txt output would drop the others.
- TSV is quoting-off (as the readers and GLUE): a tab or line break inside a cell cannot
  be written and is an error naming the line, except in the processed text column, which
  is flattened to spaces as it always was. CSV quotes whatever needs it.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io as _io
import json
import lzma
from contextlib import contextmanager
from pathlib import Path

import regex

from nlplab import NlplabError, io
from nlplab.compressed import compression

# The readers' own table (io._EXT): a name means the same format read or written.
EXTENSIONS = io._EXT
_BAD_WS = regex.compile(r"[\t\n\r\x0b\x0c\x1c-\x1f\x85\u2028\u2029]")
_TSV_BREAKERS = ("\t", "\n", "\r")  # what would split or end a quoting-off TSV row


def output_format(path: str, default: str) -> str:
    """The format `path`'s extension names (x.jsonl.gz: jsonl), else `default`. A name
    that cannot be written (.parquet, .zst without zstandard) is a one-line error."""
    if path == "-":
        return default
    name = Path(path)
    ext = (name.with_suffix("") if compression(path) else name).suffix.lower()
    fmt = EXTENSIONS.get(ext)
    if fmt == "parquet":
        raise NlplabError(f"{path}: parquet is not written here; name the output .jsonl, .tsv, .csv or .txt "
                          "(nlplab corpus build writes parquet shards)")
    if compression(path) == "zstd":
        try:
            import zstandard  # noqa: F401
        except ImportError:
            raise NlplabError(f"{path}: writing .zst needs the zstandard package; pip install zstandard, "
                              "or name the output .gz/.bz2/.xz") from None
    return fmt or default


@contextmanager
def open_output(path: str):
    """A binary file for `path`, renamed into place only on success (io.atomic_output)
    and compressed as its last suffix says (.gz, .bz2, .xz, .zst)."""
    kind = None if path == "-" else compression(path)
    with io.atomic_output(path, "wb") as raw:
        if kind is None:
            yield raw
            return
        if kind == "gzip":  # no name and mtime 0: the same rows give the same bytes on every run
            stream = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
        elif kind == "bz2":
            stream = bz2.BZ2File(raw, "wb")
        elif kind == "xz":
            stream = lzma.LZMAFile(raw, "wb")
        else:
            import zstandard

            stream = zstandard.ZstdCompressor().stream_writer(raw, closefd=False)
        yield stream
        stream.close()  # writes the trailer; the file under it is closed by atomic_output


def flat(value) -> str:
    """A value as one tab- and newline-free field (tokens joined by spaces)."""
    s = " ".join(value) if isinstance(value, list) else value
    return _BAD_WS.sub(" ", s) if _BAD_WS.search(s) else s


def header(fmt: str, columns: list[str] | None) -> str:
    """The header line of a tsv/csv output ("" for txt, jsonl, or no columns)."""
    if not columns or fmt in ("txt", "jsonl"):
        return ""
    return dump(fmt, [columns])


def dump(fmt: str, rows) -> str:
    """Output lines: rows are strings (txt), dicts (jsonl) or lists of strings (tsv/csv)."""
    if fmt == "txt":
        return "".join(r + "\n" for r in rows)
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if fmt == "tsv":
        return "".join("\t".join(r) + "\n" for r in rows)
    buf = _io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _cell(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class Rows:
    """Parsed input rows (io.parse_chunk's records) + their processed text -> output rows
    for `dump`. The checks that need no rows run here, before any work; picklable."""

    def __init__(self, layout: io.Layout, fmt: str, output: str, output_column: str | None = None):
        self.src, self.fmt, self.path, self.output = layout.format, fmt, layout.path, output
        if layout.format == "txt":
            self.text, self.columns, self.has_header = "text", ["text"], True
        else:
            self.columns = list(layout.columns) if layout.columns is not None else None  # None: an empty file
            col = layout.text_col
            self.text = self.columns[col] if isinstance(col, int) and self.columns else col
            self.has_header = layout.has_header or layout.format == "jsonl"
        self.key = output_column or self.text  # where the processed value goes
        self.out_columns = None
        self.appended = False  # the processed value is a new last cell (else it replaces the text's)
        if self.columns is not None:
            self.appended = output_column is not None and output_column not in self.columns
            self.out_columns = self.columns + [output_column] if self.appended else self.columns
            self.at = None if self.appended else self.columns.index(self.key)
        if fmt == "txt" and output_column:
            raise NlplabError(f"--output-column adds a column, and a .txt output holds one; "
                              f"name {output} .tsv, .csv or .jsonl")
        if fmt == "txt" and self.src != "txt" and self.columns and self.columns != [self.text]:
            others = ", ".join(c for c in self.columns if c != self.text)
            raise NlplabError(f"{output}: a .txt output holds only the text, and {layout.path} also has {others}; "
                              f"name the output .tsv, .csv or .jsonl to keep them")
        if fmt == "tsv" and self.out_columns and self.has_header:
            bad = [c for c in self.out_columns if any(b in c for b in _TSV_BREAKERS)]
            if bad:
                raise NlplabError(f"{layout.path}: column name {bad[0]!r} holds a tab or line break, which a TSV header "
                                  f"cannot; name {output} .csv or .jsonl")

    def header(self) -> str:
        return header(self.fmt, self.out_columns if self.has_header else None)

    def row(self, lineno: int, record, text: str, value):
        """One output row; a row the output format cannot hold is an NlplabError naming its line."""
        fmt, src = self.fmt, self.src
        if fmt == "txt":
            if src == "jsonl" and list(record) != [self.text]:
                self._refuse(lineno, f"has keys besides {self.text!r} ({', '.join(k for k in record if k != self.text)}), "
                                     "which a .txt output would drop", ".jsonl")
            return flat(value)
        if fmt == "jsonl":
            obj = record if src == "jsonl" else {"text": text} if src == "txt" else dict(zip(self.columns, record))
            obj[self.key] = value
            return obj
        # tsv/csv
        if src == "jsonl":
            if len(record) != len(self.columns) or any(c not in record for c in self.columns):
                self._refuse(lineno, f"has keys {', '.join(record)}, line 1 has {', '.join(self.columns)}; "
                                     f"a {fmt} output needs the same keys on every row", ".jsonl")
            cells = [_cell(record[c]) for c in self.columns]
        else:
            cells = [text] if src == "txt" else list(record)
        if fmt == "tsv" and src != "tsv":  # tsv fields cannot hold a tab or break; the others can
            for c, v in zip(self.out_columns, cells):
                if c != self.key and any(b in v for b in _TSV_BREAKERS):
                    self._refuse(lineno, f"column {c!r} holds a tab or line break, which TSV (quoting off) cannot",
                                 ".csv or .jsonl")
        if self.appended:
            cells.append(flat(value))
        else:
            cells[self.at] = flat(value)
        return cells

    def _refuse(self, lineno: int, why: str, fix: str):
        raise NlplabError(f"{self.path}:{lineno}: {why}; name {self.output} {fix}, or {io.SKIP_HINT}")
