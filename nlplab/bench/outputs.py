"""What a bench writes besides its runs: the majority-class predictions of `bench: majority`
tasks (WNLI), report.html (`nlplab report`'s page of every run, the bench's GLUE table
beside the baselines, the suite's rules) and, for GLUE, submission.zip checked as
`nlplab glue check` checks it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from nlplab import NlplabError
from nlplab.config import write_atomic
from nlplab.glue import metrics, submission
from nlplab.glue.tasks import WNLI_RULE


def majority(tp, plan) -> dict:
    """Predict the majority class of the task's train set for every dev and test split there
    (<ENTRY>.dev.tsv, <ENTRY>.test.tsv and majority.json in its runs/ folder); its bench.json
    record, scored as `nlplab glue score` scores the file."""
    t, src, out = tp.task, plan.source, tp.folder
    t0 = time.perf_counter()
    value = submission.majority(src, t)  # a label string (a regression task: the train mean)
    index = {label: k for k, label in enumerate(t.labels)}
    entries = {}
    for b in t.boards:
        if b.dev and src.has(t, b.dev):
            dev = src.load(t, b.dev)
            submission.write_predictions(submission.pred_path(out, b.name, "dev"), t, dev.ids, [value] * len(dev))
            gold = dev.labels if t.regression else [index[v] for v in dev.labels]
            pred = [value if t.regression else index[value]] * len(dev)
            got = metrics.compute(t.metrics, gold, pred)
            entries[b.name] = {**got, "score": metrics.entry_score(got, t.metrics, t.main), "metrics": list(t.metrics)}
        if b.test and src.has(t, b.test):
            test = src.load(t, b.test)
            submission.write_predictions(submission.pred_path(out, b.name, "test"), t, test.ids, [value] * len(test))
    why = WNLI_RULE if t.name == "WNLI" else "the majority class of its train set"
    write_atomic(out / "majority.json", json.dumps({"task": t.name, "prediction": value, "why": why,
                                                    "entries": entries}, indent=1) + "\n")
    main = next(iter(entries.values()))
    return {"task": t.name, "seed": None, "run": out.relative_to(plan.folder).as_posix(), "how": "majority",
            "init_from": None, "status": "done", "error": None, "entries": entries, "score": main["score"], "steps": 0,
            "train_samples_per_s": None, "wall_s": time.perf_counter() - t0}


def glue_results(s: dict, baselines: list[dict]) -> list[dict]:
    """The columns of the report's GLUE table: the bench's means over seeds, its submitted
    seeds (when there are several), then each baseline on the same entries."""
    from nlplab.bench.results import _mean_entries

    mean = _mean_entries(s["tasks"])
    by_run = {r["run"]: r for r in s["runs"]}
    best = {e: v for a in s["tasks"].values() if a["best"] for e, v in by_run[a["best"]["run"]]["entries"].items()}
    n = len(s["seeds"])
    out = [{"run": f"bench: mean of {n} seeds" if n > 1 else "bench", "path": "", "data": s["data_dir"],
            "entries": mean, **metrics.summarize(mean)}]
    if n > 1:
        out.append({"run": "bench: submitted seeds", "path": "", "data": s["data_dir"], "entries": best,
                    **metrics.summarize(best)})
    for b in baselines:
        entries = {k: v for k, v in b["entries"].items() if k in mean}
        if entries:
            out.append({"run": f"{b.get('run', 'baseline')} (baseline)", "entries": entries, **metrics.summarize(entries)})
    return out


def notes(s: dict) -> list[str]:
    out = [f"Seeds {', '.join(map(str, s['seeds']))}: {s['selection']}.", *s["rules"]]
    out += [f"{k} missing, not run and not filled: {v}" for k, v in s["missing"].items()]
    if s["failed"]:
        out.append(f"failed: {', '.join(s['failed'])} (errors in bench.log); their tasks count the seeds that finished")
    sub = s.get("submission")
    if sub:
        out.append(f"submission.zip: checked by `nlplab glue check`, {len(sub['problems'])} problem(s)"
                   if sub["written"] else f"no submission.zip: {sub['why']}")
        filled = {k: v for k, v in sub.get("origin", {}).items() if not v.endswith(".tsv")}
        if filled:
            out.append("filled in the submission (--fill-missing majority): "
                       + ", ".join(f"{k} ({v})" for k, v in filled.items()))
    return out


def report(s: dict, folder: Path, title: str) -> None:
    """report.html: `nlplab report`'s page of the finished runs, the bench's table beside the
    baselines of benchmarks/results/glue_baselines.json (when the checkout has it)."""
    from nlplab.report import BASELINES, page, runs

    items = runs.load_all([folder / r["run"] for r in s["runs"] if r["status"] == "done" and r["how"] == "finetune"])
    baselines = runs.load_baselines(BASELINES) if BASELINES.is_file() else []
    html = page.render(title, items, glue_results(s, baselines), notes=notes(s))
    write_atomic(folder / "report.html", html)


def submit(plan, s: dict, folder: Path) -> dict | None:
    """GLUE: submission.zip from each task's submitted run (and the majority tasks' folders),
    checked; None for other suites. Without every entry and without --fill-missing there is
    no zip (an older one is removed, so a zip in DIR is always this bench's)."""
    if plan.cfg.suite != "glue":
        return None
    out = folder / "submission.zip"
    dirs = [str(folder / a["best"]["run"]) for a in s["tasks"].values() if a["best"]]
    try:
        origin = submission.submit(dirs, str(out), plan.source, plan.cfg.fill_missing)
    except NlplabError as e:
        out.unlink(missing_ok=True)
        return {"path": None, "written": False, "why": str(e), "origin": {}, "problems": []}
    shown = {k: (Path(v).relative_to(folder).as_posix() if v.endswith(".tsv") else v) for k, v in origin.items()}
    return {"path": out.name, "written": True, "why": None, "origin": shown,
            "problems": submission.check(str(out), plan.source)}
