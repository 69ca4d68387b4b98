"""Dataclass configs: one per command, turned into CLI flags, read from YAML, saved per run.

Every field has a default and a one-line help (`opt(default, "help")`), which becomes
the flag's --help. A YAML file given with --config sets fields too; flags given on the
command line win. Unknown YAML keys are an error, not ignored.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import typing
from pathlib import Path

import yaml

from nlplab import NlplabError


def opt(default, help: str, choices=None, flag: list[str] | None = None):
    """A config field with its --help line (and optional choices / flag name)."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "flag": flag})


def _base_type(cls, f):
    t = typing.get_type_hints(cls)[f.name]
    args = [a for a in typing.get_args(t) if a is not type(None)]
    return args[0] if args else t


def add_arguments(parser: argparse.ArgumentParser, cls, positional=(), skip=(), defaults=None) -> None:
    """Add one flag per field of `cls`. Defaults are left out of the namespace (SUPPRESS)
    so `resolve` can tell flags the user gave from defaults."""
    defaults = defaults or {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        help_ = f.metadata.get("help", "").replace("%", "%%")  # argparse formats help with %: "15%" is literal
        default = defaults.get(f.name, f.default)
        if f.name in positional:
            parser.add_argument(f.name, help=help_, default=argparse.SUPPRESS, nargs="?")
            continue
        names = f.metadata.get("flag") or ["--" + f.name.replace("_", "-")]
        t = _base_type(cls, f)
        shown = f" (default: {default})".replace("%", "%%") if default not in (None, False, "") else ""
        if t is bool:
            # --x and --no-x: a preset or a --config file may have set it either way (a field named
            # no_x is its own flag: argparse would read --no-x as False)
            action = "store_true" if any(n.startswith("--no-") for n in names) else argparse.BooleanOptionalAction
            parser.add_argument(*names, dest=f.name, action=action, default=argparse.SUPPRESS, help=help_ + shown)
        else:
            parser.add_argument(*names, dest=f.name, type=t if t in (int, float) else str, choices=f.metadata.get("choices"),
                                default=argparse.SUPPRESS, help=help_ + shown, metavar=None if f.metadata.get("choices") else f.name.upper())


def load_yaml(path: str, cls, what: str = "config file") -> dict:
    """A YAML mapping whose keys are fields of `cls`; `what` names the file in errors."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise NlplabError(f"{path}: {what} not found; check the path") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise NlplabError(f"{path}{where}: not valid YAML ({getattr(e, 'problem', e)}); fix the syntax") from None
    if not isinstance(data, dict):
        raise NlplabError(f"{path}: a {what} is a YAML mapping of option: value")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise NlplabError(f"{path}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(fields))}")
    for key, value in data.items():
        data[key] = _typed(path, key, value, _base_type(cls, fields[key]))
    return data


def _typed(path, key: str, value, t):
    """A YAML value as the field's type: numbers must be numbers (YAML 1.1 reads 1e-4 as a
    string: it is taken as the number it spells), switches true/false."""
    if value is None or t not in (int, float, bool):
        return value
    if t is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    elif t is bool and isinstance(value, bool):
        return value
    elif t is not bool and not isinstance(value, bool) and isinstance(value, int if t is int else (int, float)):
        return value
    kind = {int: "a whole number", float: "a number", bool: "true or false"}[t]
    raise NlplabError(f"{path}: {key}: {value!r} is not {kind}; fix the value")


def resolve(cls, args: argparse.Namespace, config_file: str | None = None, defaults=None):
    """Defaults < YAML file < flags given on the command line."""
    values = dict(defaults or {})
    if config_file:
        values.update(load_yaml(config_file, cls))
    values.update({k: v for k, v in vars(args).items() if k in {f.name for f in dataclasses.fields(cls)}})
    return cls(**values)


def save(cfg, path: str | os.PathLike) -> None:
    """Write the config as YAML, atomically."""
    write_atomic(path, yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False, allow_unicode=True))


def write_atomic(path, text: str) -> None:
    """Write a text file whole or not at all (nlplab.io.atomic_output)."""
    from nlplab.io import atomic_output

    with atomic_output(str(path), "w", encoding="utf-8") as f:
        f.write(text)
