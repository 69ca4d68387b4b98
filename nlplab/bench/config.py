"""The `nlplab bench` config (saved as DIR/bench.yaml) and its --config file of per-task overrides.

    default: {max_train_samples: 2000}            # every task: `nlplab finetune` options, _ for -
    tasks:
      RTE: {init_from: MNLI, epochs: 10}          # one task (any spelling): its options, and
      mrpc: {lr: 5.0e-5}                          # init_from where the task table allows it

The file has the shape of nlplab/configs/finetune.yaml and is laid over it: a run's config
is FinetuneConfig's defaults < finetune.yaml's default < its task entry < this file's
default < its task entry < --tokenizer/--size < what the bench decides (task, data dir,
model, seed, run folder, test predictions). Every key is checked before anything runs; an
unknown key or a bad value is a one-line error with file:line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from nlplab import NlplabError, config
from nlplab.config import opt
from nlplab.finetune.config import SIZES
from nlplab.glue.tasks import SUITES, TASKS, canonical


@dataclass
class BenchConfig:
    suite: str = opt(None, "the suite: " + ", ".join(SUITES) + " (nlplab/glue/tasks.py)")
    model: str = opt(None, "what `nlplab finetune --model` takes: minilm, scratch (with --tokenizer), a model folder "
                           "or nlplab run folder, a cached hub name")
    tokenizer: str = opt(None, "scratch: nlplab subword folder (from `nlplab subword train`)")
    size: str = opt(None, "scratch: model size (default: the --config file's, else tiny)", choices=list(SIZES))
    data_dir: str = opt(None, "folder holding the suite's tasks: GLUE's CoLA/, SST-2/, ... or a root laid out as "
                              "shared/data (glue/, nsmc/, korsts/, ...)")
    output: str = opt(None, "bench folder: runs/<TASK>[-s<SEED>], bench.json, bench.tsv, bench.log, report.html, "
                            "submission.zip (GLUE)", flag=["-o", "--output"])
    tasks: str = opt(None, "comma-separated subset of the suite, e.g. CoLA,sst2,MRPC (default: every task found)")
    seeds: str = opt("42", "comma-separated seeds: each task runs once per seed, mean ± std over them")
    gpus: str = opt("0", "N: one run per GPU on N GPUs at once (subprocesses, the sweep's pool); auto: every "
                         "visible GPU; 0: runs one after another in this process")
    cpu_workers: int = opt(0, "N: one run per CPU worker, N at once (subprocesses), the cores shared out among "
                              "them (instead of --gpus, on a machine without one)")
    resume: bool = opt(False, "continue the bench in -o: skip finished runs, resume interrupted ones, run the rest")
    config: str = opt(None, "YAML file of overrides in finetune.yaml's shape: default: {...} for every task, "
                            "tasks: {RTE: {init_from: MNLI, ...}}")
    dry_run: bool = opt(False, "list the tasks, their presets, the data found or missing and the runs; run nothing")
    fill_missing: str = opt(None, "GLUE: fill the submission's entries without test predictions with the majority "
                                  "class of their train set (as `glue submit --fill-missing majority`)",
                            choices=["majority"])

    def __post_init__(self):
        if not self.suite:
            raise NlplabError(f"give the suite: nlplab bench {'|'.join(SUITES)} --model M --data-dir D -o DIR")
        if self.suite not in SUITES:
            listed = "; ".join(f"{name} ({', '.join(tasks)})" for name, tasks in SUITES.items())
            raise NlplabError(f"unknown suite {self.suite!r}; suites: {listed}")
        if not self.model:
            raise NlplabError("give --model: minilm, scratch --tokenizer SUBWORD_DIR, a model folder or a run folder")
        if not self.data_dir:
            raise NlplabError(f"give --data-dir: the folder holding the {self.suite} tasks' files")


# fields of the runs that the bench sets itself, and why (the file must not set them)
RESERVED = {
    "output": "each run goes to DIR/runs/<TASK>[-s<SEED>] (give -o DIR)",
    "seed": "give the seeds with --seeds 1,2,3",
    "task": "the tasks are the keys under tasks: (and --tasks picks them)",
    "data_dir": "give --data-dir",
    "model": "give --model; init_from: MNLI (under tasks:) starts RTE, MRPC or STS-B from the MNLI run",
    "force": "the bench decides when a run folder is reused (nlplab bench --resume)",
    "resume": "the bench decides when a run is resumed (nlplab bench --resume)",
    "predict_test": "the bench predicts every test set there is (the submission and labelled test scores need them)",
    **dict.fromkeys(("train", "dev", "test", "text", "text_pair", "label", "id", "regression"),
                    "a bench runs its suite's tasks; fine-tune a custom dataset with `nlplab finetune --train ...`"),
}
INIT_FROM = "init_from"  # the one key of a task's entry that is not a FinetuneConfig field


@dataclass
class BenchFile:
    """The top-level keys a --config file may have (config.load_yaml rejects any other)."""

    default: dict = opt(None, "`nlplab finetune` options (with _ for -) for every task")
    tasks: dict = opt(None, "per task: its options, and init_from: MNLI where the task allows it")


class Where:
    """file:line of every key (yaml.compose keeps the lines safe_load drops), for errors."""

    def __init__(self, path: str, text: str):
        self.path, self.lines = path, {}

        def walk(node, prefix):
            for k, v in node.value if isinstance(node, yaml.MappingNode) else []:
                key = f"{prefix}{k.value}"
                self.lines[key] = k.start_mark.line + 1
                walk(v, key + ".")
        walk(yaml.compose(text, Loader=yaml.SafeLoader), "")

    def error(self, msg: str, *key) -> NlplabError:
        dotted = ".".join(map(str, key))
        parts = dotted.split(".")
        line = next((self.lines[k] for k in (".".join(parts[:n]) for n in range(len(parts), 0, -1)) if k in self.lines),
                    None)
        return NlplabError(f"{self.path}{f':{line}' if line else ''}: {dotted + ': ' if dotted else ''}{msg}")


@dataclass
class Overrides:
    """The checked --config file: options for every task, per task, and which tasks start from which."""

    default: dict
    tasks: dict  # canonical task name -> options
    init_from: dict  # canonical task name -> the task whose run it starts from
    text: str = ""  # the file as given (copied to DIR/bench.config.yaml)

    def of(self, task: str) -> dict:
        return {**self.default, **self.tasks.get(task, {})}


def load_overrides(path: str | None) -> Overrides:
    """Read and check a --config file (None: no overrides)."""
    # a FinetuneConfig field's type and choices, checked as a sweep file's are
    from nlplab.sweep.spec import coerce

    if not path:
        return Overrides({}, {}, {})
    data = config.load_yaml(path, BenchFile, "bench config file")  # missing file, bad YAML, unknown top-level keys
    text = Path(path).read_text(encoding="utf-8")
    where = Where(path, text)

    def options(section: str, values) -> dict:
        if not isinstance(values, dict):
            raise where.error("must be a mapping of option: value", section)
        out = {}
        for name, value in values.items():
            if name in RESERVED:
                raise where.error(f"not set in a bench config: {RESERVED[name]}", section, name)
            out[name] = coerce(where, section, name, value)
        return out

    default = data.get("default") or {}
    if INIT_FROM in (default if isinstance(default, dict) else {}):
        raise where.error("goes under tasks: <TASK> (RTE, MRPC or STS-B: init_from: MNLI)", "default", INIT_FROM)
    default = options("default", default)
    tasks, init_from = {}, {}
    raw = data.get("tasks") or {}
    if not isinstance(raw, dict):
        raise where.error("must be a mapping of TASK: {option: value}", "tasks")
    for spelt, values in raw.items():
        name = canonical(str(spelt))
        if name not in TASKS:
            raise where.error(f"unknown task; tasks: {', '.join(TASKS)}", "tasks", spelt)
        if name in tasks:
            raise where.error(f"{name} is given twice (as {spelt!r} too)", "tasks", spelt)
        values = dict(values) if isinstance(values, dict) else values
        source = values.pop(INIT_FROM, None) if isinstance(values, dict) else None
        if source is not None:
            allowed = TASKS[name].start_from
            if allowed is None:
                starters = ", ".join(t.name for t in TASKS.values() if t.start_from)
                raise where.error(f"{name} starts from --model only (these may start from another task's run: "
                                  f"{starters})", "tasks", spelt, INIT_FROM)
            if canonical(str(source)) != allowed:
                raise where.error(f"{source!r}: {name} may start from {allowed} only", "tasks", spelt, INIT_FROM)
            init_from[name] = allowed
        tasks[name] = options(f"tasks.{spelt}", values)
    return Overrides(default, tasks, init_from, text)
