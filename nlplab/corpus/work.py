"""The per-chunk work of `nlplab corpus build`, run in worker processes: parse, clean, split
into units, filter by length and language, key, check against the evaluation sets and
compute the MinHash-LSH band hashes. Everything that depends on earlier rows (the dedup
indexes) stays in the main process (nlplab/corpus/build.py), which takes the chunks in
input order: the output is the same with 1 or N workers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from nlplab import NlplabError, clean, io, tokenize
from nlplab.corpus import decontam, filters, hashing


@dataclass
class Chunk:
    """What one chunk of input rows became."""

    rows: int = 0  # input rows read
    chars: int = 0  # characters of the selected raw texts, before cleaning
    words: int = 0  # their whitespace words (eojeol)
    units: int = 0  # texts after --unit sentence splitting (= rows for documents)
    dropped: Counter = field(default_factory=Counter)  # (stage, reason) -> rows
    examples: dict = field(default_factory=dict)  # (stage, reason) -> [(line, text)]
    # the texts that passed the filters, in order:
    lines: list = field(default_factory=list)
    texts: list = field(default_factory=list)
    word_counts: list = field(default_factory=list)  # whitespace words (eojeol) per kept text
    hashes: list = field(default_factory=list)  # key hashes
    contaminated: list = field(default_factory=list)  # None or (eval set, rule, eval text index)
    bands: np.ndarray | None = None  # (len(texts), bands) uint64, near dedup only


class Worker:
    """Built once in the main process; its heavy parts (the analyzers) load lazily in
    whichever process runs it."""

    def __init__(self, cfg, inputs: list, evals: list):
        self.cfg, self.evals = cfg, evals
        self.layouts = [i["layout"] for i in inputs]
        self.picks = [i["pick"] for i in inputs]  # row -> its texts (nlplab.corpus.read.Fields)
        self.cleaner = clean.pipeline(cfg.clean)
        self.word_symbols = hashing.WordSymbols()
        self.minhash = hashing.MinHasher(cfg.num_perm, cfg.seed) if cfg.dedup == "near" else None
        self.bands = hashing.lsh_params(cfg.near_threshold, cfg.num_perm) if cfg.dedup == "near" else None

    def units(self, text: str) -> list[str]:
        if self.cfg.unit == "document":
            return [text]
        return [s for s in tokenize.split_sentences(text, self.cfg.lang) if s.strip()] if text else []

    def _drop(self, out: Chunk, stage: str, reason: str, lineno: int, text: str) -> None:
        out.dropped[stage, reason] += 1
        ex = out.examples.setdefault((stage, reason), [])
        if len(ex) < self.cfg.examples:
            ex.append((lineno, text))

    def chunk(self, index: int, start, payload) -> Chunk:
        cfg, layout, out = self.cfg, self.layouts[index], Chunk()
        records, _, out.rows = io.parse_chunk(layout, start, payload)
        keys, word_lists = [], []
        pick = self.picks[index]
        for lineno, record, raw in records:
            texts = pick(lineno, record, raw)
            if texts is None:
                self._drop(out, "read", "not_selected", lineno, raw)
                continue
            out.chars += sum(map(len, texts))
            out.words += sum(len(t.split()) for t in texts)
            for text in (u for t in texts for u in self.units(self.cleaner(t))):
                out.units += 1
                reason = filters.length(text, cfg.min_chars, cfg.max_chars, cfg.min_words)
                if reason:
                    self._drop(out, "length", reason, lineno, text)
                    continue
                ws = hashing.words(text)
                k = "".join(ws)
                reason = filters.language(k, cfg.lang, cfg.lang_share)
                if reason:
                    self._drop(out, "language", reason, lineno, text)
                    continue
                out.lines.append(lineno)
                out.texts.append(text)
                out.word_counts.append(len(text.split()))
                out.hashes.append(hashing.key_hash(k))
                keys.append(k)
                word_lists.append(ws)
        if self.evals:
            sym, lengths = decontam.symbols(cfg.decontam_unit, keys, word_lists, self.word_symbols)
            out.contaminated = decontam.check(self.evals, out.hashes, sym, lengths, cfg.decontam_n)
        else:
            out.contaminated = [None] * len(out.texts)
        if self.minhash is not None:
            out.bands = self._bands(keys, word_lists, out.hashes)
        return out

    def _bands(self, keys, word_lists, hashes) -> np.ndarray:
        """LSH band hashes of each text's shingle set. A text shorter than one shingle is
        one shingle: its whole key (only an equal key can match it, as in exact dedup)."""
        k = self.cfg.shingle_size
        sym, lengths = decontam.symbols(self.cfg.shingle, keys, word_lists, self.word_symbols)
        hv, owner = hashing.window_hashes(sym, lengths, k)
        short = np.flatnonzero(lengths < k)
        if len(short):
            hv = np.concatenate([hv, np.array([hashes[i] for i in short], dtype=np.uint64)])
            owner = np.concatenate([owner, short])
            order = np.argsort(owner, kind="stable")
            hv, owner = hv[order], owner[order]
        sig = self.minhash.signatures((hv >> np.uint64(32)).astype(np.uint32), owner, len(keys))
        return hashing.band_hashes(sig, *self.bands)


_STATE: Worker | None = None


def init(worker: Worker) -> None:
    """Pool initializer: the worker (and its evaluation index) once per process."""
    global _STATE
    from nlplab import parallel

    parallel.fresh_backends()
    _STATE = worker


def run(index: int, start, payload) -> Chunk:
    try:
        return _STATE.chunk(index, start, payload)
    except NlplabError:
        raise
    except Exception as e:  # an analyzer crashing on a row: name the chunk, not a traceback
        raise NlplabError(f"{_STATE.layouts[index].path}:{start if isinstance(start, int) else start[0]}: "
                          f"{type(e).__name__}: {e}") from None
