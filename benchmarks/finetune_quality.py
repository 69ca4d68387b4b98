"""Benchmark: dev quality of `nlplab finetune --model minilm` with no hyperparameter flags
(the shipped per-task presets, nlplab/configs/finetune.yaml), per task and seed.

    .venv/bin/python benchmarks/finetune_quality.py --seeds 1 --sst2-train 10000   # CPU (~25 min)
    python benchmarks/finetune_quality.py --seeds 1,2,3 --data-dir .devdata/glue --bf16  # GPU, full data

Each run is the CLI command a user types (`nlplab finetune --task T --data-dir D --model minilm
-o RUN --seed S`), plus `--max-train-samples` for SST-2 on a CPU. Reported: the best dev score
(the checkpoint the run keeps), train samples/s and wall time. For orientation, the published
dev scores of Microsoft's 6-layer 384-hidden MiniLM (different pretraining): SST-2 91.5,
CoLA 47.5 (MCC), MRPC 88.9.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("NLPLAB_SHARED", ROOT.parent / "shared" / "data"))
PUBLISHED = {"SST-2": 91.5, "CoLA": 47.5, "MRPC": 88.9}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=str(SHARED / "glue"))
    ap.add_argument("--tasks", default="CoLA,MRPC,SST-2")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--sst2-train", type=int, default=0, help="first N SST-2 train rows (0: all 67,349)")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "finetune_quality.json"))
    a = ap.parse_args()
    import torch

    from nlplab.cli import main as cli

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in a.tasks.split(","):
            for seed in [int(s) for s in a.seeds.split(",")]:
                run = Path(tmp) / f"{task}-{seed}"
                args = ["finetune", "--task", task, "--data-dir", a.data_dir, "--model", "minilm", "-o", str(run),
                        "--seed", str(seed), "--no-progress"]
                if task == "SST-2" and a.sst2_train:
                    args += ["--max-train-samples", str(a.sst2_train)]
                if a.bf16:
                    args.append("--bf16")
                t0 = time.perf_counter()
                if cli(args) != 0:
                    raise SystemExit(f"failed: nlplab {' '.join(args)}")
                m = json.loads((run / "metrics.json").read_text())
                cfg = (run / "config.yaml").read_text()
                rows.append({"task": task, "seed": seed, "dev": m["best"]["splits"]["dev"], "best_step": m["best"]["step"],
                             "steps": m["steps"], "samples_per_s": m["samples_per_s"], "seconds": time.perf_counter() - t0,
                             "config": cfg, "command": "nlplab " + " ".join(args[:6] + args[8:])})
                print(f"{task} seed {seed}: {json.dumps(m['best']['splits']['dev'])} "
                      f"({m['samples_per_s']:.0f} samples/s, {time.perf_counter() - t0:.0f}s)", flush=True)
    summary = {}
    for task in a.tasks.split(","):
        got = [r["dev"] for r in rows if r["task"] == task]
        summary[task] = {k: (statistics.mean(g[k] for g in got), statistics.stdev(g[k] for g in got) if len(got) > 1 else 0.0)
                         for k in got[0]}
        summary[task]["published_minilm"] = PUBLISHED.get(task)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    result = {"machine": f"{platform.processor() or platform.machine()}, {device}", "sst2_train": a.sst2_train or "all",
              "runs": rows, "summary": summary, "command": "python benchmarks/finetune_quality.py " + " ".join(sys.argv[1:])}
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    for task, s in summary.items():
        shown = ", ".join(f"{k} {100 * v[0]:.2f} ± {100 * v[1]:.2f}" for k, v in s.items() if k != "published_minilm")
        print(f"{task}: {shown} (published MiniLM-L6-H384: {s['published_minilm']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
