"""A bench's results: one record per run (from the run's own metrics.json), mean ± std per
task over seeds, the seed that goes into the submission, the suite score, bench.json,
bench.tsv and the printed table.

bench.json:
    {"kind": "bench", "suite", "model", "data_dir", "seeds", "config": {BenchConfig},
     "runs": [{"task", "seed", "run", "how", "init_from", "status": "done"|"failed", "error",
               "entries": {ENTRY: {metric: value, "score", "metrics"}}, "score", "steps",
               "train_samples_per_s", "wall_s"}],
     "tasks": {TASK: {"how", "status", "why", "seeds", "n", "runs", "failed",
                      "entries": {ENTRY: {metric: {"mean", "std", "values"}}}, "score": {"mean", "std"},
                      "best": {"seed", "run", "score"}}},
     "score": metrics.summarize of the means over seeds (GLUE score with MNLI-m/-mm averaged,
              the Korean score, the mean of the tasks present),
     "submitted_score": the same of the submitted (best-on-dev) seeds,
     "selection", "rules", "missing": {TASK: why}, "failed": [runs], "submission", "report"}
Metric values are fractions, as in metrics.json; tables show them x100.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from nlplab.glue import metrics
from nlplab.glue.tasks import WNLI_RULE

SELECTION = ("mean ± sample std over the seeds that finished; each task's submitted run (submission.zip, "
             "the report's 'submitted' column) is its seed with the best main dev score (the first seed on a tie)")


def entries_of(t, splits: dict) -> dict:
    """A run's best dev scores as leaderboard entries (MNLI: MNLI-m and MNLI-mm)."""
    return {b.name: {**{m: splits[b.dev][m] for m in t.metrics}, "score": splits[b.dev]["score"],
                     "metrics": list(t.metrics)} for b in t.boards if b.dev and b.dev in splits}


def record(tp, job, folder: Path, error: str | None) -> tuple[dict, str | None]:
    """A fine-tuning run's entry in bench.json, every number from its own metrics.json."""
    run = Path(job.cfg.output)
    r = {"task": tp.task.name, "seed": job.cfg.seed, "run": run.relative_to(folder).as_posix(), "how": "finetune",
         "init_from": f"runs/{job.after}" if job.after else None, "status": "failed", "error": error, "entries": {},
         "score": None, "steps": None, "train_samples_per_s": None, "wall_s": None}
    if error is None:
        try:
            m = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
            splits = m["best"]["splits"]
            r.update(status="done", entries=entries_of(tp.task, splits), score=float(splits[m["main"]]["score"]),
                     steps=m["steps"], train_samples_per_s=float(m["samples_per_s"]), wall_s=float(m["seconds"]))
        except (OSError, KeyError, TypeError, ValueError) as e:
            error = f"{run / 'metrics.json'}: no result ({type(e).__name__}: {e})"
            r["error"] = error
    return r, error


def _stats(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values}


def aggregate(tp, records: list[dict]) -> dict:
    """One task over its seeds: mean ± std of every metric of every entry, and the best seed."""
    done = sorted((r for r in records if r["status"] == "done"), key=lambda r: (r["seed"] is None, r["seed"] or 0))
    out = {"how": tp.how, "status": "done" if done else "failed" if records else tp.how, "why": tp.why,
           "seeds": [r["seed"] for r in done if r["seed"] is not None], "n": len(done), "runs": [r["run"] for r in records],
           "failed": [r["run"] for r in records if r["status"] != "done"], "entries": {}, "score": None, "best": None}
    if tp.how == "majority" and done:
        out["why"] = WNLI_RULE if tp.task.name == "WNLI" else "the majority class of its train set"
    if not done:
        return out
    for entry, first in done[0]["entries"].items():
        out["entries"][entry] = {m: _stats([r["entries"][entry][m] for r in done]) for m in (*first["metrics"], "score")}
        out["entries"][entry]["metrics"] = first["metrics"]
    out["score"] = _stats([r["score"] for r in done])
    best = max(done, key=lambda r: r["score"])  # max keeps the first of equals: the lowest seed
    out["best"] = {"seed": best["seed"], "run": best["run"], "score": best["score"]}
    return out


def _mean_entries(tasks: dict) -> dict:
    return {e: {**{m: v[m]["mean"] for m in (*v["metrics"], "score")}, "metrics": v["metrics"]}
            for a in tasks.values() for e, v in a["entries"].items()}


