"""What a bench will run, checked whole before the first run: the suite's tasks found in the
data folder (and those missing, with what was looked for), each task's options, one
`nlplab finetune` config per task and seed, the model, the workers.

    nlplab bench glue --model minilm --data-dir ../shared/data/glue --dry-run    # prints describe(build(cfg))

The suite's rules come from the task table (nlplab/glue/tasks.py): `bench: majority` tasks
(WNLI) are predicted, not trained; `train_from` tasks (AX) are predicted by their source's
runs (MNLI's); `start_from` tasks (RTE, MRPC, STS-B) start from their source's run of the
same seed when the --config file asks (init_from: MNLI).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nlplab import NlplabError
from nlplab.bench.config import BenchConfig, Overrides, load_overrides
from nlplab.finetune.config import FinetuneConfig, preset, resolve_model
from nlplab.glue.data import Glue
from nlplab.glue.tasks import SUITES, TASKS, Task, canonical
from nlplab.sweep.run import Job, describe_workers, devices


@dataclass
class TaskPlan:
    task: Task
    how: str  # finetune | majority | predicted (AX: by its train_from task's runs) | missing
    why: str = ""  # missing: what was looked for; predicted: by what
    splits: list[str] = field(default_factory=list)  # the splits found
    options: dict = field(default_factory=dict)  # finetune.yaml's preset < --config (< --tokenizer/--size)
    init_from: str | None = None  # the task whose run of the same seed it starts from
    test: bool = False  # every test split there: predicted, so the task can enter the submission
    runs: list[Job] = field(default_factory=list)  # finetune: one per seed
    folder: Path | None = None  # majority: its predictions folder


@dataclass
class Plan:
    cfg: BenchConfig
    folder: Path  # -o (DIR in a dry run without one)
    source: Glue
    seeds: list[int]
    overrides: Overrides
    workers: list[str]  # CUDA_VISIBLE_DEVICES per worker; [] runs in this process
    tasks: list[TaskPlan]  # the suite's (or --tasks') tasks in suite order, missing ones included

    @property
    def jobs(self) -> list[Job]:
        """Every run in order; a task others start from (MNLI) comes first, so that in this
        process the runs go in the order listed."""
        jobs = [j for tp in self.tasks for j in tp.runs]
        sources = {j.after for j in jobs if j.after}
        return sorted(jobs, key=lambda j: j.id not in sources)


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        raise NlplabError(f"--seeds {text}: give whole numbers separated by commas, e.g. --seeds 1,2,3") from None
    if not seeds or len(set(seeds)) < len(seeds) or not all(0 <= s < 2**32 for s in seeds):
        raise NlplabError(f"--seeds {text}: give distinct whole numbers in [0, 2**32), e.g. --seeds 1,2,3")
    return seeds


def selected(suite: str, names: str | None) -> list[Task]:
    """The suite's tasks, or those --tasks names (any spelling), in suite order."""
    tasks = [TASKS[n] for n in SUITES[suite]]
    if not names:
        return tasks
    wanted = []
    for raw in (n.strip() for n in names.split(",") if n.strip()):
        name = canonical(raw)
        if name not in SUITES[suite]:
            what = f"a {TASKS[name].suite} task, not in the {suite} suite" if name in TASKS else "unknown"
            raise NlplabError(f"--tasks {raw}: {what}; the {suite} suite is {', '.join(SUITES[suite])}")
        wanted.append(name)
    for t in tasks:
        if t.name in wanted and t.train_from and t.train_from not in wanted:
            raise NlplabError(f"--tasks {t.name}: it is predicted by the {t.train_from} runs' model; "
                              f"add {t.train_from} to --tasks")
    return [t for t in tasks if t.name in wanted]


def run_name(task: str, seed: int, seeds: list[int]) -> str:
    """DIR/runs/<TASK>, or <TASK>-s<SEED> when there are several seeds."""
    return task if len(seeds) == 1 else f"{task}-s{seed}"


def looked_for(src: Glue, t: Task, split: str) -> str:
    names = t.files.get(split) or t.files["train"]  # a held-out dev lives in train's file
    places = [src.data_dir / n for n in names] + [src.data_dir / t.home / n for n in names]
    return " or ".join(str(p) for p in dict.fromkeys(places))


def _data(src: Glue, t: Task, found: set[str]) -> tuple[list[str], str | None]:
    """(the splits there, why the task cannot run: None when it can)."""
    if t.name not in found:
        if src.has(t, "train"):
            return [], f"{src.path(t, 'train')}: not {t.name}'s layout ({t.origin})"
        return [], f"no train file: looked for {looked_for(src, t, 'train')}"
    splits = ["train"] + [b.dev for b in t.boards if b.dev] + [b.test for b in t.boards if b.test]
    there = [s for s in dict.fromkeys(splits) if src.has(t, s)]
    for s in (b.dev for b in t.boards if b.dev):
        if s not in there:
            return there, f"no {s} file: looked for {looked_for(src, t, s)}"
    return there, None


