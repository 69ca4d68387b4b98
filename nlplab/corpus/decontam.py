"""Evaluation sets kept out of a corpus (`--exclude FILE[:FIELD,...]`).

A corpus text is contaminated by an evaluation text when
- their normalized keys are equal (`exact`, at any length), or
- they share a window of n units (`ngram`): n words for English (GPT-3's 13-gram rule),
  n characters of the key for Korean (see nlplab/corpus/config.py, DECONTAM).
Evaluation texts shorter than n have no window and are matched exactly. The evaluation
texts go through the corpus's own cleaning first, so both sides are keyed alike.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nlplab import NlplabError, io
from nlplab.corpus import hashing
from nlplab.corpus.config import split_spec
from nlplab.corpus.read import Fields


@dataclass
class EvalSet:
    spec: str
    path: str
    fields: list
    where: tuple | None = None
    sha256: str = ""
    texts: list = field(default_factory=list)  # cleaned evaluation texts, for the manifest's examples
    exact: dict = field(default_factory=dict)  # key hash -> text index
    grams: np.ndarray = None  # sorted unique window hashes
    owner: np.ndarray = None  # the text each window hash came from
    rows: int = 0
    empty: int = 0  # texts with an empty key: nothing to match
    short: int = 0  # texts shorter than n: matched exactly only

    def summary(self) -> dict:
        return {"file": self.spec, "sha256": self.sha256, "rows": self.rows, "texts": len(self.texts),
                "keys": len(self.exact), "ngrams": int(len(self.grams)), "short_exact_only": self.short,
                "empty": self.empty}


def sha256(*paths: str) -> str:
    """sha256 of a file's bytes (of several files end to end)."""
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def symbols(unit: str, keys: list[str], word_lists: list[list[str]], word_symbols):
    """The symbol stream of many texts: code points of the keys, or word hashes."""
    return hashing.char_symbols(keys) if unit == "char" else word_symbols(word_lists)


def _texts(ev: EvalSet):
    """Every text of the named fields (each field of a pair is a text of its own); counts
    the file's rows in `ev.rows`."""
    try:
        layout = Fields.inspect(ev.path, ev.fields)
        pick = Fields(layout, ev.fields, ev.where, f"--exclude {ev.spec}")
    except NlplabError as e:
        raise NlplabError(f"--exclude {ev.spec}: {e}" if not str(e).startswith("--exclude") else str(e)) from None
    for start, payload, _ in io.read_chunks(layout):
        records, _, n = io.parse_chunk(layout, start, payload)
        ev.rows += n
        for lineno, record, text in records:
            yield from pick(lineno, record, text) or ()


def load(cfg, specs: list[str], cleaner) -> list[EvalSet]:
    """Read and index every --exclude file: one-line errors for files that cannot be read."""
    sets = []
    word_symbols = hashing.WordSymbols()
    for spec in specs:
        path, fields, where = split_spec(spec)
        if not Path(path).is_file():
            raise NlplabError(f"--exclude {spec}: {path}: no such file; check the path")
        ev = EvalSet(spec=spec, path=path, fields=fields, where=where, sha256=sha256(path))
        keys, word_lists = [], []
        for text in _texts(ev):
            cleaned = cleaner(text)
            ws = hashing.words(cleaned)
            k = "".join(ws)
            if not k:
                ev.empty += 1
                continue
            h = hashing.key_hash(k)
            if h in ev.exact:
                continue
            ev.exact[h] = len(ev.texts)
            ev.texts.append(cleaned)
            keys.append(k)
            word_lists.append(ws)
        sym, lengths = symbols(cfg.decontam_unit, keys, word_lists, word_symbols)
        ev.short = int((lengths < cfg.decontam_n).sum())
        grams, owner = hashing.window_hashes(sym, lengths, cfg.decontam_n)
        grams, first = np.unique(grams, return_index=True)
        ev.grams, ev.owner = grams, owner[first].astype(np.int32)
        sets.append(ev)
    return sets


def check(sets: list[EvalSet], hashes: list[int], sym: np.ndarray, lengths: np.ndarray, n: int) -> list:
    """For each corpus text: None, or (set index, "exact"|"ngram", evaluation text index)."""
    found: list = [None] * len(hashes)
    for i, h in enumerate(hashes):
        for s, ev in enumerate(sets):
            j = ev.exact.get(h)
            if j is not None:
                found[i] = (s, "exact", j)
                break
    if not any(len(ev.grams) for ev in sets):
        return found
    grams, owner = hashing.window_hashes(sym, lengths, n)
    for s, ev in enumerate(sets):
        if not len(ev.grams) or not len(grams):
            continue
        pos = np.minimum(np.searchsorted(ev.grams, grams), len(ev.grams) - 1)
        hit = np.flatnonzero(ev.grams[pos] == grams)
        for w in hit:  # few: only contaminated windows
            i = int(owner[w])
            if found[i] is None:
                found[i] = (s, "ngram", int(ev.owner[pos[w]]))
    return found
