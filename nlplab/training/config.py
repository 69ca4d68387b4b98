"""TrainConfig, the fields every training command shares, and how a command builds its config.

    @dataclass
    class LMConfig(TrainConfig):
        lr: float = override("lr", 1e-3)     # the shared field, this command's default
        hidden_dim: int = opt(1024, "...")    # a field of its own

Order of precedence (resolve_config): the dataclass defaults < the preset (`--preset NAME`,
or the task's entry for fine-tuning) < the run's own config.yaml with --resume < --config
FILE < flags. Imports no torch: a command's parser is built from these fields.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from nlplab import NlplabError, config, io, runlog
from nlplab.config import opt

# One set of schedule names for every command (make_schedule); the biLM's earlier names of
# two of them are kept for a release.
SCHEDULES = ("constant", "linear", "cosine", "step", "cosine-restarts", "plateau")
SCHEDULE_ALIASES = {"warmup-linear": "linear", "warmup-cosine": "cosine"}
OPTIMIZERS = ("adamw", "adam", "sgd", "adagrad")
PRECISIONS = ("fp32", "bf16", "fp16")
# Fields that may differ between an interrupted run and its --resume: they touch no weight
# and no batch (output: the same folder may be written another way, runs/x/ or ./runs/x;
# max_minutes: a time budget, counted from each start; log_every, tracking: what is recorded).
RESUME_FREE = ("resume", "force", "output", "log_every", "tracking", "tracking_uri", "max_minutes")


@dataclass
class TrainConfig:
    output: str = opt(None, "run folder", flag=["-o", "--output"])
    resume: bool = opt(False, "continue the run in -o from its checkpoint exactly where it stopped "
                       "(its config.yaml; options given now must agree with it)")
    force: bool = opt(False, "start over in an existing run folder")
    seed: int = opt(42, "seed for the initialisation, dropout and batch order")
    epochs: int = opt(3, "passes over the training data")
    max_steps: int = opt(0, "stop after this many optimizer steps (0: epochs decide)")
    max_minutes: float = opt(0.0, "stop training after this many minutes (0: no limit); the run then ends as after "
                             "its last epoch. A time budget: pair it with a schedule that needs no step count "
                             "(constant, plateau, step)")
    optimizer: str = opt("adamw", "optimizer (weight decay never on biases and LayerNorm weights)",
                         choices=list(OPTIMIZERS))
    lr: float = opt(1e-3, "peak learning rate")
    weight_decay: float = opt(0.0, "weight decay (never on biases and LayerNorm weights)")
    momentum: float = opt(0.0, "sgd momentum")
    clip: float = opt(1.0, "clip the gradient norm to this (0: no clipping)")
    grad_accum: int = opt(1, "accumulate gradients over this many batches per optimizer step")
    scheduler: str = opt("constant", "learning-rate schedule after the warmup: constant, linear or cosine decay to "
                         "--min-lr, step, cosine-restarts, or plateau (cut by --lr-gamma when the dev/valid score "
                         "stops improving)", choices=[*SCHEDULES, *SCHEDULE_ALIASES])
    warmup_steps: int = opt(0, "steps of linear warmup from 0 (every schedule but plateau); wins over --warmup-ratio")
    warmup_ratio: float = opt(0.0, "fraction of the steps with a linear warmup (when --warmup-steps is 0)")
    min_lr: float = opt(0.0, "linear, cosine, cosine-restarts, plateau: lowest learning rate")
    lr_step: int = opt(1000, "step: decay every N steps; cosine-restarts: steps in each cycle")
    lr_gamma: float = opt(0.5, "step and plateau: factor the learning rate is multiplied by")
    patience: int = opt(0, "plateau: evaluations without improvement before the learning rate is cut")
    early_stopping: int = opt(0, "stop after N evaluations without a better dev/valid score (0: never)")
    eval_every: int = opt(0, "also evaluate every N optimizer steps (0: once per epoch only)")
    save_every: int = opt(0, "also save a resumable checkpoint every N steps")
    log_every: int = opt(10, "write train loss, lr and throughput to metrics.jsonl and TensorBoard every N steps")
    precision: str = opt("fp32", "bf16: bfloat16 autocast (a GPU, or a CPU with avx512_bf16/AMX); fp16: float16 "
                         "autocast with loss scaling (GPU only)", choices=list(PRECISIONS))
    tracking: str
    tracking_uri: str
    tracking, tracking_uri = runlog.tracking_options()  # the same two options on every training command
    bf16: bool = opt(False, "the same as --precision bf16")
    fp16: bool = opt(False, "the same as --precision fp16")

    def __post_init__(self):
        if not self.output:
            raise NlplabError("give the run folder: -o RUN")
        alias = "bf16" if self.bf16 else "fp16" if self.fp16 else None
        if self.bf16 and self.fp16 or alias and self.precision not in ("fp32", alias):
            raise NlplabError("give one precision: --precision fp32, bf16 or fp16 (or --bf16, --fp16)")
        if alias:  # from here on only `precision` says it
            self.precision, self.bf16, self.fp16 = alias, False, False
        self.scheduler = SCHEDULE_ALIASES.get(self.scheduler, self.scheduler)
        for f in dataclasses.fields(self):  # argparse takes --lr nan
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise NlplabError(f"--{flag(f.name)} must be a finite number, got {v}")
        self.at_least(1, "epochs", "grad_accum", "log_every", "lr_step")
        self.at_least(0, "max_steps", "max_minutes", "lr", "weight_decay", "momentum", "clip", "warmup_steps", "min_lr",
                      "patience", "early_stopping", "eval_every", "save_every")
        if not 0 <= self.warmup_ratio <= 1:
            raise NlplabError(f"--warmup-ratio must be in [0, 1], got {self.warmup_ratio}")
        if not 0 < self.lr_gamma <= 1:
            raise NlplabError(f"--lr-gamma must be in (0, 1], got {self.lr_gamma}")
        if not 0 <= self.seed < 2**32:
            raise NlplabError(f"--seed must be in [0, 2**32), got {self.seed}")
        if self.scheduler == "plateau" and (self.warmup_steps or self.warmup_ratio):
            raise NlplabError("--scheduler plateau has no warmup; add --warmup-steps 0 --warmup-ratio 0")

    def at_least(self, low: int, *names: str) -> None:
        for name in names:
            if getattr(self, name) < low:
                raise NlplabError(f"--{flag(name)} must be {'at least 1' if low == 1 else f'{low} or more'}, "
                                  f"got {getattr(self, name)}")


def flag(name: str) -> str:
    return name.replace("_", "-")


def override(name: str, default, help: str | None = None):
    """A TrainConfig field with a command's own default (and help): it keeps its place."""
    f = TrainConfig.__dataclass_fields__[name]
    return opt(default, help or f.metadata["help"], f.metadata["choices"], f.metadata["flag"])