def build(cfg: BenchConfig) -> Plan:
    """Every check that can fail before the first run: suite and tasks, data, the --config
    file, every run's config, the model, --seeds and --gpus."""
    tasks = selected(cfg.suite, cfg.tasks)
    seeds = parse_seeds(cfg.seeds)
    src = Glue(cfg.data_dir)
    overrides = load_overrides(cfg.config)
    folder = Path(cfg.output or "DIR")
    found = {t.name for t in src.tasks()}
    plans = []
    for t in tasks:
        if t.train_from:  # AX: predicted by MNLI's runs, checked once MNLI's plan is known
            plans.append(TaskPlan(t, "predicted", splits=[s for s in t.files if src.has(t, s)]))
            continue
        there, why = _data(src, t, found)
        tp = TaskPlan(t, "missing" if why else t.bench, why or "", there)
        tp.test = all(b.test in there for b in t.boards if b.test) if t.suite == "glue" else True
        if why is None and t.bench == "majority":
            tp.folder = folder / "runs" / t.name
        plans.append(tp)
    if not any(tp.how in ("finetune", "majority") for tp in plans):
        wanted = ", ".join(tp.task.name for tp in plans)
        raise NlplabError(f"{cfg.data_dir}: no task of the {cfg.suite} suite found (looked for {wanted}: "
                          f"{'; '.join(tp.why for tp in plans if tp.why)}); point --data-dir at the folder "
                          f"holding them")
    by_name = {tp.task.name: tp for tp in plans}
    for name, source in overrides.init_from.items():
        if name in by_name and by_name[name].how == "finetune":
            if by_name.get(source) is None or by_name[source].how != "finetune":
                state = "not in --tasks" if source not in by_name else "missing (no data)"
                raise NlplabError(f"{cfg.config}: tasks.{name}.init_from: {source}, but {source} is {state}; "
                                  f"run {source} too or drop init_from")
            by_name[name].init_from = source
    for tp in plans:
        if tp.how == "finetune":
            tp.options = {**preset(tp.task.name, cfg.model), **overrides.of(tp.task.name),
                          **{k: getattr(cfg, k) for k in ("tokenizer", "size") if getattr(cfg, k)}}
            tp.runs = [_job(cfg, tp, s, seeds, folder) for s in seeds]
        elif tp.how == "predicted":
            source = by_name.get(tp.task.train_from)
            if source is None or source.how != "finetune":
                tp.how, tp.why = "missing", f"{tp.task.train_from} does not run (no data), and its model predicts it"
            elif not src.has(tp.task, "test"):
                tp.how, tp.why = "missing", f"no test file: looked for {looked_for(src, tp.task, 'test')}"
            else:
                tp.why = f"by the {tp.task.train_from} runs' model"
    first = next(j for tp in plans for j in tp.runs if j.after is None) if any(tp.runs for tp in plans) else None
    if first is not None:
        resolve_model(first.cfg)  # the model resolves (or a one-line error names what is available)
    return Plan(cfg, folder, src, seeds, overrides, devices(cfg.gpus, cfg.cpu_workers), plans)


def _job(cfg: BenchConfig, tp: TaskPlan, seed: int, seeds: list[int], folder: Path) -> Job:
    t = tp.task
    name = run_name(t.name, seed, seeds)
    fields = {**tp.options, "task": t.name, "data_dir": cfg.data_dir, "model": cfg.model, "seed": seed,
              "output": str(folder / "runs" / name), "predict_test": tp.test}
    after = None
    if tp.init_from:  # the source's run folder of the same seed is a model folder (weights, config, tokenizer)
        after = run_name(tp.init_from, seed, seeds)
        fields.update(model=str(folder / "runs" / after), tokenizer=None)
    try:
        run_cfg = FinetuneConfig(**fields)
    except NlplabError as e:
        where = f"{cfg.config}: " if cfg.config else ""
        raise NlplabError(f"{where}{t.name} (seed {seed}): {e}") from None
    except TypeError as e:  # a key of finetune.yaml that is no FinetuneConfig field: a bug in the presets
        raise NlplabError(f"nlplab/configs/finetune.yaml: {t.name}: {e}") from None
    what = f"{t.name} seed {seed}" + (f", from {after}" if after else "")
    return Job(name, run_cfg, what, after)


def describe(plan: Plan) -> str:
    """What --dry-run prints: a head line, then per task how it runs, its data, its options
    and its run folders."""
    jobs = plan.jobs
    how = describe_workers(plan.workers, "run")
    ran = [tp.task.name for tp in plan.tasks if tp.how in ("finetune", "majority")]
    missing = [tp.task.name for tp in plan.tasks if tp.how == "missing"]
    lines = [f"bench {plan.cfg.suite}: {len(ran)} task(s) of {len(plan.tasks)} ({', '.join(ran)}), seeds "
             f"{', '.join(map(str, plan.seeds))}: {len(jobs)} fine-tuning run(s), {how}"
             + (f"; missing: {', '.join(missing)}" if missing else "")]
    for tp in plan.tasks:
        t = tp.task
        data = f"data: {', '.join(tp.splits)}" if tp.splits else ""
        if tp.how == "missing":
            lines.append(f"{t.name}: missing: {tp.why}")
            continue
        if tp.how == "predicted":
            lines.append(f"{t.name}: predicted {tp.why}; {data}")
            continue
        if tp.how == "majority":
            lines.append(f"{t.name}: majority class of its train set, no training; {data}")
            lines.append(f"  runs: {tp.folder} (predictions only)")
            continue
        start = f", starting from the {tp.init_from} run of each seed" if tp.init_from else ""
        test = "" if tp.test else " (no test file: not in the submission)"
        lines.append(f"{t.name}: fine-tune{start}; {data}{test}; options: {describe_flags(tp.options)}")
        lines.append(f"  runs: {', '.join(j.cfg.output for j in tp.runs)}")
    return "\n".join(lines)


def describe_flags(options: dict) -> str:
    """lr=0.0001 epochs=3 ... (a float in its shortest form)."""
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in options.items())
