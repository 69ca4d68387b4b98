"""Reading and writing the row files every stage consumes: txt, tsv, csv, jsonl.

Files are read as bytes in chunks of whole lines, so a file of any size streams in
constant memory and each line keeps its number for error messages. TSV is read with
quoting off, as GLUE and NSMC need: quotes inside sentences are data.
"""

from __future__ import annotations

import atexit
import csv
import json
import os
import stat
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from nlplab import NlplabError

FORMATS = ("txt", "tsv", "csv", "jsonl")
_EXT = {".txt": "txt", ".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
TEXT_COLUMNS = ("text", "sentence", "document", "comments", "review", "content")  # tried when --column is absent


@dataclass
class Layout:
    """What the header told us: format, column names and which column holds the text."""

    path: str
    format: str
    columns: list[str] | None = None  # tsv/csv names (or "0", "1", ... with no header)
    text_col: int | str | None = None  # index for tsv/csv, key for jsonl, None for txt
    has_header: bool = False
    header_bytes: int = 0  # bytes of the header line, skipped by the reader

    @property
    def first_line(self) -> int:
        return 2 if self.has_header else 1


# Commands with --on-error (preprocess, subword encode) add this to a bad row's error;
# the others do not offer it.
SKIP_HINT = "pass --on-error skip to skip such rows"


def decode_error(path, lineno: int, raw: bytes, err: UnicodeDecodeError) -> NlplabError:
    col = len(raw[: err.start].decode("utf-8", "replace")) + 1
    return NlplabError(
        f"{path}:{lineno}:{col}: byte 0x{raw[err.start]:02x} is not UTF-8; re-encode the file "
        f"(e.g. iconv -f cp949 -t utf-8)"
    )


def _open(path: str):
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise NlplabError(f"{path}: no such file; check the path") from None
    except IsADirectoryError:
        raise NlplabError(f"{path}: is a folder; give a file") from None


def inspect(path: str, fmt: str | None = None, column: str | None = None, no_header: bool = False,
            need_column: bool = True) -> Layout:
    """Read the header (first line) of `path` and find the text column. A pipe is read
    from a copy (`layout.path`), as is `-` holding a table: see `_copy`."""
    if path != "-" and not Path(path).exists():
        raise NlplabError(f"{path}: no such file; check the path")
    if path != "-" and stat.S_ISFIFO(os.stat(path).st_mode):
        path = _copy(path)
    first = b""
    if path != "-":
        with _open(path) as f:
            first = f.readline()
    fmt = fmt or _sniff(path, first, column)
    if fmt not in FORMATS:
        raise NlplabError(f"{path}: unknown format {fmt!r}; use --format {'|'.join(FORMATS)}")
    layout = Layout(path, fmt)
    if fmt == "txt":
        if column is not None:
            raise NlplabError(f"{path}: --column needs a tsv, csv or jsonl file; pass --format tsv|csv|jsonl")
        return layout
    if path == "-":  # the header, then the rows: from a copy
        return inspect(_copy(path), fmt, column, no_header, need_column)
    if not first:
        return layout  # empty file: nothing to read, output will be empty too
    try:
        head = first.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise decode_error(path, 1, first, e) from None
    if fmt == "jsonl":
        try:
            obj = json.loads(head)
        except json.JSONDecodeError as e:
            raise NlplabError(f"{path}:1:{e.colno}: not a JSON object ({e.msg}); each line must be one JSON object") from None
        if not isinstance(obj, dict):
            raise NlplabError(f"{path}:1:1: not a JSON object; each line must be one JSON object")
        layout.columns = list(obj)
        layout.text_col = _pick(path, layout.columns, column, need_column)
        return layout
    cells = head.rstrip("\r\n").split("\t") if fmt == "tsv" else next(csv.reader([head.rstrip("\r\n")]))
    if no_header:
        layout.columns = [str(i) for i in range(len(cells))]
    else:
        layout.columns, layout.has_header, layout.header_bytes = cells, True, len(first)
    layout.text_col = _pick(path, layout.columns, column, need_column)
    if layout.text_col is not None:
        layout.text_col = layout.columns.index(layout.text_col)
    return layout


def _sniff(path: str, first: bytes, column: str | None) -> str:
    ext = Path(path).suffix.lower()
    fmt = _EXT.get(ext, "txt")
    # NSMC's ratings_train.txt is really a TSV: a .txt file, a --column, and a tab in line 1.
    if fmt == "txt" and column is not None:
        if b"\t" in first:
            return "tsv"
        if b"," in first:
            return "csv"
        if first.lstrip().startswith(b"{"):
            return "jsonl"
    return fmt


def _pick(path: str, columns: list[str], column: str | None, need: bool) -> str | None:
    if column is None:
        hits = [c for c in TEXT_COLUMNS if c in columns]
        if hits:
            return hits[0]
        if not need:
            return None
        raise NlplabError(f"{path}: which column holds the text? pass --column NAME; columns: {', '.join(columns)}")
    if column not in columns:
        raise NlplabError(f"{path}: no column {column!r}; columns: {', '.join(columns)}")
    return column


_COPIES: dict[tuple, str] = {}


def _copy(path: str) -> str:
    """A temporary copy of a pipe (`/dev/stdin`, `<(...)`, a FIFO) or of `-`, made once per
    pipe and removed at exit. Readers open a file twice (the header here, then the rows),
    and a pipe's second open would find it empty: every row silently lost."""
    key = ("-",) if path == "-" else (path, os.stat(path).st_dev, os.stat(path).st_ino)
    if key not in _COPIES:
        fd, copy = tempfile.mkstemp(prefix="nlplab-pipe-", suffix="" if path == "-" else Path(path).suffix)
        atexit.register(os.unlink, copy)
        src = sys.stdin.buffer if path == "-" else open(path, "rb")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
        finally:
            if src is not sys.stdin.buffer:
                src.close()
        _COPIES[key] = copy
    return _COPIES[key]


def read_chunks(layout: Layout, chunk_bytes: int = 1 << 18):
    """Yield (first line number, raw lines, bytes read) for txt/tsv/jsonl, or
    (line numbers, parsed rows, bytes read) for csv, whose quoted fields may span lines."""
    f = _open(layout.path)
    try:
        if layout.header_bytes:
            f.readline()
        if layout.format == "csv":
            yield from _csv_chunks(layout, f, chunk_bytes)
            return
        lineno = layout.first_line
        while True:
            lines = f.readlines(chunk_bytes)
            if not lines:
                return
            yield lineno, lines, sum(map(len, lines))
            lineno += len(lines)
    finally:
        if f is not sys.stdin.buffer:
            f.close()


def _csv_chunks(layout: Layout, f, chunk_bytes: int):
    nbytes = [0]

    def decoded():
        for i, raw in enumerate(f, start=layout.first_line):
            nbytes[0] += len(raw)
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise decode_error(layout.path, i, raw, e) from None

    reader = csv.reader(decoded())
    numbers, rows, size = [], [], 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise NlplabError(f"{layout.path}:{reader.line_num + layout.first_line - 1}: bad CSV ({e}); fix the quoting") from None
        numbers.append(reader.line_num + layout.first_line - 1)
        rows.append(row)
        if nbytes[0] - size >= chunk_bytes:
            yield numbers, rows, nbytes[0] - size
            size = nbytes[0]
            numbers, rows = [], []
    if rows:
        yield numbers, rows, nbytes[0] - size


def parse_chunk(layout: Layout, start, payload, on_error: str = "fail"):
    """Split a chunk from `read_chunks` into records: returns ([(line, record, text)],
    skipped [(line, reason)], rows read). A record is the row's fields (tsv/csv), its
    object (jsonl) or None (txt); `text` is the text column. Bad rows raise NlplabError
    naming file:line(:column), or with on_error="skip" are listed in `skipped`."""
    if layout.format == "csv":
        lines = zip(start, payload)
    else:
        lines = _decode_lines(layout, start, payload, on_error)
    records, skipped, n = [], [], 0
    for lineno, row in lines:
        n += 1
        try:
            if row is None:
                raise NlplabError(f"{layout.path}:{lineno}: not UTF-8")
            records.append((lineno, *_record(layout, lineno, row)))
        except NlplabError as e:
            if on_error == "fail":
                raise
            skipped.append((lineno, str(e).split(": ", 1)[-1].split(";")[0]))
    return records, skipped, n


def _decode_lines(layout: Layout, start: int, lines: list[bytes], on_error: str):
    try:
        text = b"".join(lines).decode("utf-8")
    except UnicodeDecodeError:
        result = []
        for i, raw in enumerate(lines, start):
            try:
                result.append((i, raw.decode("utf-8").rstrip("\r\n")))
            except UnicodeDecodeError as e:
                if on_error == "fail":
                    raise decode_error(layout.path, i, raw, e) from None
                result.append((i, None))
        return result
    if text.endswith("\n"):
        text = text[:-1]
    return [(i, line.rstrip("\r")) for i, line in enumerate(text.split("\n"), start)]


def _record(layout: Layout, lineno: int, row):
    fmt = layout.format
    if fmt == "txt":
        return None, row
    if fmt in ("tsv", "csv"):
        fields = row.split("\t") if fmt == "tsv" else row
        if fmt == "csv" and not fields and len(layout.columns) == 1:
            fields = [""]  # a blank line of a one-column csv is an empty text, as in a tsv
        if len(fields) != len(layout.columns):
            kind = "tab-separated fields" if fmt == "tsv" else "fields"
            raise NlplabError(f"{layout.path}:{lineno}: {len(fields)} {kind}, header has "
                              f"{len(layout.columns)}; fix the row")
        return fields, fields[layout.text_col]
    try:
        obj = json.loads(row)
    except json.JSONDecodeError as e:
        raise NlplabError(f"{layout.path}:{lineno}:{e.colno}: not valid JSON ({e.msg}); fix the line") from None
    key = layout.text_col
    if not isinstance(obj, dict) or not isinstance(obj.get(key), str):
        raise NlplabError(f"{layout.path}:{lineno}: no string field {key!r}; every line needs one")
    return obj, obj[key]


def iter_texts(layout: Layout, on_error: str = "fail", skipped: list | None = None):
    """Every text of the file, in order, streamed (for training on a corpus). Skipped
    rows are appended to `skipped` when given."""
    for start, payload, _ in read_chunks(layout):
        records, bad, _ = parse_chunk(layout, start, payload, on_error)
        if skipped is not None:
            skipped.extend(bad)
        for _, _, text in records:
            yield text


# mkstemp makes its file private (0600); outputs get the permissions any new file gets.
_UMASK = os.umask(0)
os.umask(_UMASK)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _existing_above(path: str, target: Path) -> Path:
    """The nearest existing folder at or above `target`; a file there is a one-line error."""
    above = next(a for a in [target, *target.parents] if a.exists())
    if not above.is_dir():
        raise NlplabError(f"{path}: {above} is a file, not a folder; give another path")
    return above


def check_writable(path: str, inputs=()) -> None:
    """A one-line error, before any work, when `path` cannot become an output file: it is a
    folder, a file stands where a folder above it should be, that folder is not writable,
    or it is one of the `inputs` (which writing would destroy)."""
    target = Path(path)
    if target.is_dir():
        raise NlplabError(f"{path}: is a folder; give a file name")
    above = _existing_above(path, target.absolute().parent)
    if not os.access(above, os.W_OK | os.X_OK):
        raise NlplabError(f"{path}: {above} is not writable; give another path")
    for i in inputs:
        if i and i != "-" and _same(target, Path(i)):
            raise NlplabError(f"{path}: is the input {i}; writing would overwrite it, give another path")


def check_folder(path: str, inputs=()) -> None:
    """A one-line error, before any work, when `path` cannot be an output folder: a file is
    there or above it, or one of the `inputs` lies in it (clearing or filling the folder
    would touch the user's data)."""
    target = Path(path).absolute()
    if target.exists() and not target.is_dir():
        raise NlplabError(f"{path}: is a file; give a folder")
    _existing_above(path, target)
    for i in inputs:
        if not i or i == "-" or not Path(i).exists():
            continue
        src = Path(i).resolve()
        if target.exists() and (src == target.resolve() or target.resolve() in src.parents):
            raise NlplabError(f"{path}: holds the input {i}; write to another folder")


@contextmanager
def atomic_output(path: str, mode: str = "wb", encoding: str | None = None):
    """Write to a temporary file beside `path`, renamed over it only on success: an
    interrupted or failed run leaves no partial output. `-` writes to standard output."""
    if path == "-":
        yield sys.stdout.buffer if "b" in mode else sys.stdout
        return
    check_writable(path)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.fchmod(fd, 0o666 & ~_UMASK)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
