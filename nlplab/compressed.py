"""Transparent decompression for every reader of nlplab.io: .gz, .bz2, .xz, .zst.

    f = open_compressed("reviews.jsonl.gz", raw)   # raw: the file opened "rb"; raw.tell() = compressed bytes read

The result is a BufferedReader (readline, readlines, iteration) whose damaged-data errors,
wherever reading hits them, are one NlplabError naming the file and the fix.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from pathlib import Path

from nlplab import NlplabError

SUFFIXES = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}


def compression(path: str) -> str | None:
    """gzip, bz2, xz or zstd from the file name's last suffix; None for a plain file."""
    return SUFFIXES.get(Path(path).suffix.lower())


class _Zstd(io.RawIOBase):
    """zstd frames one after another (`zstd -c a b` writes two). Not stream_reader: it stops
    silently where a truncated file ends mid-frame, and every row after the cut would be
    lost without a word; here a frame left open at the end of the input is an error."""

    def __init__(self, raw):
        import zstandard

        self.raw, self.error, self.dctx = raw, zstandard.ZstdError, zstandard.ZstdDecompressor()
        self.obj, self.fed, self.buf, self.pos = self.dctx.decompressobj(), False, b"", 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while self.pos == len(self.buf):
            data = self.raw.read(1 << 16)
            if not data:
                if self.fed and not self.obj.eof:
                    raise self.error("compressed file ended before the end of a frame")
                return 0
            out = []
            while data:
                if self.obj.eof:  # the next frame
                    self.obj = self.dctx.decompressobj()
                out.append(self.obj.decompress(data))
                self.fed = True
                data = self.obj.unused_data if self.obj.eof else b""
            self.buf, self.pos = b"".join(out), 0
        n = min(len(b), len(self.buf) - self.pos)
        b[:n] = self.buf[self.pos:self.pos + n]
        self.pos += n
        return n


class _Checked(io.RawIOBase):
    """A decompressing stream whose errors become one line: truncated or damaged data."""

    def __init__(self, stream, raw, path: str, kind: str, errors: tuple):
        self.stream, self.raw, self.path, self.kind, self.errors = stream, raw, path, kind, errors

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        try:
            return self.stream.readinto(b)
        except self.errors as e:
            raise NlplabError(f"{self.path}: truncated or damaged {self.kind} data ({e}); "
                              f"re-download or re-compress the file") from None

    def close(self) -> None:
        if not self.closed:
            self.stream.close()
            self.raw.close()  # GzipFile, BZ2File and LZMAFile leave a file object they were given open
        super().close()


def open_compressed(path: str, raw):
    """A BufferedReader of the decompressed bytes of `raw` (the file `path` opened "rb")."""
    kind = compression(path)
    errors: tuple = (EOFError, OSError, zlib.error, lzma.LZMAError)
    if kind == "gzip":
        stream = gzip.GzipFile(fileobj=raw, mode="rb")
    elif kind == "bz2":
        stream = bz2.BZ2File(raw)
    elif kind == "xz":
        stream = lzma.LZMAFile(raw)
    else:
        try:
            stream = _Zstd(raw)
        except ImportError:
            raw.close()
            raise NlplabError(f"{path}: reading .zst needs the zstandard package; pip install zstandard") from None
        errors = (*errors, stream.error)
    return io.BufferedReader(_Checked(stream, raw, path, kind, errors), 1 << 16)
