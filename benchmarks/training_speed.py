"""Benchmark: training throughput of one commit against the working tree (issue 21: the
training plumbing moved to nlplab/training/ with no loss of speed).

    .venv/bin/python benchmarks/training_speed.py --rev 1ea0ffb      # before the refactor vs now

Two whole commands, each in a fresh process, the trees interleaved repeat by repeat so
drift on a shared machine hits both alike:
- `nlplab finetune --task SST-2 --model minilm` on the first --samples train rows, one
  epoch: the run's train samples/s (metrics.json; evaluations left out);
- `nlplab lm train` (PTB, the `small` preset: tied word embeddings, LSTMP 512/128) for
  --lm-steps steps: the run's train tokens/s.
Only flags both trees take are given. The "before" tree is unpacked with git archive
(benchmarks/cli_startup.py's unpack) and run with the same interpreter; medians over
--repeats, and the ratio after / before.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_startup import ROOT, SHARED, machine, unpack  # noqa: E402


def commands(args, out: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (nlplab arguments, the metrics.json key of its throughput)."""
    return {
        "finetune SST-2 MiniLM": (["finetune", "--task", "SST-2", "--data-dir", str(SHARED / "glue"), "--model", "minilm",
                                   "--max-train-samples", str(args.samples), "--max-eval-samples", "64", "--epochs", "1",
                                   "--seed", "1", "-o", str(out / "ft"), "--force", "--no-progress"], "samples_per_s"),
        "lm train PTB small": (["lm", "train", str(SHARED / "ptb" / "train.txt"), "--preset", "small", "--max-steps",
                                str(args.lm_steps), "--seed", "1", "-o", str(out / "lm"), "--force", "--no-progress"],
                               "tokens_per_s"),
    }


def throughput(src: Path, argv: list[str], key: str, out: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    r = subprocess.run([sys.executable, "-m", "nlplab", *argv], cwd=src, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed in {src}: nlplab {' '.join(argv)}\n{r.stderr[-2000:]}")
    run = Path(argv[argv.index("-o") + 1])
    return json.loads((run / "metrics.json").read_text())[key]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rev", required=True, help="the 'before' commit")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--samples", type=int, default=1600, help="fine-tuning: train rows (one epoch)")
    ap.add_argument("--lm-steps", type=int, default=150, help="biLM: optimizer steps")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "training_speed.json"))
    args = ap.parse_args()
    os.environ.setdefault("NLTK_DATA", str(SHARED / "nltk_data"))
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.rev], capture_output=True, text=True,
                             check=True).stdout.strip()
        trees = {f"before ({rev})": unpack(args.rev, tmp / "before"), "after (working tree)": ROOT}
        cmds = commands(args, tmp / "runs")
        got = {(t, c): [] for t in trees for c in cmds}
        for i in range(args.repeats):
            for t, src in trees.items():
                for c, (argv, key) in cmds.items():
                    got[t, c].append(throughput(src, argv, key, tmp))
                    print(f"repeat {i + 1}: {t}: {c}: {got[t, c][-1]:,.0f} {key}", flush=True)
    results = [{"tree": t, "command": c, "unit": key, "median": statistics.median(got[t, c]), "runs": got[t, c]}
               for c, (_, key) in cmds.items() for t in trees]
    print(f"\nmachine: {machine()}; medians of {args.repeats} runs\n")
    print("| command | " + " | ".join(trees) + " | after / before |")
    print("|---|" + "---|" * (len(trees) + 1))
    for c, (_, key) in cmds.items():
        m = [statistics.median(got[t, c]) for t in trees]
        print(f"| {c} ({key}) | " + " | ".join(f"{x:,.0f}" for x in m) + f" | {m[1] / m[0]:.2f}x |")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), "repeats": args.repeats, "rev": rev, "samples": args.samples,
                               "lm_steps": args.lm_steps, "results": results}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
