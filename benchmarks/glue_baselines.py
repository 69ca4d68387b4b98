"""Benchmark: the harness baselines (every kind in nlplab.glue.baselines.KINDS: majority class,
word tf-idf + logistic regression, character 1-4-gram tf-idf + logistic regression) on every
task present locally, GLUE and Korean, dev (and labelled test) scores as markdown tables.

    .venv/bin/python benchmarks/glue_baselines.py                          # GLUE, Korean, IMDB; 3 repeats
    .venv/bin/python benchmarks/glue_baselines.py --suites ko --repeats 1  # the Korean tasks once

Data: ../shared/data as laid out there (glue/CoLA,SST-2,MRPC; nsmc/; korsts/ train+dev;
korean-hate-speech/; imdb/), found by `nlplab.glue.Glue(ROOT).tasks()`; any other task placed
there in its published layout is picked up too. Each baseline is fitted on train and writes
dev and test predictions exactly as `nlplab glue baseline` does; they are then scored by
`nlplab glue score`'s code (test: where the test file is labelled, NSMC and IMDB here).
NSMC's dev is the last 10,000 rows of ratings_train.txt, so its models fit on the other
140,000. Metrics x100; the scores are the same every repeat (fixed seeds), the times are the
median over repeats of fit + predict + write per task, in this process. Results go to
benchmarks/results/glue_baselines.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NLPLAB_SHARED", ROOT.parent / "shared" / "data"))


def table(results: dict[str, dict], seconds: dict[str, dict], part: str = "dev") -> str:
    from nlplab.glue.metrics import SHORT

    kinds = list(results)
    pick = (lambda r: r) if part == "dev" else (lambda r: r.get("test", {"entries": {}}))
    first = pick(results[kinds[0]])
    if not first["entries"]:
        return ""
    lines = ["| task | metric | " + " | ".join(kinds) + " |", "|---|---|" + "---|" * len(kinds)]
    for name, entry in first["entries"].items():
        for m in entry["metrics"]:
            lines.append(f"| {name} | {SHORT[m]} | " + " | ".join(
                f"{100 * pick(results[k])['entries'][name][m]:.2f}" for k in kinds) + " |")
        if part == "dev":
            lines.append(f"| {name} | fit + predict, s | " + " | ".join(
                f"{seconds[k][name]:.1f}" for k in kinds) + " |")
    for key, label in (("glue", "GLUE score"), ("korean", "Korean score"), ("average", "average")):
        if first.get(key) is not None and (key != "average" or first.get("glue") is first.get("korean") is None):
            n = len(first["korean_tasks"]) if key == "korean" else 9 if key == "glue" else len(first["averaged_tasks"])
            lines.append(f"| **{label}** ({n} task{'s' * (n != 1)}) | | " + " | ".join(
                f"**{100 * pick(results[k])[key]:.2f}**" for k in kinds) + " |")
    return "\n".join(lines)


def main() -> int:
    from nlplab.glue import Glue, baselines
    from nlplab.glue.report import score_dir
    from nlplab.glue.tasks import SUITES

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suites", default="glue,ko,en", help="comma-separated: glue, ko, en")
    ap.add_argument("--repeats", type=int, default=3, help="fits per kind and task; times are medians")
    args = ap.parse_args()
    source = Glue(SHARED)
    out = {"machine": None, "suites": {}}
    for suite in args.suites.split(","):
        names = [t.name for t in source.tasks() if t.name in SUITES[suite]]
        if not names:
            print(f"{suite}: no task in {SHARED}", file=sys.stderr)
            continue
        results, seconds = {}, {}
        for kind in baselines.KINDS:
            runs = []
            for _ in range(args.repeats):
                with tempfile.TemporaryDirectory() as tmp:
                    info = baselines.run(kind, source, Path(tmp) / kind, names)
                    results[kind] = score_dir(Path(tmp) / kind, source, names)
                runs.append({n: v["seconds"] for n, v in info["tasks"].items()})
            seconds[kind] = {n: statistics.median(r[n] for r in runs) for n in names}
        out["suites"][suite] = {"tasks": names, "seconds": seconds, "results": results}
        print(f"\n## {suite}: dev\n\n{table(results, seconds)}")
        test = table(results, seconds, "test")
        if test:
            print(f"\n## {suite}: test (labelled test files)\n\n{test}")
    # every suite's entries under one score per kind: what `nlplab report` reads as baselines
    from nlplab.glue.metrics import summarize

    out["results"] = {}
    for kind in baselines.KINDS:
        merged = {k: v for s in out["suites"].values() for k, v in s["results"][kind]["entries"].items()}
        tests = {k: v for s in out["suites"].values() for k, v in s["results"][kind].get("test", {}).get("entries", {}).items()}
        out["results"][kind] = {"run": kind, "path": "", "data": str(SHARED), "entries": merged, **summarize(merged),
                                **({"test": {"entries": tests, **summarize(tests)}} if tests else {})}
    import sklearn

    out["machine"] = (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                      f"scikit-learn {sklearn.__version__}")
    out["repeats"] = args.repeats
    print(f"\nmachine: {out['machine']}; {args.repeats} repeat(s), times are medians")
    path = ROOT / "benchmarks" / "results" / "glue_baselines.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
