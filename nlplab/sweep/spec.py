"""The sweep file `nlplab sweep SWEEP.yaml` reads, checked whole before any trial runs.

    name: sst2-minilm                 # default: the file's name
    output: runs/sweeps/sst2-minilm   # default sweep folder (-o wins)
    base: {task: SST-2, data_dir: ../shared/data/glue, model: minilm, epochs: 2}
    grid: {lr: [5.0e-5, 1.0e-4], batch_size: [16, 32]}       # every combination, last key fastest
    # or: random: {lr: {loguniform: [1.0e-5, 1.0e-3]}, batch_size: {choice: [16, 32]}}
    #     trials: 8
    #     sweep_seed: 0
    seeds: [1, 2, 3]                  # each configuration runs once per seed

Keys of base/grid/random are FinetuneConfig fields (`nlplab finetune --help`), laid over
the task's preset as `nlplab finetune --config` lays its file. `output`, `seed` and
`force` belong to the sweep (DIR/trials/tNNN, `seeds:`); the task is one per sweep.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import random
import re
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml

from nlplab import NlplabError, config
from nlplab.finetune.config import FinetuneConfig, preset

FIELDS = {f.name: f for f in dataclasses.fields(FinetuneConfig)}
TYPES = {name: next((a for a in typing.get_args(t) if a is not type(None)), t)  # `str | None` -> str
         for name, t in typing.get_type_hints(FinetuneConfig).items()}
RESERVED = {"output": "the sweep puts each trial in DIR/trials/tNNN (give -o DIR or output:)",
            "seed": "list the seeds under seeds: [1, 2, 3]",
            "force": "the sweep decides when a trial folder is reused (--resume)",
            "resume": "the sweep decides when a trial is resumed (nlplab sweep --resume)"}
DISTRIBUTIONS = ("choice", "uniform", "loguniform")


@dataclass
class SweepFile:
    """The keys a sweep file may have (config.load_yaml rejects any other)."""

    name: str = config.opt(None, "the sweep's name in tables and reports (default: the file's name)")
    output: str = config.opt(None, "default sweep folder; -o DIR wins")
    metric: str = config.opt(None, "dev metric to rank by (default: the task's; `score` for the mean of several)")
    base: dict = config.opt(None, "FinetuneConfig fields every trial shares")
    grid: dict = config.opt(None, "{field: [values]}: every combination")
    random: dict = config.opt(None, "{field: {choice: [...]} | {uniform: [lo, hi]} | {loguniform: [lo, hi]}}")
    trials: int = config.opt(None, "random: how many configurations to draw")
    sweep_seed: int = config.opt(0, "random: seed of the draws (same seed, same configurations)")
    seeds: list = config.opt(None, "each configuration runs once per seed (default: [42])")


@dataclass
class Trial:
    id: str  # t000, t001, ...: also its run folder's name under DIR/trials
    params: dict  # the swept fields' values
    seed: int
    cfg: FinetuneConfig


@dataclass
class Sweep:
    path: str
    text: str  # the file as given, copied to DIR/sweep.yaml
    name: str
    output: str | None
    metric: str | None
    base: dict
    params: list[str]  # swept fields, in the file's order
    points: list[dict]  # one {field: value} per configuration, in run order
    seeds: list[int]


class Where:
    """File:line for error messages: yaml.compose keeps each key's line, safe_load drops it."""

    def __init__(self, path: str, text: str):
        self.path, self.lines = path, {}
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        for k, v in root.value if isinstance(root, yaml.MappingNode) else []:
            self.lines[(k.value,)] = k.start_mark.line + 1
            for kk, _ in v.value if isinstance(v, yaml.MappingNode) else []:
                self.lines[(k.value, str(kk.value))] = kk.start_mark.line + 1

    def error(self, msg: str, *key) -> NlplabError:
        line = self.lines.get(tuple(map(str, key))) or self.lines.get(tuple(map(str, key[:1])))
        at = f"{self.path}:{line}" if line else self.path
        return NlplabError(f"{at}: {'.'.join(map(str, key))}: {msg}" if key else f"{at}: {msg}")


def check_key(where: Where, section: str, name, swept: bool) -> None:
    """`name` is a FinetuneConfig field a sweep file may set (under base:, or swept)."""
    if name not in FIELDS:
        close = difflib.get_close_matches(str(name), FIELDS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise where.error(f"unknown option{hint}; keys are `nlplab finetune` options with _ for -", section, name)
    if name in RESERVED:
        raise where.error(f"not set in a sweep file: {RESERVED[name]}", section, name)
    if swept and name == "task":
        raise where.error("one task per sweep (its metric ranks the trials); set it under base:", section, name)


def coerce(where: Where, section: str, name, value, swept: bool = False):
    """`value` as FinetuneConfig's type for field `name`; anything else is a one-line error."""
    check_key(where, section, name, swept)
    t, f = TYPES[name], FIELDS[name]
    if value is None and f.default is None:
        return None
    if t is float and isinstance(value, str):  # PyYAML (YAML 1.1) reads 1e-4 as a string: its floats need a dot
        try:
            value = float(value)
        except ValueError:
            pass
    if t is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) != (t is bool) or not isinstance(value, t):
        example = f" (e.g. {f.default})" if f.default is not None else ""
        raise where.error(f"{value!r} is not {'an' if t is int else 'a'} {t.__name__}{example}", section, name)
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise where.error(f"{value!r} is not one of {', '.join(choices)}", section, name)
    return value


def grid_points(grid: dict) -> list[dict]:
    """Every combination, in the file's key order with the last key varying fastest."""
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*grid.values())]


