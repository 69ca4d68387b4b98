"""Benchmark: the GLUE baselines (every kind in nlplab.glue.baselines.KINDS: majority class,
word tf-idf + logistic regression, character 1-4-gram tf-idf + logistic regression) on the
GLUE tasks present locally, dev scores per task as a markdown table.

    .venv/bin/python benchmarks/glue_baselines.py      # ~1.5 min on 2 cores

Data: ../shared/data/glue (CoLA, SST-2, MRPC in the classic download_glue_data.py
layout; any other task folder placed there is picked up too). Each baseline is fitted on
train and writes dev and test predictions exactly as `nlplab glue baseline` does; the dev
predictions are then scored by `nlplab glue score`'s code. Metrics x100; two metrics read
F1/acc or Pearson/Spearman; task score = mean of its metrics. Times are wall seconds for
fit + predict + write, all tasks, in this process. Results go to
benchmarks/results/glue_baselines.json.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NLPLAB_SHARED", ROOT.parent / "shared" / "data"))


def table(results: dict[str, dict], seconds: dict[str, float]) -> str:
    from nlplab.glue.metrics import SHORT

    kinds = list(results)
    lines = ["| task | metric | " + " | ".join(kinds) + " |", "|---|---|" + "---|" * len(kinds)]
    first = results[kinds[0]]
    for name, entry in first["entries"].items():
        for m in entry["metrics"]:
            lines.append(f"| {name} | {SHORT[m]} | " + " | ".join(
                f"{100 * results[k]['entries'][name][m]:.2f}" for k in kinds) + " |")
        if len(entry["metrics"]) > 1:
            lines.append(f"| {name} | task score | " + " | ".join(
                f"{100 * results[k]['entries'][name]['score']:.2f}" for k in kinds) + " |")
    n = len(first["averaged_tasks"])
    label = "GLUE score" if first["glue"] is not None else f"average of the {n} tasks"
    key = "glue" if first["glue"] is not None else "average"
    lines.append(f"| **{label}** | | " + " | ".join(f"**{100 * results[k][key]:.2f}**" for k in kinds) + " |")
    lines.append("| time (fit + predict, s) | | " + " | ".join(f"{seconds[k]:.1f}" for k in kinds) + " |")
    return "\n".join(lines)


def main() -> int:
    from nlplab.glue import Glue, baselines
    from nlplab.glue.report import score_dir

    source = Glue(SHARED / "glue")
    results, seconds = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in baselines.KINDS:
            start = time.perf_counter()
            baselines.run(kind, source, Path(tmp) / kind)
            seconds[kind] = time.perf_counter() - start
            results[kind] = score_dir(Path(tmp) / kind, source)
    import sklearn

    machine = (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
               f"scikit-learn {sklearn.__version__}")
    print(table(results, seconds))
    print(f"\ntasks: {', '.join(t.name for t in source.tasks())}; machine: {machine}")
    out = ROOT / "benchmarks" / "results" / "glue_baselines.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "seconds": seconds, "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
