"""What a training run records, and its evaluation history.

    log, metrics = open_logs(out, "lm", cfg, d, device, resume_step)
    metrics.write({"split": "train", "step": 10, "loss": 2.3, ...})   # metrics.jsonl, TensorBoard, MLflow
    metrics.close(summary)                                           # MLflow's final numbers; TB closed

    evals = new_evals()                            # saved in the checkpoint as it is
    rec["best"] = improved(evals, score, higher_is_better=True)
    if stop_early(evals, cfg.early_stopping): ...

The files themselves (environment.json, metrics.jsonl, MLflow) are nlplab/runlog.py's.
"""

from __future__ import annotations

from pathlib import Path

from nlplab import dist, runlog
from nlplab.progress import file_logger, null_logger


def tensorboard(folder: Path, log, purge_step: int | None = None):
    """A SummaryWriter into `folder`, or None when the tensorboard package is missing. On
    --resume, purge_step drops the events past the checkpoint (they are logged again)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.info("tensorboard not installed: no TensorBoard events (pip install tensorboard)")
        return None
    return SummaryWriter(str(folder), purge_step=purge_step)


def open_logs(out: Path, kind: str, cfg, d: dist.Dist, device, resume_step: int | None):
    """(train.log's logger, the metrics log). A resumed run appends to train.log and cuts
    metrics.jsonl and the TensorBoard events back to the checkpoint's step: the steps after it
    run again. Only rank 0 writes; the others get loggers that write nowhere."""
    if not d.is_main:
        return null_logger(), runlog.MetricsLog(out, False)
    resumed = resume_step is not None
    earlier = (out / "train.log").read_text(encoding="utf-8") if resumed and (out / "train.log").is_file() else ""
    log = file_logger(out / "train.log", f"nlplab.{kind}")
    if earlier:  # file_logger truncates
        log.handlers[0].stream.write(earlier)
    runlog.write_environment(out, device, d.world, resumed=resumed)
    tracker = runlog.tracker(out, kind, cfg, True, resumed=resumed)
    tb = tensorboard(out / "tb", log, resume_step + 1 if resumed else None)
    return log, runlog.MetricsLog(out, True, resume_step, tracker, tb)


# ---- evaluations: the history, the best score, how many since

def new_evals() -> dict:
    return {"history": [], "best": None, "stale": 0}


def improved(evals: dict, score: float, higher_is_better: bool) -> bool:
    """Whether `score` beats the best so far (the first one does); counts the evaluations
    since the best (stale) for early stopping."""
    best = evals["best"]
    if best is None or (score > best if higher_is_better else score < best):
        evals["best"], evals["stale"] = score, 0
        return True
    evals["stale"] += 1
    return False


def stop_early(evals: dict, patience: int) -> bool:
    return bool(patience) and evals["stale"] >= patience


def best_record(evals: dict) -> dict | None:
    """The history's best evaluation (None before the first)."""
    return next((r for r in reversed(evals["history"]) if r["best"]), None)
