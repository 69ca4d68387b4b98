"""The report's figures as PNG data URIs (embedded in the page: it opens with no server).

matplotlib's object API (Figure + Agg) instead of pyplot: no global backend switch and no
figure registry left behind in a notebook that calls the report. The PNG's "Software"
text chunk (which names matplotlib's web site) is dropped: the page holds no URL at all.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

from nlplab.glue import metrics
from nlplab.report.runs import Run, percent

DPI = 80
SKIP = {"split", "step", "epoch", "best", "score", "lr", "loss", "samples_per_s", "tokens_per_s"}


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes (also `nlplab corpus stats`'s lengths.png)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def png(fig: Figure) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(fig)).decode("ascii")


def _series(records: list[dict], split: str, key: str) -> tuple[list, list]:
    rows = [r for r in records if r.get("split") == split and r.get(key) is not None]
    return [r["step"] for r in rows], [r[key] for r in rows]


def _empty(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} recorded", ha="center", va="center", transform=ax.transAxes, color="#888")


def _label_single(ax, steps: list, values: list) -> None:
    """A series of one evaluation is one dot: write its value beside it."""
    if len(steps) == 1:
        ax.annotate(f"{values[0]:.4g}", (steps[0], values[0]), textcoords="offset points", xytext=(6, 4), fontsize=9)


def lr_series(run: Run) -> tuple[list, list, bool]:
    """(steps, learning rates, whether step 0 was added): the logged rates, from step 0. The
    first is logged at --log-every, maybe after the warm-up; step 0's rate is the config's:
    0 where the run warms up (--warmup-steps or --warmup-ratio: every schedule but plateau
    ramps up from 0 to --lr), else --lr itself."""
    steps, lrs = _series(run.records, "train", "lr")
    c = run.config
    if not steps or steps[0] == 0 or c.get("lr") is None:
        return steps, lrs, False
    warms_up = bool(c.get("warmup_steps") or c.get("warmup_ratio")) and c.get("scheduler") != "plateau"
    return [0, *steps], [0.0 if warms_up else float(c["lr"]), *lrs], True


def curves(run: Run) -> str:
    """Train loss, the dev metrics (finetune) or perplexities (lm), and the learning rate, against step."""
    return png(curves_figure(run))


def curves_figure(run: Run) -> Figure:
    fig = Figure(figsize=(13, 3.2))
    ax_loss, ax_eval, ax_lr = fig.subplots(1, 3)
    steps, loss = _series(run.records, "train", "loss")
    ax_loss.plot(steps, loss, marker="." if len(steps) < 30 else None, color="C0")
    ax_loss.set(title="train loss", xlabel="step")
    if not steps:
        _empty(ax_loss, "train loss")
    if run.kind == "lm":  # ELMo's two directions and their mean; the train curve is the mean
        s, v = _series(run.records, "train", "mean_ppl")
        ax_eval.plot(s, v, color="#bbb", label="train mean")
        for key, style in (("forward_ppl", "--"), ("backward_ppl", ":"), ("mean_ppl", "-")):
            s, v = _series(run.records, "valid", key)
            ax_eval.plot(s, v, style, marker="o", ms=3, label=f"valid {key.split('_')[0]}")
            if key == "mean_ppl":
                _label_single(ax_eval, s, v)
        ax_eval.set(title="perplexity", xlabel="step", yscale="log")
        ax_eval.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))  # 50, 100, 200, 500: plain numbers
        ax_eval.yaxis.set_major_formatter(ScalarFormatter())
        ax_eval.yaxis.set_minor_formatter(NullFormatter())
    elif run.kind == "pretrain":  # masked-token accuracy; ELECTRA's replaced-token accuracy and AUC
        for key in ("mlm_accuracy", "disc_accuracy", "disc_auc"):
            s, v = _series(run.records, "valid", key)
            if s:
                ax_eval.plot(s, [100 * x for x in v], marker="o", ms=3, label=f"valid {key.replace('_', ' ')}")
                _label_single(ax_eval, s, [100 * x for x in v])
        ax_eval.set(title="valid (x100)", xlabel="step")
    else:
        splits = sorted({r["split"] for r in run.records if r.get("split") != "train"})
        for split in splits:
            keys = [k for r in run.records if r.get("split") == split for k in r if k not in SKIP]
            for key in dict.fromkeys(keys):
                s, v = _series(run.records, split, key)
                scale = 100 if percent(key) else 1
                ax_eval.plot(s, [scale * x for x in v], marker="o", ms=3, label=f"{split} {metrics.SHORT.get(key, key)}")
                _label_single(ax_eval, s, [scale * x for x in v])
        ax_eval.set(title="dev metrics (x100)", xlabel="step")
    if ax_eval.lines:
        ax_eval.legend(fontsize=8)
    else:
        _empty(ax_eval, "evaluation")
    s, v, added = lr_series(run)
    if added:  # step 0 to the first logged rate: dashed, as it was not logged
        ax_lr.plot(s[:2], v[:2], "--", color="C2", alpha=0.6, label="step 0 from the config (not logged)")
        ax_lr.legend(fontsize=8)
    ax_lr.plot(s[added:], v[added:], color="C2")
    ax_lr.set(title="learning rate", xlabel="step")
    ax_lr.set_xlim(left=0)
    ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    if not s:
        _empty(ax_lr, "learning rate")
    return fig


def confusion(matrix: np.ndarray, names: list[str], title: str) -> str:
    """Counts, gold labels down the side and predictions along the top."""
    k = len(names)
    fig = Figure(figsize=(1.2 + 0.8 * k, 1.0 + 0.7 * k))
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(k), names, rotation=30, ha="right")
    ax.set_yticks(range(k), names)
    ax.set(xlabel="predicted", ylabel="gold", title=title)
    top = matrix.max() or 1
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center",
                    color="white" if matrix[i, j] > top / 2 else "black")
    return png(fig)


def scatter(gold: list[float], pred: list[float], title: str) -> str:
    """STS-B-style regression: prediction against gold, with Pearson/Spearman in the title."""
    r, rho = metrics.pearson(gold, pred), metrics.spearman(gold, pred)
    fig = Figure(figsize=(4.2, 4))
    ax = fig.subplots()
    ax.scatter(gold, pred, s=10, alpha=0.6)
    lo, hi = min(min(gold), min(pred)), max(max(gold), max(pred))
    ax.plot([lo, hi], [lo, hi], color="#999", lw=1)  # the diagonal: perfect predictions
    ax.set(xlabel="gold", ylabel="predicted", title=f"{title}\nPearson {100 * r:.1f}, Spearman {100 * rho:.1f}")
    return png(fig)


def throughput(rows: list[tuple[str, float, str]]) -> str:
    """One bar per run; samples/s and tokens/s in panels of their own (not comparable)."""
    units = list(dict.fromkeys(u for _, _, u in rows))
    fig = Figure(figsize=(6 * len(units), 0.8 + 0.35 * max(len(rows), 2)))
    axes = np.atleast_1d(fig.subplots(1, len(units)))
    for ax, unit in zip(axes, units):
        mine = [(n, v) for n, v, u in rows if u == unit]
        ax.barh([n for n, _ in mine], [v for _, v in mine], color="C1")
        ax.invert_yaxis()  # the first run on top, as in the tables
        ax.set(xlabel=unit, title=f"training throughput ({unit})")
        for i, (_, v) in enumerate(mine):
            ax.text(v, i, f" {v:,.0f}", va="center", fontsize=8)
    return png(fig)


def sweep(configs: list[dict], labels: list[str], metric: str) -> str:
    """Mean ± std over seeds per configuration; the best one in another color."""
    scale = 100 if percent(metric) else 1
    fig = Figure(figsize=(7, 0.8 + 0.35 * max(len(configs), 2)))
    ax = fig.subplots()
    for i, c in enumerate(configs):
        ax.errorbar([scale * c["mean"]], [i], xerr=[scale * (c.get("std") or 0)], fmt="o", capsize=3,
                    color="C3" if c.get("best") else "C0")
    ax.set_yticks(range(len(configs)), labels)
    ax.margins(x=0.15, y=0.3)  # error bars clear of the frame
    ax.invert_yaxis()
    ax.set(xlabel=f"{metric}{' (x100)' if scale == 100 else ''}: mean ± std over seeds")
    return png(fig)
