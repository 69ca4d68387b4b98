"""GLUE metrics in numpy, and how they add up to a task score and the GLUE score.

    python -c "from nlplab.glue.metrics import mcc; print(mcc([0, 1, 1], [0, 1, 0]))"

Per task (Wang et al. 2019, GLUE, Table 1):
  CoLA                                Matthews correlation (MCC)
  SST-2, QNLI, RTE, WNLI, MNLI-m/-mm  accuracy
  MRPC, QQP                           F1 (positive class 1: paraphrase/duplicate) and accuracy
  STS-B                               Pearson and Spearman correlation
  AX (diagnostic)                     R3 = MCC over the three NLI classes

Korean tasks (and IMDB) score by one main metric (Task.main; else the mean of theirs):
  NSMC, KorNLI, KLUE-NLI, IMDB        accuracy
  KorSTS                              Spearman (and Pearson), as KoBERT/KoELECTRA report it
  KLUE-STS                            Pearson (and F1 of score >= 3.0, KLUE's binary label)
  KorHate                             macro-F1 over none/offensive/hate (and accuracy)
The Korean score is the mean over the Korean tasks present (IMDB, English, is not in it).

Score of a leaderboard entry = mean of its metrics (MRPC: (F1 + acc) / 2, STS-B:
(Pearson + Spearman) / 2). MNLI-m and MNLI-mm are averaged into one MNLI entry; the GLUE
score is then the plain mean of the 9 tasks CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI,
RTE, WNLI, as on the leaderboard. AX is reported apart and never enters the score.
Values are fractions (0.5092); tables show them x100 like the leaderboard.

Degenerate inputs: MCC is 0 when either side holds a single class (as scikit-learn);
Pearson/Spearman are 0 when either side is constant (scipy gives nan there): a constant
baseline then scores 0 instead of poisoning the average with nan. F1 with no positive
prediction and no positive label is 0 (scikit-learn's zero_division default).
"""

from __future__ import annotations

import numpy as np

from nlplab.glue.tasks import ENTRIES, KO_TASKS, SCORED_TASKS


def accuracy(y_true, y_pred) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_true == y_pred)) if len(y_true) else 0.0


def f1(y_true, y_pred, positive=1) -> float:
    t, p = np.asarray(y_true) == positive, np.asarray(y_pred) == positive
    tp = np.sum(t & p)
    denom = 2 * tp + np.sum(~t & p) + np.sum(t & ~p)
    return float(2 * tp / denom) if denom else 0.0


def macro_f1(y_true, y_pred) -> float:
    """The unweighted mean of each class's F1, over the classes in either side (scikit-learn's
    f1_score(average="macro"))."""
    classes = np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)]))
    return float(np.mean([f1(y_true, y_pred, c) for c in classes])) if len(classes) else 0.0


def f1_3(y_true, y_pred) -> float:
    """KLUE-STS's F1: a pair is a paraphrase when its score is >= 3.0, gold and prediction alike."""
    return f1(np.asarray(y_true, dtype=np.float64) >= 3.0, np.asarray(y_pred, dtype=np.float64) >= 3.0, True)


def mcc(y_true, y_pred) -> float:
    """Multi-class Matthews correlation (Gorodkin 2004), the formula scikit-learn uses;
    binary MCC for two classes."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    classes, inv = np.unique(np.concatenate([y_true, y_pred]), return_inverse=True)
    k, n = len(classes), len(y_true)
    cm = np.bincount(inv[:n] * k + inv[n:], minlength=k * k).reshape(k, k).astype(np.float64)  # (true, pred)
    t, p = cm.sum(axis=1), cm.sum(axis=0)
    c, s = np.trace(cm), cm.sum()
    cov_tp = c * s - t @ p
    cov_pp = s * s - p @ p
    cov_tt = s * s - t @ t
    if cov_pp * cov_tt == 0:
        return 0.0
    return float(cov_tp / np.sqrt(cov_tt * cov_pp))


def pearson(x, y) -> float:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2:
        return 0.0
    xm, ym = x - x.mean(), y - y.mean()
    denom = np.sqrt(np.sum(xm * xm) * np.sum(ym * ym))
    if denom == 0 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(np.clip(np.sum(xm * ym) / denom, -1.0, 1.0))


def rankdata(x) -> np.ndarray:
    """Ranks from 1, ties get their average rank (scipy.stats.rankdata 'average')."""
    x = np.asarray(x)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    new = np.r_[True, xs[1:] != xs[:-1]]  # first position of each run of equal values
    dense = np.cumsum(new)  # (n,) run number, from 1
    bounds = np.r_[np.nonzero(new)[0], len(x)]  # run starts, then n
    ranks = np.empty(len(x))
    ranks[order] = 0.5 * (bounds[dense] + bounds[dense - 1] + 1)
    return ranks


def spearman(x, y) -> float:
    return pearson(rankdata(x), rankdata(y))


METRICS = {"mcc": mcc, "accuracy": accuracy, "f1": f1, "pearson": pearson, "spearman": spearman,
           "macro_f1": macro_f1, "f1_3": f1_3}
SHORT = {"mcc": "MCC", "accuracy": "acc", "f1": "F1", "pearson": "Pearson", "spearman": "Spearman",
         "macro_f1": "macro-F1", "f1_3": "F1"}


def compute(metrics: tuple[str, ...], y_true, y_pred) -> dict[str, float]:
    """The task's metrics on class ids (classification) or floats (regression)."""
    return {m: METRICS[m](y_true, y_pred) for m in metrics}


def entry_score(values: dict[str, float], metrics: tuple[str, ...], main: str | None = None) -> float:
    """The task's main metric where it has one (Korean tasks), else the mean of its metrics (GLUE)."""
    return float(values[main]) if main else float(np.mean([values[m] for m in metrics]))


def summarize(entries: dict[str, dict]) -> dict:
    """From scored leaderboard entries ({"MNLI-m": {"accuracy": .., "score": ..}, ...}) to
    task scores, the GLUE score (None unless all 9 tasks are there), the Korean score (the
    mean of the Korean tasks present; None without any) and the mean of the tasks present
    (labelled partial in tables)."""
    tasks: dict[str, list[float]] = {}
    for name, values in entries.items():
        task_name = ENTRIES[name][0].name if name in ENTRIES else name
        tasks.setdefault(task_name, []).append(values["score"])
    task_scores = {t: float(np.mean(v)) for t, v in tasks.items()}  # MNLI: mean of -m and -mm
    if "MNLI" in task_scores and len(tasks["MNLI"]) < 2:
        task_scores.pop("MNLI")  # half of MNLI is not MNLI
    scored = [t for t in SCORED_TASKS if t in task_scores]
    others = [t for t in task_scores if t not in SCORED_TASKS and t != "AX"]
    mean_of = scored + others
    korean = [t for t in KO_TASKS if t in task_scores]
    return {
        "tasks": task_scores,
        "korean": float(np.mean([task_scores[t] for t in korean])) if korean else None,
        "korean_tasks": korean,
        "glue": float(np.mean([task_scores[t] for t in SCORED_TASKS])) if len(scored) == len(SCORED_TASKS) else None,
        "average": float(np.mean([task_scores[t] for t in mean_of])) if mean_of else None,
        "averaged_tasks": mean_of,
    }
