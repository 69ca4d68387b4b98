"""The one normalized key behind dedup and decontamination, and the vectorized hashes over it.

    key("재밌다!!") == key("재밌다 !") == "재밌다"

- `key`: the cleaned text, NFKC, lower-cased, with everything that is not a letter or a
  digit removed (CCNet's normalization, Wenzek et al. 2020 §3.3).
- `window_hashes`: 64-bit hashes of every n-symbol window of many texts at once (numpy,
  n vector operations per batch instead of a Python loop per window). A symbol is a code
  point of the key (characters) or a word hash (words).
- `MinHasher`: MinHash signatures (Broder 1997) with datasketch's default "affine32"
  permutations (MurmurHash3's fmix32, then a*h + b mod 2^32 with datasketch's seeds), so a
  signature equals `datasketch.MinHash(seed=1).update_batch` given the same shingle hashes
  (tests/test_corpus.py checks it). Only the shingle hash differs: datasketch hashes each
  shingle with SHA-1 in Python, here a polynomial window hash over the whole batch.
- `lsh_params`: the bands b and rows r datasketch's MinHashLSH picks for a threshold.
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata
import zlib

import numpy as np
import regex

_NOT_ALNUM = regex.compile(r"[^\p{L}\p{N}]+")
_WORD = regex.compile(r"[\p{L}\p{N}]+")
_P = np.uint64(0x100000001B3)  # FNV-1a's 64-bit prime: odd, so h*P + s never loses low bits


def normalized(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def key(text: str) -> str:
    """The dedup/decontamination key of a cleaned text."""
    return _NOT_ALNUM.sub("", normalized(text))


def words(text: str) -> list[str]:
    """The words of a cleaned text under the same normalization: key(t) == "".join(words(t))."""
    return _WORD.findall(normalized(text))


def key_hash(k: str) -> int:
    """A stable 64-bit hash of a key (the same in every process and every run)."""
    return int.from_bytes(hashlib.blake2b(k.encode("utf-8"), digest_size=8).digest(), "little")


def _mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: spreads a polynomial hash over all 64 bits."""
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return h ^ (h >> np.uint64(31))


def char_symbols(keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The code points of many keys end to end (uint64) and each key's length."""
    data = np.frombuffer("".join(keys).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    return data, np.fromiter(map(len, keys), dtype=np.int64, count=len(keys))


class WordSymbols:
    """Word lists -> one uint64 per word (CRC-32, cached per process), end to end."""

    def __init__(self):
        self.cache: dict[str, int] = {}

    def __call__(self, docs: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        cache = self.cache
        if len(cache) > 2_000_000:  # a bound on memory: the cache only saves time
            cache.clear()
        ids = []
        for ws in docs:
            for w in ws:
                h = cache.get(w)
                if h is None:
                    h = cache[w] = zlib.crc32(w.encode("utf-8")) + 1  # +1: no word hashes to 0
                ids.append(h)
        return (np.array(ids, dtype=np.uint64),
                np.fromiter(map(len, docs), dtype=np.int64, count=len(docs)))


def window_hashes(symbols: np.ndarray, lengths: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every window of n consecutive symbols inside each text (never across two
    texts) and the index of the text each came from. Texts shorter than n give none."""
    total = len(symbols)
    if total < n:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    m = total - n + 1
    h = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):  # h_i = sum_j s[i+j] * P^(n-1-j) mod 2^64
            h = h * _P + symbols[j:j + m]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(lengths) else np.zeros(0, np.int64)
    counts = np.maximum(lengths - n + 1, 0)
    owner = np.repeat(np.arange(len(lengths)), counts)
    # position of each window: its text's start plus 0..count-1
    first = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    pos = first + np.arange(len(owner))
    return _mix64(h[pos] + np.uint64(n)), owner


# --- MinHash and LSH ----------------------------------------------------------------

_FMIX32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))


def fmix32(h: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2, s3 = _FMIX32
    with np.errstate(over="ignore"):
        h = h ^ (h >> s1)
        h = h * m1
        h = h ^ (h >> s2)
        h = h * m2
        return h ^ (h >> s3)


class MinHasher:
    """Signatures of many shingle sets at once: (D, num_perm) uint32."""

    def __init__(self, num_perm: int = 128, seed: int = 1, batch: int = 1 << 17):
        gen = np.random.RandomState(seed)  # datasketch's affine32 permutations, same draws
        self.a = (gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1))
        self.b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
        self.num_perm, self.batch = num_perm, batch

    def signatures(self, hv: np.ndarray, owner: np.ndarray, n_docs: int) -> np.ndarray:
        """hv: 32-bit shingle hashes (uint32), owner: their text index, ascending. Texts
        with no shingle keep the all-max signature (never used: see `shingles`)."""
        sig = np.full((self.num_perm, n_docs), np.iinfo(np.uint32).max, dtype=np.uint32)
        hv = fmix32(hv.astype(np.uint32))
        for s in range(0, len(hv), self.batch):
            h, o = hv[s:s + self.batch], owner[s:s + self.batch]
            with np.errstate(over="ignore"):
                phv = self.a[:, None] * h[None, :] + self.b[:, None]  # (num_perm, M), wraps mod 2^32
            docs, first = np.unique(o, return_index=True)
            # permutation-major: reduceat along contiguous rows is twice as fast
            sig[:, docs] = np.minimum(sig[:, docs], np.minimum.reduceat(phv, first, axis=1))
        return sig.T
        return sig


@functools.cache
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows): the b*r <= num_perm minimizing the false-positive plus false-negative
    area under the S-curve, as datasketch's `_optimal_param` with equal weights."""
    s = np.linspace(0.0, 1.0, 2001)
    best, opt = float("inf"), (1, num_perm)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            p = 1 - (1 - s ** r) ** b
            fp = np.trapezoid(np.where(s <= threshold, p, 0), s)
            fn = np.trapezoid(np.where(s >= threshold, 1 - p, 0), s)
            if fp + fn < best:
                best, opt = fp + fn, (b, r)
    return opt


def band_hashes(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(D, bands) uint64: one hash per band of each signature, the band's index mixed in,
    so one set holds every band's buckets."""
    out = np.zeros((len(sig), bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(bands):
            h = np.full(len(sig), np.uint64(i + 1))
            for j in range(i * rows, (i + 1) * rows):
                h = h * _P + sig[:, j].astype(np.uint64)
            out[:, i] = _mix64(h)
    return out
