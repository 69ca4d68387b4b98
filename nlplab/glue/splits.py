"""`Split`, the rows of one split as every reader returns them, and the arithmetic for
tasks whose files are not one file per split: several train files (KorNLI), no dev file
(NSMC, IMDB: a fixed held-out part of train), rows sorted by label (IMDB).

    python -c "from nlplab.glue import Glue; print(len(Glue('../shared/data').load('imdb', 'dev')))"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Split:
    task: str
    name: str
    ids: list[str]
    texts_a: list[str]
    texts_b: list[str] | None  # None for single-sentence tasks
    labels: list | None  # label strings (classification) or floats (regression); None: unlabelled
    source: str = ""  # file or hub dataset it came from
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, reason) of malformed rows

    def __len__(self) -> int:
        return len(self.ids)


def concat(parts: list[Split]) -> Split:
    """Several files as one split (KorNLI's MNLI + SNLI train). Row-number ids would repeat,
    so they become `<file stem>:<row>`."""
    out = Split(parts[0].task, parts[0].name, [], [], [] if parts[0].texts_b is not None else None,
                [] if parts[0].labels is not None else None, " + ".join(p.source for p in parts))
    for p in parts:
        out.ids += [f"{Path(p.source).name}:{i}" for i in p.ids]
        out.texts_a += p.texts_a
        if out.texts_b is not None:
            out.texts_b += p.texts_b
        if out.labels is not None:
            out.labels += p.labels
        out.skipped += p.skipped
    return out


def held_out(full: Split, t) -> tuple[Split, Split]:
    """(train, dev) of a task without a dev file: ("last", N) holds out the last N rows
    (NSMC), ("every", N) every N-th row from the first (IMDB). ids stay the file's."""
    kind, n = t.holdout
    if kind == "last":
        dev = [i >= len(full) - n for i in range(len(full))]
    else:
        dev = [i % n == 0 for i in range(len(full))]

    def part(keep: bool, name: str) -> Split:
        rows = [i for i, d in enumerate(dev) if d == keep]
        pick = lambda xs: [xs[i] for i in rows] if xs is not None else None  # noqa: E731
        return Split(full.task, name, pick(full.ids), pick(full.texts_a), pick(full.texts_b), pick(full.labels),
                     f"{full.source} ({'dev' if keep else 'train: all but dev'}: {'the last' if kind == 'last' else 'every'} "
                     f"{n:,}{'' if kind == 'last' else 'th'} row{'s' if kind == 'last' else ''})", full.skipped)

    return part(False, "train"), part(True, "dev")


def shuffled(split: Split, t) -> Split:
    """The rows in a fixed random order (seed `t.shuffle`) for a file sorted by label (IMDB):
    the first N rows (--max-train-samples, --max-eval-samples) are then a sample, not one
    class. ids stay the file's, so predictions are keyed the same; None: file order."""
    if t.shuffle is None:
        return split
    rows = np.random.default_rng([t.shuffle, len(split)]).permutation(len(split)).tolist()
    pick = lambda xs: [xs[i] for i in rows] if xs is not None else None  # noqa: E731
    return Split(split.task, split.name, pick(split.ids), pick(split.texts_a), pick(split.texts_b), pick(split.labels),
                 split.source, split.skipped)
