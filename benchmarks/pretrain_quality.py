"""Benchmark: does the lab's pretraining pay on the Korean tasks (issue 22)? Pretrain on the
ko-reviews corpus (NSMC test removed by `nlplab corpus build`), fine-tune each encoder and a
no-pretraining control with the same recipe, score NSMC test, KorSTS dev and KorHate dev.

    .venv/bin/python benchmarks/pretrain_quality.py --work /work/runs --steps 2200

Every step is an `nlplab` command (printed, so any row can be rerun by hand), skipped when
its output already exists (the script resumes):
  1. nlplab corpus build --config ko-reviews --data-dir SHARED -o WORK/ko-reviews
  2. nlplab subword train WORK/ko-reviews -o WORK/spm-ko --lang ko --model unigram
     --vocab-size 8000 --pretokenize mecab
  3. nlplab pretrain WORK/ko-reviews -o WORK/pt-<objective> --tokenizer WORK/spm-ko --size
     mini --max-minutes M (each of --objectives; the schedule's length is --steps, so a run
     cut by the budget ends before its decay finishes: the budget is stated beside it)
  4. nlplab finetune --task T --data-dir SHARED --model WORK/pt-<objective> (and `--model
     scratch --tokenizer WORK/spm-ko --size mini`) with --lr, --epochs (NSMC), --seed
  5. nlplab finetune eval on NSMC's labelled test split (beside dev; never used to pick)
The baselines (majority, word and char TF-IDF) are read from benchmarks/results/
glue_baselines.json (benchmarks/glue_baselines.py) and printed beside the rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NLPLAB_SHARED", ROOT.parent / "shared" / "data"))
TASKS = {"NSMC": "nsmc", "KorSTS": "korsts", "KorHate": "korean-hate-speech"}  # task -> folder under SHARED


def nlplab(*args, log: Path) -> float:
    cmd = [sys.executable, "-m", "nlplab", *map(str, args)]
    print("$ nlplab " + " ".join(map(str, args)), flush=True)
    t0 = time.perf_counter()
    with log.open("a") as f:
        f.write("$ nlplab " + " ".join(map(str, args)) + "\n")
        f.flush()
        r = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        sys.exit(f"failed (exit {r.returncode}); see {log}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, help="folder for the corpus, vocabulary and runs (outside the repo)")
    ap.add_argument("--objectives", default="electra,mlm")
    ap.add_argument("--mask", default="token", help="--mask of pretraining")
    ap.add_argument("--size", default="mini")
    ap.add_argument("--pretrain-lr", type=float, help="pretraining peak lr (default: nlplab pretrain's 5e-4); the run "
                    "folder's name then carries it")
    ap.add_argument("--warmup-ratio", type=float, help="pretraining warmup fraction (default: nlplab pretrain's 0.06)")
    ap.add_argument("--minutes", type=float, default=35.0, help="pretraining time cap per objective (a safety: --steps decides)")
    ap.add_argument("--steps", type=int, default=2200, help="pretraining steps (x 32 x 128 tokens: 9.0M at 2,200)")
    ap.add_argument("--tasks", default="NSMC,KorSTS,KorHate")
    ap.add_argument("--lr", default="3e-4", help="fine-tuning peak learning rate (ELECTRA-Small's)")
    ap.add_argument("--nsmc-epochs", default="1")
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--scratch", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "pretrain_quality.json"))
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    log = work / "pretrain_quality.log"
    corpus, vocab = work / "ko-reviews", work / "spm-ko"
    if not (corpus / "manifest.json").is_file():
        nlplab("corpus", "build", "--config", "ko-reviews", "--data-dir", SHARED, "-o", corpus, "--workers", "2",
               "--no-progress", log=log)
    if not (vocab / "tokenizer.json").is_file():
        nlplab("subword", "train", corpus, "-o", vocab, "--lang", "ko", "--model", "unigram", "--vocab-size", "8000",
               "--pretokenize", "mecab", "--no-progress", log=log)
    models = {}
    for obj in a.objectives.split(","):
        schedule, tag = [], ""  # the run folder's name carries any schedule that is not pretrain's default
        if a.pretrain_lr is not None:
            schedule, tag = [*schedule, "--lr", a.pretrain_lr], f"{tag}-lr{a.pretrain_lr:g}"
        if a.warmup_ratio is not None:
            schedule, tag = [*schedule, "--warmup-ratio", a.warmup_ratio], f"{tag}-warmup{a.warmup_ratio:g}"
        run = work / f"pt-{obj}-{a.size}-{a.mask}{tag}"
        if not (run / "metrics.json").is_file():
            nlplab("pretrain", corpus, "-o", run, "--tokenizer", vocab, "--objective", obj, "--size", a.size,
                   "--mask", a.mask, "--max-steps", a.steps, "--max-minutes", a.minutes, "--eval-every", 1000,
                   "--save-every", 1000, *schedule, "--no-progress", "--force", log=log)
        models[f"{obj}{tag} ({a.mask} masking)"] = (["--model", run], json.loads((run / "metrics.json").read_text()))
    if a.scratch:
        models["none (scratch)"] = (["--model", "scratch", "--tokenizer", vocab, "--size", a.size], None)
    rows = []
    for name, (model_args, pre) in models.items():
        for task in a.tasks.split(","):
            for seed in a.seeds.split(","):
                out = work / f"ft-{task.lower()}-{name.split()[0]}{'' if pre is None else '-' + a.mask}-s{seed}"
                extra = ["--epochs", a.nsmc_epochs] if task == "NSMC" else []
                if not (out / "metrics.json").is_file():
                    nlplab("finetune", "--task", task, "--data-dir", SHARED / TASKS[task], *model_args, "-o", out,
                           "--lr", a.lr, "--seed", seed, *extra, "--no-progress", "--force", log=log)
                got = json.loads((out / "metrics.json").read_text())
                row = {"model": name, "task": task, "seed": int(seed), "run": str(out),
                       "dev": got["best"]["splits"][got["main"]], "train_seconds": got["train_seconds"],
                       "samples_per_s": got["samples_per_s"]}
                if task == "NSMC":
                    ev = out / "eval.json"
                    if not ev.is_file():
                        r = subprocess.run([sys.executable, "-m", "nlplab", "finetune", "eval", str(out), "--json"],
                                           cwd=ROOT, capture_output=True, text=True, check=True)
                        ev.write_text(r.stdout)
                    row["test"] = json.loads(ev.read_text()).get("test")
                if pre is not None:
                    row["pretraining"] = {k: pre[k] for k in ("objective", "steps", "tokens", "tokens_per_s",
                                                              "train_seconds", "stopped", "valid")}
                rows.append(row)
                print(json.dumps({k: row[k] for k in ("model", "task", "seed", "dev")} | {"test": row.get("test")}),
                      flush=True)
    base = json.loads((ROOT / "benchmarks" / "results" / "glue_baselines.json").read_text())["results"]
    Path(a.json).write_text(json.dumps({"machine": f"{platform.machine()}, {os.cpu_count()} cores", "args": vars(a),
                                        "rows": rows, "baselines": {k: v["entries"] for k, v in base.items()}},
                                       indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