def summary(plan, records: list[dict], extra: dict | None = None) -> dict:
    """bench.json's object from the run records (any order; partial while the bench runs)."""
    tasks = {}
    for tp in plan.tasks:
        tasks[tp.task.name] = aggregate(tp, [r for r in records if r["task"] == tp.task.name])
    by_run = {r["run"]: r for r in records}
    best = {e: v for a in tasks.values() if a["best"] for e, v in by_run[a["best"]["run"]]["entries"].items()}
    cfg = plan.cfg
    order = {tp.task.name: i for i, tp in enumerate(plan.tasks)}  # suite order, then seeds
    runs = sorted(records, key=lambda r: (order[r["task"]], r["seed"] or 0))
    return {"kind": "bench", "suite": cfg.suite, "model": cfg.model, "data_dir": cfg.data_dir, "seeds": plan.seeds,
            "config": {k: v for k, v in vars(cfg).items()}, "runs": runs, "tasks": tasks,
            "score": metrics.summarize(_mean_entries(tasks)), "submitted_score": metrics.summarize(best),
            "selection": SELECTION, "rules": rules(plan),
            "missing": {n: a["why"] for n, a in tasks.items() if a["how"] == "missing"},
            "failed": [r["run"] for r in runs if r["status"] != "done"], **(extra or {})}


def rules(plan) -> list[str]:
    """The suite's rules this bench applied, in words (bench.json, the report)."""
    out = []
    for tp in plan.tasks:
        t = tp.task
        if tp.how == "majority":
            out.append(WNLI_RULE if t.name == "WNLI" else f"{t.name} predicts the majority class of its train set")
        elif tp.how == "predicted":
            out.append(f"{t.name} (test only) is predicted by the {t.train_from} runs' model: the submitted "
                       f"{t.train_from} seed's predictions")
        elif tp.init_from:
            out.append(f"{t.name} starts from the {tp.init_from} run of the same seed (its --config asks init_from: "
                       f"{tp.init_from}), not from --model")
    return out


def _cell(v) -> str:
    return "" if v is None else repr(v) if isinstance(v, float) else str(v)


def tsv(s: dict) -> str:
    """One row per run and leaderboard entry (MNLI: two per seed): raw metric values."""
    names = list(dict.fromkeys(m for r in s["runs"] for e in r["entries"].values() for m in e["metrics"]))
    head = ["task", "entry", "seed", "status", "how", *names, "score", "train_samples_per_s", "wall_s", "run", "error"]
    rows = []
    for r in s["runs"]:
        for entry, e in (r["entries"] or {"": {}}).items():
            rows.append([r["task"], entry, _cell(r["seed"]), r["status"], r["how"], *(_cell(e.get(m)) for m in names),
                         _cell(e.get("score")), _cell(r["train_samples_per_s"]), _cell(r["wall_s"]), r["run"],
                         (r["error"] or "").replace("\t", " ").replace("\n", " ")])
    return "".join("\t".join(row) + "\n" for row in [head, *rows])


def _x100(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def table(s: dict) -> str:
    """The bench as a markdown table: one row per entry and metric, mean ± std x100 over the
    seeds, the submitted seed's value and every seed's; then the suite score and what is
    missing or failed."""
    lines = ["| task (dev metric) | mean ± std | seeds | submitted | per seed |", "|---|---|---|---|---|"]
    for a in s["tasks"].values():
        for entry, v in a["entries"].items():
            best = a["best"]
            chosen = next(r for r in s["runs"] if r["run"] == best["run"])["entries"][entry]
            seed = "" if best["seed"] is None else f" (seed {best['seed']})"
            how = " (majority class)" if a["how"] == "majority" else ""
            for m in v["metrics"]:
                x = v[m]
                lines.append(f"| {entry} {metrics.SHORT.get(m, m)}{how} | {_x100(x['mean'])} ± {_x100(x['std'])} | "
                             f"{a['n']} | {_x100(chosen[m])}{seed} | {', '.join(_x100(y) for y in x['values'])} |")
    for label, score in (("mean over seeds", s["score"]), ("submitted seeds", s["submitted_score"])):
        if score.get("glue") is not None:
            lines.append(f"| GLUE score, {label} | {_x100(score['glue'])} | | | |")
        elif score.get("average") is not None and s["suite"] != "ko":
            lines.append(f"| average of {len(score['averaged_tasks'])} task(s) present, {label} (not the GLUE "
                         f"score: it needs all 9) | {_x100(score['average'])} | | | |")
        if score.get("korean") is not None:
            lines.append(f"| Korean score ({len(score['korean_tasks'])} task(s)), {label} | {_x100(score['korean'])} "
                         f"| | | |")
    if s["missing"]:
        lines.append("missing (not run, never filled silently): " + "; ".join(f"{k}: {v}" for k, v in s["missing"].items()))
    if s["failed"]:
        lines.append(f"failed: {', '.join(s['failed'])} (errors in bench.log)")
    return "\n".join(lines)
