"""Baselines that write dev and test predictions for every task found, so reports always
have a floor to compare with.

    nlplab glue baseline --kind majority --data-dir glue_data -o runs/majority
    nlplab glue baseline --kind tfidf-logreg --data-dir glue_data -o runs/tfidf
    nlplab glue baseline --kind tfidf-char --data-dir glue_data -o runs/tfidf-char --tasks sst2,cola

majority: the most frequent train label (STS-B: the train mean) for every example.
tfidf-logreg: scikit-learn TfidfVectorizer (word 1-2-grams, sublinear tf) on the text, or on
both texts joined with " ||| " for pair tasks, then LogisticRegression (Ridge for STS-B).
tfidf-char: the same, over character 1-4-grams within word boundaries (`char_wb`): the
n-gram baseline that is hard to beat on Korean (NSMC), and robust to spelling on English.
The two tf-idf kinds differ only in their vectorizer (VECTORIZERS).
AX is predicted with the MNLI model, as on the leaderboard. scikit-learn is an optional
dependency (`pip install "nlplab[baselines]"`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from nlplab import NlplabError
from nlplab.config import write_atomic
from nlplab.glue.data import Split
from nlplab.glue.submission import majority, pred_path, write_predictions
from nlplab.glue.tasks import Task, select

SEP = " ||| "  # joins a pair into one text; every pair has it, so it carries no signal of its own


def _texts(split: Split) -> list[str]:
    if split.texts_b is None:
        return split.texts_a
    return [a + SEP + b for a, b in zip(split.texts_a, split.texts_b)]


def _sklearn(kind: str = "tfidf-logreg"):
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression, Ridge
    except ImportError:
        raise NlplabError(f"the {kind} baseline needs scikit-learn: pip install scikit-learn "
                          "(or pip install 'nlplab[baselines]')") from None
    return TfidfVectorizer, LogisticRegression, Ridge


def word_vectorizer(n_train: int):
    """Word 1-2-grams. min_df=2 drops n-grams seen once (noise on GLUE-sized sets); a tiny
    set (under 1,000 rows) keeps them all."""
    TfidfVectorizer = _sklearn("tfidf-logreg")[0]
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2 if n_train >= 1000 else 1,
                           dtype=np.float32)


def char_vectorizer(n_train: int):
    """Character 1-4-grams inside word boundaries (char_wb pads each word with a space).

    min_df as the word baseline's (2; 1 under 1,000 rows): an n-gram seen once is a typo or
    a rare name. Measured on SST-2 train (67,349 phrases, 2 cores, scikit-learn 1.9):
    min_df=1 keeps 29,468 n-grams, dev acc 79.93; min_df=2 keeps 28,777, dev acc 80.62 (3: the
    same 80.62). max_features=200,000 is a bound, not a knob: SST-2 (28,777), MRPC (26,078)
    and CoLA (14,195) stay far below it, so it changes nothing there; it caps the vocabulary
    (and the weights) where rare 4-grams abound: Hangul syllable 4-grams, noisy QQP. The cost
    is the number of nonzeros, not the vocabulary: SST-2 train is 9.0M nonzeros (69 MB sparse
    float32), ~7 s to vectorize and ~18 s with the logistic regression, 470 MB peak RSS."""
    TfidfVectorizer = _sklearn("tfidf-char")[0]
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True,
                           min_df=2 if n_train >= 1000 else 1, max_features=200_000, dtype=np.float32)


# kind -> its vectorizer; everything after the vectorizer (model, pairs, clipping) is shared
VECTORIZERS = {"tfidf-logreg": word_vectorizer, "tfidf-char": char_vectorizer}
KINDS = ("majority", *VECTORIZERS)


class Majority:
    def fit(self, t: Task, source):
        self.value = majority(source, t)
        return self

    def predict(self, split: Split) -> list:
        return [self.value] * len(split)


class Tfidf:
    """tf-idf features (the kind's vectorizer), then LogisticRegression, or Ridge for regression."""

    def __init__(self, kind: str = "tfidf-logreg", seed: int = 0):
        self.kind, self.seed = kind, seed

    def fit(self, t: Task, source):
        _, LogisticRegression, Ridge = _sklearn(self.kind)
        train = source.load(t.train_from or t.name, "train")
        self.task = t
        self.vectorizer = VECTORIZERS[self.kind](len(train))
        try:
            x = self.vectorizer.fit_transform(_texts(train))
        except ValueError as e:  # "empty vocabulary": no word of 2+ characters (no character) in any text
            raise NlplabError(f"{train.source}: tf-idf ({self.kind}) found no terms in the train texts ({e})") from None
        if t.regression:
            self.model = Ridge(alpha=1.0).fit(x, np.asarray(train.labels, dtype=np.float64))
            return self
        y = np.array([t.labels.index(v) for v in train.labels])
        if len(set(y.tolist())) < 2:  # one class: nothing to learn, predict it
            self.model, self.only = None, int(y[0])
            return self
        self.model = LogisticRegression(max_iter=1000, random_state=self.seed).fit(x, y)
        return self

    def predict(self, split: Split) -> list:
        if self.model is None:
            return [self.only] * len(split)
        out = self.model.predict(self.vectorizer.transform(_texts(split)))
        if self.task.regression:
            return np.clip(out, 0.0, 5.0).tolist()  # STS-B scores live in [0, 5]
        return [int(k) for k in out]


def run(kind: str, source, output: str | Path, tasks: list[str] | None = None, suite: str | None = None) -> dict:
    """Fit on each task's train split, write `<output>/<ENTRY>.{dev,test}.tsv` and a
    `baseline.json` describing the run. Returns that description."""
    if kind not in KINDS:
        raise NlplabError(f"unknown baseline {kind!r}; choose {', '.join(KINDS)}")
    found = select(source.tasks(), tasks, source, suite)
    if not found:
        raise NlplabError(f"no task with a train file in {source}; --data-dir is the folder holding CoLA/, SST-2/, ...")
    if kind in VECTORIZERS:
        _sklearn(kind)  # fail before any work
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    models: dict[str, object] = {}
    info = {"kind": kind, "data": str(source), "tasks": {}}
    for t in found:
        start = time.perf_counter()
        base = t.train_from or t.name
        if base not in models:  # AX reuses MNLI's model
            models[base] = (Majority() if kind == "majority" else Tfidf(kind)).fit(source.task(base), source)
        model = models[base]
        written = []
        for b in t.boards:
            for split_kind, split in (("dev", b.dev), ("test", b.test)):
                if split is None or not source.has(t, split):
                    continue
                data = source.load(t, split)
                write_predictions(pred_path(output, b.name, split_kind), t, data.ids, model.predict(data))
                written.append(f"{b.name}.{split_kind}.tsv")
        info["tasks"][t.name] = {"files": written, "seconds": round(time.perf_counter() - start, 2)}
        print(f"{t.name}: {', '.join(written)} ({info['tasks'][t.name]['seconds']:.1f}s)", file=sys.stderr)
    write_atomic(output / "baseline.json", json.dumps(info, indent=1) + "\n")
    return info