def random_points(space: dict, n: int, seed: int) -> list[dict]:
    """`n` distinct configurations drawn from `space` ({field: (kind, arg, is_int)}) with
    random.Random(seed): the same seed draws the same ones. Numbers from uniform/loguniform
    keep 4 significant digits (readable run tables), stay inside [lo, hi], and are
    rounded for int fields."""
    rng, points, draws = random.Random(seed), [], 0
    while len(points) < n and draws < 100 * n:  # a small choice-only space can run out of new points
        draws += 1
        point = {}
        for name, (kind, arg, is_int) in space.items():
            if kind == "choice":
                point[name] = rng.choice(arg)
                continue
            lo, hi = arg
            x = rng.uniform(lo, hi) if kind == "uniform" else math.exp(rng.uniform(math.log(lo), math.log(hi)))
            point[name] = min(max(round(x) if is_int else float(f"{x:.4g}"), lo), hi)
        if point not in points:
            points.append(point)
    return points


def _mapping(where: Where, data, key) -> dict:
    if not isinstance(data, dict):
        raise where.error("must be a mapping of option: value", key)
    return data


def _random_space(where: Where, spec: dict) -> dict:
    space = {}
    for name, dist in _mapping(where, spec, "random").items():
        check_key(where, "random", name, swept=True)
        if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
            raise where.error("give one of {choice: [v, ...]}, {uniform: [lo, hi]}, {loguniform: [lo, hi]}",
                              "random", name)
        kind, arg = next(iter(dist.items()))
        if not isinstance(arg, list) or not arg:
            raise where.error(f"{kind}: needs a list", "random", name)
        values = [coerce(where, "random", name, v, swept=True) for v in arg]
        if kind == "choice":
            space[name] = (kind, values, False)
            continue
        if TYPES[name] not in (int, float):
            raise where.error(f"{kind} needs a number field; use choice: for {TYPES[name].__name__}", "random", name)
        if len(values) != 2 or not values[0] < values[1] or (kind == "loguniform" and values[0] <= 0):
            raise where.error(f"{kind}: needs [lo, hi] with lo < hi{' and lo > 0' if kind == 'loguniform' else ''}",
                              "random", name)
        space[name] = (kind, values, TYPES[name] is int)
    return space


def load(path: str) -> Sweep:
    """Read and check the sweep file: every key, type and value range (trial configs are
    checked by `trials`, data and model by `commands.check`)."""
    data = config.load_yaml(path, SweepFile, "sweep file")  # missing file, bad YAML, unknown top-level keys
    text = Path(path).read_text(encoding="utf-8")
    where = Where(path, text)
    base = {k: coerce(where, "base", k, v) for k, v in _mapping(where, data.get("base") or {}, "base").items()}
    grid, space = data.get("grid"), data.get("random")
    if grid is not None and space is not None:
        raise where.error("give grid: or random:, not both", "random")
    points: list[dict] = [{}]  # no grid/random: one configuration, the base, over the seeds
    if grid is not None:
        checked = {}
        for name, values in _mapping(where, grid, "grid").items():
            check_key(where, "grid", name, swept=True)
            if not isinstance(values, list) or not values:
                raise where.error("needs a non-empty list of values, e.g. [1.0e-4, 3.0e-4]", "grid", name)
            checked[name] = [coerce(where, "grid", name, v, swept=True) for v in values]
            if len(set(map(repr, checked[name]))) < len(values):
                raise where.error("lists a value twice", "grid", name)
        points = grid_points(checked)
    for key in ("trials", "sweep_seed"):
        if data.get(key) is not None and space is None:
            raise where.error("only goes with random:", key)
    if space is not None:
        n = data.get("trials")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise where.error("random: needs trials: N (a positive whole number)", "trials")
        seed = data.get("sweep_seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise where.error(f"{seed!r} is not a whole number", "sweep_seed")
        points = random_points(_random_space(where, space), n, seed)
        if len(points) < n:
            raise where.error(f"only {len(points)} distinct configurations in the space for trials: {n}; "
                              "lower trials: or widen the space", "trials")
    seeds = data["seeds"] if data.get("seeds") is not None else [FIELDS["seed"].default]
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise where.error("needs a list of whole numbers, e.g. [1, 2, 3]", "seeds")
    if len(set(seeds)) < len(seeds):
        raise where.error("lists a seed twice", "seeds")
    for key in ("name", "output", "metric"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise where.error(f"{data[key]!r} is not a string", key)
    return Sweep(path, text, data.get("name") or Path(path).stem, data.get("output"), data.get("metric"), base,
                 list(points[0]), points, seeds)


def trials(sweep: Sweep, folder: str | Path) -> list[Trial]:
    """One trial per configuration and seed (configuration-major), each with the full
    FinetuneConfig `nlplab finetune` would build: task preset < base < swept values."""
    defaults = preset(sweep.base.get("task"), sweep.base.get("model"))
    out, where = [], Where(sweep.path, sweep.text)
    for point in sweep.points:
        for seed in sweep.seeds:
            tid = f"t{len(out):03d}"
            try:
                cfg = FinetuneConfig(**{**defaults, **sweep.base, **point, "seed": seed,
                                        "output": str(Path(folder) / "trials" / tid)})
            except NlplabError as e:
                shown = ", ".join(f"{k}={v}" for k, v in point.items())
                raise where.error(f"trial {tid} ({shown or 'base'}, seed {seed}): {as_keys(str(e))}") from None
            out.append(Trial(tid, dict(point), seed, cfg))
    return out


def as_keys(message: str) -> str:
    """A finetune error in a sweep file's words: its flags (--max-steps N) are keys there
    (max_steps: N, under base: or swept)."""

    def key(m: re.Match) -> str:
        name = m.group(1).replace("-", "_")
        return f"{name}:" if name in FIELDS else m.group(0)

    return re.sub(r"--([a-z][a-z0-9-]*)", key, message)
