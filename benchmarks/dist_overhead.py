"""Benchmark: what several processes cost or gain (nlplab/dist.py), for `nlplab finetune`
(a scratch BERT on SST-2) and `nlplab lm train` (the small preset on PTB).

    .venv/bin/python benchmarks/dist_overhead.py            # CPU: 1 process vs 2 gloo processes
    .venv/bin/python benchmarks/dist_overhead.py --quick    # fewer steps, one repeat: a smoke run
    python benchmarks/dist_overhead.py --size mini          # on a GPU machine: 1 GPU vs all GPUs

CPU: the same global batch (1 x B against 2 x B/2) and the same threads in all (each of the
2 processes gets half the --threads), so the figure is the price of gloo's gradient
all-reduce and of splitting the work, not of more compute. GPUs: the same per-GPU batch
(weak scaling, what a user does with more GPUs); scaling efficiency = rate(N) / (N x rate(1)).
Each run is the command a user types (`--nproc N`); the rate is train-only (finetune:
train samples/s of metrics.json; lm: the median tokens/s over steps), median of --repeats.
Writes benchmarks/results/dist_overhead.json. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NLPLAB_SHARED", ROOT.parent / "shared" / "data"))


def nlplab(args: list, nproc: int, threads: int) -> tuple[dict, float]:
    """Run one training command; (its metrics.json, wall seconds)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "nlplab", *map(str, args), "--no-progress"] + (["--nproc", str(nproc)] if nproc > 1 else [])
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-3000:]}")
    out = Path(args[args.index("-o") + 1])
    return json.loads((out / "metrics.json").read_text()), time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps, one repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", default="tiny", choices=["tiny", "mini", "small"], help="finetune: scratch BERT size")
    ap.add_argument("--threads", type=int, default=2, help="CPU: threads in all (1 process: all; N: threads/N each)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "dist_overhead.json"))
    a = ap.parse_args()
    gpus = torch.cuda.device_count()
    worlds = [1, 2] if gpus < 2 else [1, gpus]
    repeats = 1 if a.quick else a.repeats
    ft_steps, lm_steps = (10, 6) if a.quick else (40, 20)  # lm small on a CPU: seconds per step
    ft_batch, lm_batch = (32, 32) if not gpus else (32, 64)  # CPU: global batch; GPU: per GPU
    tmp = Path(tempfile.mkdtemp(prefix="dist-bench-"))
    env_py = [sys.executable, "-m", "nlplab"]

    # data: SST-2 train (first 4,000), a wordpiece vocabulary from it; PTB train
    glue = tmp / "glue" / "SST-2"
    glue.mkdir(parents=True)
    rows = (SHARED / "glue" / "SST-2" / "train.tsv").read_text(encoding="utf-8").splitlines()
    (glue / "train.tsv").write_text("\n".join(rows[:4001]) + "\n", encoding="utf-8")
    (glue / "dev.tsv").write_text((SHARED / "glue" / "SST-2" / "dev.tsv").read_text(encoding="utf-8"), encoding="utf-8")
    subprocess.run([*env_py, "subword", "train", glue / "train.tsv", "-o", tmp / "wp", "--column", "sentence",
                    "--lang", "en", "--model", "wordpiece", "--vocab-size", "4000"], cwd=ROOT, check=True,
                   capture_output=True)

    results = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
                           "gpus": [torch.cuda.get_device_name(i) for i in range(gpus)], "threads": a.threads},
               "quick": a.quick, "repeats": repeats, "finetune": {}, "lm": {}}
    for world in worlds:
        threads = max(1, a.threads // world) if not gpus else 1
        per = ft_batch // world if not gpus else ft_batch
        ft, lm = [], []
        for r in range(repeats):
            m, wall = nlplab(["finetune", "--task", "SST-2", "--data-dir", tmp / "glue", "--model", "scratch",
                              "--tokenizer", tmp / "wp", "--size", a.size, "-o", tmp / f"ft-{world}-{r}",
                              "--batch-size", per, "--max-steps", ft_steps, "--max-eval-samples", 64], world, threads)
            ft.append((m["samples_per_s"], wall))
            per_lm = lm_batch // world if not gpus else lm_batch
            m, wall = nlplab(["lm", "train", SHARED / "ptb" / "train.txt", "-o", tmp / f"lm-{world}-{r}", "--preset", "small",
                              "--batch-size", per_lm, "--max-steps", lm_steps, "--log-every", 10], world, threads)
            lm.append((m["tokens_per_s_median"], wall))
            print(f"world {world} repeat {r}: finetune {ft[-1][0]:,.0f} samples/s, lm {lm[-1][0]:,.0f} tokens/s",
                  file=sys.stderr)
        results["finetune"][str(world)] = {"per_device_batch": per, "global_batch": per * world, "steps": ft_steps,
                                           "samples_per_s": statistics.median(x for x, _ in ft),
                                           "wall_s": statistics.median(w for _, w in ft), "runs": [x for x, _ in ft]}
        results["lm"][str(world)] = {"per_process_batch": per_lm, "global_batch": per_lm * world, "steps": lm_steps,
                                     "tokens_per_s": statistics.median(x for x, _ in lm),
                                     "wall_s": statistics.median(w for _, w in lm), "runs": [x for x, _ in lm]}
    one, many = str(worlds[0]), str(worlds[1])
    for kind, key in (("finetune", "samples_per_s"), ("lm", "tokens_per_s")):
        ratio = results[kind][many][key] / results[kind][one][key]
        results[kind]["speedup"] = ratio
        results[kind]["scaling_efficiency"] = ratio / worlds[1]
        print(f"{kind}: {worlds[1]} processes / 1 process = {ratio:.2f}x ({key})", file=sys.stderr)
    if not a.quick or a.out != ap.get_default("out"):
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {a.out}", file=sys.stderr)
    else:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
