"""`nlplab sweep`: the parser and the plain function it calls.

    nlplab sweep nlplab/configs/sweeps/sst2-minilm.yaml -o runs/sweeps/sst2 [--gpus N|auto]
    nlplab sweep SWEEP.yaml -o DIR --resume      # after Ctrl-C or failures: finished trials are skipped
    nlplab sweep SWEEP.yaml --dry-run            # check the file, list the trials, run nothing

Everything that can be wrong with the file, the data or the model fails before the first
trial starts. DIR ends up with sweep.yaml (the file as given), sweep.log, trials/tNNN (one
`nlplab finetune` run folder per trial), sweep.json and sweep.tsv (see results.py).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from nlplab import NlplabError, config
from nlplab.config import opt


@dataclass
class SweepConfig:
    sweep: str = opt(None, "sweep file (YAML: base, grid or random, seeds); examples in nlplab/configs/sweeps/")
    output: str = opt(None, "sweep folder (default: output: in the sweep file)", flag=["-o", "--output"])
    resume: bool = opt(False, "continue the sweep in DIR: skip finished trials, resume or restart the others")
    dry_run: bool = opt(False, "check the file and list the trials; nothing runs and nothing is written")
    gpus: str = opt("0", "N: one trial per GPU on N GPUs at once (subprocesses); auto: every visible GPU; "
                         "0: trials one after another in this process")
    cpu_workers: int = opt(0, "N: one trial per CPU worker, N at once (subprocesses), the cores shared out "
                              "among them (instead of --gpus, on a machine without one)")

    def __post_init__(self):
        if not self.sweep:
            raise NlplabError("give the sweep file: nlplab sweep SWEEP.yaml (examples in nlplab/configs/sweeps/)")


def add_commands(sub):
    p = sub.add_parser("sweep", help="grid or random search over fine-tuning options, mean ± std over seeds",
                       description="Run `nlplab finetune` once per configuration and seed of a sweep file "
                                   "and rank the configurations by their mean dev score.")
    config.add_arguments(p, SweepConfig, positional=("sweep",))
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show each in-process trial's progress bar (default: when stderr is a terminal)")
    p.set_defaults(func=cmd_sweep)


# fields that decide a trial's data: trials agreeing on them are checked once
DATA_FIELDS = ("task", "data_dir", "train", "dev", "test", "text", "text_pair", "label", "id", "regression")


def check(sweep, trials) -> tuple[str, str]:
    """(task name, metric) once every trial's data, metric and model resolve (each distinct
    data source and model once)."""
    from nlplab.finetune.config import resolve_model
    from nlplab.finetune.data import source_and_task
    from nlplab.sweep.spec import Where

    def checked(t, fn):
        try:
            return fn(t.cfg)
        except NlplabError as e:
            raise NlplabError(f"{sweep.path}: trial {t.id}: {e}") from None

    sources, models = {}, {}
    for t in trials:
        sources.setdefault(tuple(getattr(t.cfg, k) for k in DATA_FIELDS), t)
        models.setdefault((t.cfg.model, t.cfg.tokenizer), t)
    for t in sources.values():
        src, task = checked(t, source_and_task)
        if getattr(src, "data_dir", None) and not src.has(task, "train"):
            raise NlplabError(f"{sweep.path}: trial {t.id}: {src.data_dir}: no {task.name} train file "
                              f"({task.files['train'][0]}); check data_dir")
    names = (*task.metrics, "score")  # score: the mean of the task's metrics, which picks the best checkpoint
    metric = sweep.metric or (task.metrics[0] if len(task.metrics) == 1 else "score")
    if metric not in names:
        raise Where(sweep.path, sweep.text).error(f"{metric!r} is not a {task.name} dev metric; use one of "
                                                  f"{', '.join(names)}", "metric")
    for t in models.values():
        checked(t, resolve_model)
    return task.name, metric


def prepare(folder: Path, sweep, resume: bool) -> None:
    """A new sweep never mixes with an old one; a resumed one must be the same sweep, or
    trial tNNN would stand for another configuration."""
    saved = folder / "sweep.yaml"
    if not resume:
        if any((folder / f).exists() for f in ("sweep.yaml", "sweep.json", "trials")):
            raise NlplabError(f"{folder}: already holds a sweep; continue it with --resume, or choose a new -o folder")
    elif saved.is_file() and yaml.safe_load(saved.read_text(encoding="utf-8")) != yaml.safe_load(sweep.text):
        raise NlplabError(f"{folder}: --resume with a sweep file other than its {saved.name}; resume with "
                          f"`nlplab sweep {saved} -o {folder} --resume`, or choose a new -o folder")
    config.write_atomic(saved, sweep.text)


def cmd_sweep(args) -> int:
    from nlplab.sweep import results, run, spec

    cfg = config.resolve(SweepConfig, args)
    sweep = spec.load(cfg.sweep)
    out = cfg.output or sweep.output
    if not out and not cfg.dry_run:
        raise NlplabError(f"{cfg.sweep}: where should the sweep go? give -o DIR, or output: DIR in the file")
    folder = Path(out or "DIR")
    trials = spec.trials(sweep, folder)
    task, metric = check(sweep, trials)
    workers = run.devices(cfg.gpus, cfg.cpu_workers)
    how = run.describe_workers(workers, "trial")
    head = (f"sweep {sweep.name}: {len(trials)} trials ({len(sweep.points)} configurations x {len(sweep.seeds)} seeds) "
            f"of {task}, ranked by dev {metric}; {how}")
    if cfg.dry_run:
        print(head)
        for t in trials:
            print(f"{t.id}  {run.describe(t)}  -> {t.cfg.output}")
        return 0

    prepare(folder, sweep, cfg.resume)
    log = run.Log(folder / "sweep.log")
    log(head + (" (resumed)" if cfg.resume else ""))
    finished: list[dict] = []

    def write(records: list[dict]) -> dict:
        # greater_is_better: every metric a run scores (accuracy, F1, MCC, correlations, their mean) grows with quality
        s = results.summary(sweep.name, task, metric, True, sweep.params, records)
        config.write_atomic(folder / "sweep.json", json.dumps(s, indent=1) + "\n")
        config.write_atomic(folder / "sweep.tsv", results.tsv(s))
        return s

    def done(record: dict) -> None:  # after every trial: an interrupted sweep still has its table
        finished.append(record)
        write(finished)

    try:
        records = run.execute(trials, workers, cfg.resume, args.progress, metric, log, done)
    except KeyboardInterrupt:
        log(f"interrupted after {len(finished)}/{len(trials)} trials; continue with "
            f"`nlplab sweep {cfg.sweep} -o {folder} --resume`")
        return 130
    s = write(records)
    print(results.table(s))
    failed = sum(r["status"] == "failed" for r in records)
    best = s["best"]
    log(f"{folder / 'sweep.json'}: " + (f"best {metric} {best['mean']:.4f} ± {best['std']:.4f} with "
                                         f"{json.dumps(best['params'])}" if best else "no trial finished")
        + (f"; {failed} of {len(records)} trials failed (errors in {folder / 'sweep.log'})" if failed else ""))
    return 1 if failed else 0
