"""`nlplab corpus build|export|stats`: the parsers and the plain functions they call."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path

from nlplab import config


def add_commands(sub):
    from nlplab.corpus.config import CorpusConfig

    p = sub.add_parser("corpus", help="pretraining corpora: clean, filter, deduplicate, decontaminate raw dumps")
    ss = p.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
    b = ss.add_parser("build", help="raw txt/tsv/csv/jsonl (.gz/.bz2/.xz/.zst) -> DIR/train, DIR/valid parquet + manifest",
                      description="Build a corpus folder. Stages, each counted in manifest.json: clean, length, "
                                  "language, decontaminate (--exclude), exact and near dedup, train/valid split.")
    config.add_arguments(b, CorpusConfig, positional=("inputs",), skip=("exclude",))
    b.add_argument("--exclude", action="extend", nargs="+", default=argparse.SUPPRESS, metavar="FILE[:FIELD,...]",
                   help="evaluation files kept out of the corpus (by normalized text and long n-grams); "
                        "added to a recipe's list, never replacing it")
    b.add_argument("--config", help="a recipe: a shipped name (ko-reviews, en-reviews) or a YAML file with any of the "
                                    "options above; flags override it")
    b.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="show a progress bar")
    for action in b._actions:
        if action.dest == "inputs":
            action.nargs, action.metavar = "*", "INPUT[:FIELD]"
    b.set_defaults(func=cmd_build)

    e = ss.add_parser("export", help="write a corpus split as plain text, one text a line, for other tools")
    e.add_argument("folder", help="corpus folder from `nlplab corpus build`")
    e.add_argument("-o", "--output", required=True, help="txt file")
    e.add_argument("--split", choices=["train", "valid", "all"], default="train")
    e.set_defaults(func=cmd_export)

    s = ss.add_parser("stats", help="the manifest as a table, and length histograms (PNG)")
    s.add_argument("folder", help="corpus folder from `nlplab corpus build`")
    s.add_argument("--png", help="write the length histograms here (default: DIR/lengths.png)")
    s.add_argument("--json", action="store_true", help="print the manifest's counts as JSON")
    s.set_defaults(func=cmd_stats)


def resolve(args):
    """Defaults < recipe < flags; the recipe's paths are read from --data-dir and its
    --exclude list is kept when flags add to it."""
    from nlplab.corpus.config import CorpusConfig, recipe_path, resolve_paths

    names = {f.name for f in dataclasses.fields(CorpusConfig)}
    flags = {k: v for k, v in vars(args).items() if k in names}
    values = {}
    if args.config:
        values = config.load_yaml(str(recipe_path(args.config)), CorpusConfig, "recipe")
    from_recipe = {k for k in values if k not in flags or k in ("exclude", "exclude_if_present")}
    if flags.get("inputs") == []:
        del flags["inputs"]
    recipe_excludes = values.get("exclude") or []
    values.update(flags)
    if "exclude" in flags:
        values["exclude"] = list(recipe_excludes) + list(flags["exclude"])
    cfg = CorpusConfig(**values)
    if args.config:
        n = len(recipe_excludes)  # only the recipe's own entries are data-dir paths
        extra = cfg.exclude[n:]
        cfg.exclude = cfg.exclude[:n]
        resolve_paths(cfg, from_recipe)
        cfg.exclude += extra
    return cfg


def cmd_build(args) -> int:
    from nlplab.corpus import build

    cfg = resolve(args)
    manifest = build.build(cfg, progress=args.progress, command=shlex.join(["nlplab", *args.argv]))
    print(f"{cfg.output}: {build.main_summary(manifest)}", file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    from nlplab import io
    from nlplab.corpus.read import manifest

    manifest(args.folder)  # a one-line error for anything but a corpus folder
    splits = ("train", "valid") if args.split == "all" else (args.split,)
    layouts = [io.inspect(io.corpus_split(args.folder, s) or str(Path(args.folder) / s)) for s in splits]
    io.check_writable(args.output, [f for layout in layouts for f in layout.files])
    rows = joined = 0
    with io.atomic_output(args.output, "w", encoding="utf-8") as out:
        for layout in layouts:
            for text in io.iter_texts(layout):
                if "\n" in text or "\r" in text:  # one text a line: a line break inside becomes a space
                    joined += 1
                    text = " ".join(text.splitlines())
                out.write(text + "\n")
                rows += 1
    note = f"; {joined:,} texts held line breaks, written as spaces" if joined else ""
    print(f"{args.output}: {rows:,} texts from {args.folder} ({args.split}){note}", file=sys.stderr)
    return 0


def cmd_stats(args) -> int:
    from nlplab.corpus import stats

    folder = Path(args.folder)
    manifest = stats.load(folder)
    if args.json:
        import json

        print(json.dumps(stats.counts(manifest), ensure_ascii=False, indent=1))
    else:
        print(stats.table(manifest))
    png = args.png or str(folder / "lengths.png")
    stats.histograms(manifest, png)
    print(f"{png}: length histograms", file=sys.stderr)
    return 0

