"""`nlplab bench`: the parser and the plain function it calls.

    nlplab bench glue --model minilm --data-dir ../shared/data/glue -o runs/bench-glue --seeds 1,2,3
    nlplab bench ko --model scratch --tokenizer out/ko-8k --data-dir ../shared/data -o runs/bench-ko
    nlplab bench glue ... --dry-run       # tasks, presets, data found or missing, runs; nothing runs
    nlplab bench glue ... --resume        # after Ctrl-C or failures: finished runs are skipped

Everything that can be wrong (suite, tasks, data, --config, model, --seeds, --gpus) fails
before the first run. DIR ends up with bench.yaml (this config) and bench.config.yaml (the
--config file as given), bench.log, runs/<TASK>[-s<SEED>] (one `nlplab finetune` run folder
per task and seed; runs/WNLI: majority-class predictions), bench.json and bench.tsv
(results.py), report.html and, for GLUE, submission.zip.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import time
from pathlib import Path

import yaml

from nlplab import NlplabError, config, io
from nlplab.bench.config import BenchConfig

FREE = ("resume", "dry_run", "gpus", "cpu_workers", "fill_missing", "output", "config")  # may change on --resume


def add_commands(sub):
    p = sub.add_parser("bench", help="fine-tune a model on every task of a suite (GLUE, Korean): scores, report, "
                                     "checked submission zip",
                       description="Run `nlplab finetune` on every task of a suite found in --data-dir, once per "
                                   "seed, one after another or one per GPU; then the suite score, report.html and, "
                                   "for GLUE, a checked submission.zip.")
    config.add_arguments(p, BenchConfig, positional=("suite",))
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show each in-process run's progress bar (default: when stderr is a terminal)")
    p.set_defaults(func=cmd_bench)


def prepare(folder: Path, cfg: BenchConfig, text: str) -> None:
    """A new bench never mixes with an old one; a resumed one must be the same bench (suite,
    model, data, tasks, seeds, --config file), or its runs would stand for another one."""
    saved, saved_cfg = folder / "bench.yaml", folder / "bench.config.yaml"
    if not cfg.resume:
        if any((folder / f).exists() for f in ("bench.yaml", "bench.json", "runs")):
            raise NlplabError(f"{folder}: already holds a bench; continue it with --resume, or choose a new -o folder")
    elif saved.is_file():
        then = yaml.safe_load(saved.read_text(encoding="utf-8")) or {}
        now = dataclasses.asdict(cfg)
        diff = [f"{k} ({then.get(k)!r} -> {now[k]!r})" for k in now if k not in FREE and then.get(k) != now[k]]
        old = yaml.safe_load(saved_cfg.read_text(encoding="utf-8")) if saved_cfg.is_file() else None
        if old != (yaml.safe_load(text) if text else None):
            diff.append("the --config file's content")
        if diff:
            raise NlplabError(f"{folder}: --resume with other options than the bench's: {', '.join(diff)}; resume with "
                              f"its options ({saved}), or choose a new -o folder")
    io.check_folder(str(folder), [cfg.data_dir, cfg.config])
    config.save(cfg, saved)
    if text:
        config.write_atomic(saved_cfg, text)
    elif saved_cfg.is_file():
        saved_cfg.unlink()


def cmd_bench(args) -> int:
    from nlplab.bench import outputs, plan, results
    from nlplab.sweep import run

    t0 = time.perf_counter()
    cfg = config.resolve(BenchConfig, args)
    if not cfg.output and not cfg.dry_run:
        raise NlplabError("where should the bench go? give -o DIR")
    p = plan.build(cfg)
    if cfg.dry_run:
        print(plan.describe(p))
        return 0
    folder, jobs = p.folder, p.jobs
    prepare(folder, cfg, p.overrides.text)
    log = run.Log(folder / "bench.log")
    log(plan.describe(p).splitlines()[0] + (" (resumed)" if cfg.resume else ""), echo=True)
    records: list[dict] = []
    by_id = {j.id: tp for tp in p.tasks for j in tp.runs}

    def write(extra: dict | None = None) -> dict:  # after every run: an interrupted bench still has its table
        s = results.summary(p, records, extra)
        config.write_atomic(folder / "bench.json", json.dumps(s, indent=1) + "\n")
        config.write_atomic(folder / "bench.tsv", results.tsv(s))
        return s

    for tp in p.tasks:  # seconds, and the same on every run: done again on --resume
        if tp.how == "majority":
            records.append(outputs.majority(tp, p))
            log(f"{tp.task.name}: majority class of its train set ({records[-1]['score']:.4f} on dev), no training")

    def ended(job, error):
        r, error = results.record(by_id[job.id], job, folder, error)
        records.append(r)
        write()
        return r["status"], (f"dev score {r['score']:.4f}" if r["status"] == "done" else f"FAILED: {error}")

    try:
        run.pool(jobs, p.workers, cfg.resume, args.progress, log, ended, noun="run")
    except KeyboardInterrupt:
        write()
        again = shlex.join(getattr(args, "argv", None) or ["bench", cfg.suite, "-o", str(folder)])
        log(f"interrupted after {sum(r['how'] == 'finetune' for r in records)}/{len(jobs)} runs; continue with "
            f"`nlplab {again}{'' if cfg.resume else ' --resume'}`")
        return 130
    s = results.summary(p, records)
    extra = {"wall_s": time.perf_counter() - t0}
    sub = outputs.submit(p, s, folder)
    if sub is not None:
        extra["submission"] = sub
        log(f"{folder / 'submission.zip'}: " + (f"written, checked: {len(sub['problems'])} problem(s)"
                                                 + (f" ({sub['problems'][0]})" if sub["problems"] else "")
                                                 if sub["written"] else f"not written: {sub['why']}"))
    extra["report"] = "report.html"
    s = write(extra)
    outputs.report(s, folder, f"nlplab bench {cfg.suite}: {cfg.model}")
    print(results.table(s))
    failed = s["failed"] + (["submission.zip"] if sub and sub["problems"] else [])
    score = s["score"]
    shown = (f"GLUE score {100 * score['glue']:.2f}" if score.get("glue") is not None else
             f"Korean score {100 * score['korean']:.2f}" if score.get("korean") is not None else
             f"mean of {len(score['averaged_tasks'])} task(s) {100 * score['average']:.2f}"
             if score.get("average") is not None else "no task finished")
    log(f"{folder / 'bench.json'}: {shown} (mean over seeds); report {folder / 'report.html'}"
        + (f"; failed: {', '.join(failed)} (errors in {folder / 'bench.log'})" if failed else ""))
    return 1 if failed else 0