def alias_of(target: str, value=None) -> str:
    """The --help line of a flag kept for a release: the spelling it stands for."""
    shown = f"--{flag(target)} {value}" if value is not None else f"--{flag(target)}"
    return f"the same as {shown} (the older spelling, kept for one release)"


# ---- from the command line to the config

def add_run_options(parser: argparse.ArgumentParser) -> None:
    """How a training command is started, not what it trains (none of it goes to config.yaml;
    --nproc is not there because a --resume may run on another number of processes)."""
    parser.add_argument("--config", help="YAML file with any of the options above; flags override it")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="show progress")
    parser.add_argument("--nproc", type=int, default=0,
                        help="train with N processes on this machine (one per GPU; gloo on CPU) under torchrun; "
                             "--batch-size is per process")


def launch(args) -> int | None:
    """--nproc N > 1 outside torchrun: this same command as N processes (their exit code).
    None: train in this process."""
    if args.nproc < 0:
        raise NlplabError(f"--nproc must be 0 or more (0 or 1: one process), got {args.nproc}")
    from nlplab import dist

    if args.nproc > 1 and not dist.under_torchrun():
        return dist.launch(args.nproc)
    return None


def train(cls, args, key: str, presets, run, report) -> int:
    """A training command: its config (resolve_config), then this same command as --nproc
    processes under torchrun, or `run(cfg, progress)` here; rank 0 hands the run's summary
    to `report(cfg, summary)` (its line on stderr). The exit code."""
    cfg = resolve_config(cls, args, key, presets)  # a bad option is one error, not one per process
    code = launch(args)
    if code is not None:
        return code
    from nlplab import dist

    with dist.session() as d:
        summary = run(cfg, progress=args.progress)
    if d.is_main:
        report(cfg, summary)
    return 0


def resolve_config(cls, args, key: str, presets):
    """defaults < presets(NAME) < the run's config.yaml (--resume) < --config FILE < flags.
    NAME is the `key` option (the fine-tuning task, the biLM's --preset) as given, or as the
    --config file gives it. With --resume, `-o RUN --resume` alone is enough; an option given
    that differs from the run's is refused by check_run_folder."""
    name = getattr(args, key, None) or (config.load_yaml(args.config, cls).get(key) if args.config else None)
    base = dict(presets(name))
    if getattr(args, "resume", False):
        out = getattr(args, "output", None)
        if not out:
            raise NlplabError("--resume needs the run folder: -o RUN")
        saved = Path(out) / "config.yaml"
        if not saved.is_file():
            raise NlplabError(f"{out}: no config.yaml, nothing to resume; start the run without --resume")
        base.update(config.load_yaml(str(saved), cls))
    return config.resolve(cls, args, args.config, base)


def config_diff(saved: dict, cfg) -> list[str]:
    """'field (run's value -> now)' for each field but the resume-free ones that differs from a
    run's saved config, read as cfg's class reads it (a field added since then: its default)."""
    then, now = dataclasses.asdict(type(cfg)(**saved)), dataclasses.asdict(cfg)
    return [f"{k} ({then[k]!r} -> {now[k]!r})" for k in sorted(now) if k not in RESUME_FREE and then[k] != now[k]]


def default_valid(cfg, corpus: str, column: str | None = None):
    """`corpus` a corpus folder (nlplab corpus build) and no --valid: its valid split
    validates, when it has a row. Returns the config (valid filled in, so config.yaml and
    --resume see it) and the line the log says about it (None: nothing to say)."""
    split = io.corpus_split(corpus, "valid") if cfg.valid is None else None
    if split is None:
        return cfg, None
    rows = io.inspect(split, None, column).rows
    if not rows:
        return cfg, f"valid: none; {split} (the corpus folder's valid split) has no rows"
    return dataclasses.replace(cfg, valid=split), f"valid: {split}, the corpus folder's valid split ({rows:,} rows; --valid not given)"
