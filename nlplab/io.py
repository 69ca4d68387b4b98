"""Reading and writing the row files every stage consumes: txt, tsv, csv, jsonl, and
the parquet shards of a corpus folder (`nlplab corpus build`).

Files are read as bytes in chunks of whole lines, so a file of any size streams in
constant memory and each line keeps its number for error messages. TSV is read with
quoting off, as GLUE and NSMC need: quotes inside sentences are data. A file ending in
.gz, .bz2, .xz or .zst is decompressed on the fly and keeps the format of the suffix
before (reviews.jsonl.gz is jsonl). A corpus folder (manifest.json, train/, valid/) reads
as its train split, a folder of .parquet files as those files in name order.
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

from nlplab import NlplabError, shards
from nlplab.compressed import compression, open_compressed

ROW_FORMATS = ("txt", "tsv", "csv", "jsonl")  # line-based files (written by nlplab.formats, named by their extension)
FORMATS = (*ROW_FORMATS, "parquet")  # what inspect reads
_EXT = {".txt": "txt", ".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
MANIFEST = shards.MANIFEST
corpus_split, is_corpus = shards.corpus_split, shards.is_corpus  # public here: io.corpus_split(DIR, "valid")
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
    files: list[str] | None = None  # parquet: the shard files, read in this order
    rows: int | None = None  # parquet: rows in all (from the shards' footers)

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


def open_input(path: str):
    """(reader, raw): `reader` gives the bytes of `path`, decompressed when it ends in .gz,
    .bz2, .xz or .zst, with read/readline/readlines/iteration; `raw` is the file under it,
    so `raw.tell()` is the compressed bytes consumed so far (progress). Closing `reader`
    closes both. `-` is standard input (both; a pipe has no tell). Truncated or damaged
    compressed data is one NlplabError, wherever reading meets it."""
    if path == "-":
        return sys.stdin.buffer, sys.stdin.buffer
    try:
        raw = open(path, "rb")
    except FileNotFoundError:
        raise NlplabError(f"{path}: no such file; check the path") from None
    except IsADirectoryError:
        raise NlplabError(f"{path}: is a folder; give a file") from None
    return (raw if compression(path) is None else open_compressed(path, raw)), raw


def _open(path: str):
    return open_input(path)[0]


def inspect(path: str, fmt: str | None = None, column: str | None = None, no_header: bool = False,
            need_column: bool = True) -> Layout:
    """Read the header (first line, decompressed for .gz/.bz2/.xz/.zst) of `path` and find
    the text column. A pipe is read from a copy (`layout.path`), as is `-` holding a table:
    see `_copy`. A corpus folder, a folder of .parquet files or a .parquet file is format
    parquet: `layout.files` are its shards, `layout.rows` their rows, the column `text`
    unless `column` names another."""
    if path != "-" and not Path(path).exists():
        raise NlplabError(f"{path}: no such file; check the path")
    files = shards.files(path, fmt)
    if files is not None:
        return _inspect_parquet(path, files, fmt, column, no_header, need_column)
    if path != "-" and stat.S_ISFIFO(os.stat(path).st_mode):
        path = _copy(path)
    first = b""
    if path != "-":
        with _open(path) as f:
            first = f.readline()
    fmt = fmt or _sniff(path, first, column)
    if fmt not in FORMATS:
        raise NlplabError(f"{path}: unknown format {fmt!r}; use --format {'|'.join(FORMATS)}")
    if fmt == "parquet":  # a pipe: parquet's footer is at the end, it is read from files only
        raise NlplabError(f"{path}: parquet is read from a file or a folder, not a pipe; write it to a file first")
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
    name = Path(path)
    ext = (name.with_suffix("") if compression(path) else name).suffix.lower()  # x.jsonl.gz: .jsonl
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
        # the suffix tells the format (and a compression suffix the one before it: x.jsonl.gz)
        suffix = "" if path == "-" else "".join(Path(path).suffixes[-2:]) if compression(path) else Path(path).suffix
        fd, copy = tempfile.mkstemp(prefix="nlplab-pipe-", suffix=suffix)
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


def _inspect_parquet(path: str, files: list[str], fmt, column, no_header: bool, need_column: bool) -> Layout:
    if fmt not in (None, "parquet"):
        raise NlplabError(f"{path}: is parquet, not {fmt}; give a {fmt} file (or drop --format {fmt} if you passed it)")
    if no_header:
        raise NlplabError(f"{path}: --no-header is for tsv/csv files; drop it for parquet")
    layout = Layout(path, "parquet", columns=[], text_col=column or "text", files=files, rows=0)
    for i, file in enumerate(files):
        with shards.open_file(file) as pf:
            if i == 0:
                layout.columns = list(pf.schema_arrow.names)
                layout.text_col = _pick(file, layout.columns, column, need_column)
            if layout.text_col is not None:
                shards.check_text(file, pf.schema_arrow, layout.text_col)
            layout.rows += pf.metadata.num_rows
    return layout


def read_chunks(layout: Layout, chunk_bytes: int = 1 << 18):
    """Yield (first line number, raw lines, bytes read) for txt/tsv/jsonl, (line numbers,
    parsed rows, bytes read) for csv, whose quoted fields may span lines, or (first row
    number, texts, bytes read) for parquet. Bytes read count the input as stored (the
    compressed bytes of a .gz file, a share of a parquet shard): in all they come to
    `input_size(layout)`, the total of a progress bar."""
    if layout.format == "parquet":
        yield from shards.chunks(layout.files, layout.text_col, chunk_bytes)
        return
    f, raw = open_input(layout.path)
    done = 0  # compressed bytes reported so far

    def stored(n: int) -> int:  # the input's bytes behind the n bytes just decoded
        nonlocal done
        if layout.path == "-" or compression(layout.path) is None:
            return n
        now = raw.tell()
        n, done = now - done, now
        return n

    try:
        if layout.header_bytes:
            f.readline()
        if layout.format == "csv":
            for numbers, rows, n in _csv_chunks(layout, f, chunk_bytes):
                yield numbers, rows, stored(n)
            return
        lineno = layout.first_line
        while True:
            lines = f.readlines(chunk_bytes)
            if not lines:
                return
            yield lineno, lines, stored(sum(map(len, lines)))
            lineno += len(lines)
    finally:
        if f is not sys.stdin.buffer:
            f.close()


def input_size(layout: Layout) -> int | None:
    """Bytes `read_chunks` reports in all: the size on disk (of every shard for parquet);
    None for standard input."""
    if layout.format == "parquet":
        return sum(os.path.getsize(f) for f in layout.files)
    return None if layout.path == "-" else os.path.getsize(layout.path)


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
    naming file:line(:column), or with on_error="skip" are listed in `skipped`. Parquet
    rows are (row number, None, text): read_chunks has checked them."""
    if layout.format == "parquet":
        return [(i, None, t) for i, t in enumerate(payload, start)], [], len(payload)
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
