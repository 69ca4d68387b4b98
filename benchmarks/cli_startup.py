"""Benchmark: how long `nlplab` takes to start (issue 21): `--version`, `preprocess --help`
and a one-line `tokenize --text` through Mecab, each a whole command in a fresh process.

    .venv/bin/python benchmarks/cli_startup.py                 # the working tree
    .venv/bin/python benchmarks/cli_startup.py --rev b34862d   # that commit (before) and the working tree (after)

Each command runs as `python -m nlplab ...` (what the `nlplab` script does: import
nlplab.cli, build the parser, run the command); medians over --repeats, the variants
interleaved so drift on a shared machine hits all alike. `--rev` unpacks the commit with
`git archive` into a temporary folder and runs it with the same interpreter and
PYTHONPATH pointing there (no worktree, nothing in the checkout changes). One extra run
per command records which heavy libraries the command imported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NLPLAB_SHARED", ROOT.parent / "shared" / "data"))

COMMANDS = {
    "python -c pass": None,  # the interpreter alone: the floor under every other row
    "nlplab --version": ["--version"],
    "nlplab --help": ["--help"],
    "nlplab preprocess --help": ["preprocess", "--help"],
    "nlplab tokenize --text ... --tokenizer mecab": ["tokenize", "--text", "아버지가 방에 들어가신다", "--tokenizer", "mecab"],
}
HEAVY = ["torch", "transformers", "datasets", "pyarrow", "numpy", "sklearn", "jpype", "konlpy", "tokenizers",
         "sentencepiece", "matplotlib", "kiwipiepy"]

# Runs the CLI as `python -m nlplab` does, then prints which HEAVY modules it imported.
PROBE = r'''
import runpy, sys, json
heavy = json.loads(sys.argv[1]); sys.argv = ["nlplab", *sys.argv[2:]]
try:
    runpy.run_module("nlplab", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
print(json.dumps([m for m in heavy if m in sys.modules]), file=sys.stderr)
'''


def command(args: list[str] | None) -> list[str]:
    return [sys.executable, "-c", "pass"] if args is None else [sys.executable, "-m", "nlplab", *args]


def run(cmd: list[str], src: Path) -> subprocess.CompletedProcess:
    # cwd=src: `python -m` puts the current folder first on sys.path, so the checkout under test wins
    env = {**os.environ, "PYTHONPATH": str(src)}
    r = subprocess.run(cmd, cwd=src, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed in {src}: {' '.join(cmd)}\n{r.stderr}")
    return r


def timed(cmd: list[str], src: Path) -> float:
    t = time.perf_counter()
    run(cmd, src)
    return time.perf_counter() - t


def unpack(rev: str, dst: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "nlplab"], capture_output=True, check=True).stdout
    with tempfile.TemporaryFile() as f:
        f.write(archive)
        f.seek(0)
        with tarfile.open(fileobj=f) as tar:
            tar.extractall(dst, filter="data")
    return dst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rev", help="also time this commit (the 'before'), e.g. the one before the change")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "cli_startup.json"))
    args = ap.parse_args()
    os.environ.setdefault("NLTK_DATA", str(SHARED / "nltk_data"))
    with tempfile.TemporaryDirectory() as tmpdir:
        trees = {}
        if args.rev:
            rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.rev],
                                 capture_output=True, text=True, check=True).stdout.strip()
            trees[f"before ({rev})"] = unpack(args.rev, Path(tmpdir))
        trees["after (working tree)" if args.rev else "working tree"] = ROOT
        times = {(t, c): [] for t in trees for c in COMMANDS}
        for src in trees.values():  # warm the caches (page cache, .pyc) before timing
            for c in COMMANDS.values():
                run(command(c), src)
        for _ in range(args.repeats):
            for t, src in trees.items():
                for c, cmd in COMMANDS.items():
                    times[t, c].append(timed(command(cmd), src))
        results = []
        for t, src in trees.items():
            for c, cmd in COMMANDS.items():
                imported = None
                if cmd is not None:
                    r = run([sys.executable, "-c", PROBE, json.dumps(HEAVY), *cmd], src)
                    imported = json.loads(r.stderr.strip().splitlines()[-1])
                results.append({"tree": t, "command": c, "median_s": round(statistics.median(times[t, c]), 3),
                                "runs_s": [round(x, 3) for x in times[t, c]], "imports": imported})
    print(f"\nmachine: {machine()}; medians of {args.repeats} runs; whole commands in fresh processes\n")
    print("| command | " + " | ".join(trees) + " |")
    print("|---|" + "---|" * len(trees))
    for c in COMMANDS:
        cells = [next(r for r in results if r["tree"] == t and r["command"] == c) for t in trees]
        print(f"| `{c}` | " + " | ".join(f"{r['median_s']:.2f} s" for r in cells) + " |")
    for r in results:
        if r["imports"]:
            print(f"{r['tree']}: {r['command']} imports {', '.join(r['imports'])}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), "repeats": args.repeats, "results": results},
                              indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}"


if __name__ == "__main__":
    main()
