"""Benchmark: Korean sentiment (NSMC) with a BERT trained from scratch on the lab's own
morpheme-aware vocabulary, end to end through the CLI.

    .venv/bin/python benchmarks/nsmc_scratch.py              # ~20 min on 2 CPU cores
    .venv/bin/python benchmarks/nsmc_scratch.py --quick      # 6k rows, smoke run

No pretrained Korean checkpoint is available offline, so this is the floor a Korean
pretraining stage has to lift. Steps, each an `nlplab` command (printed and recorded):
1. split ../shared/data/nsmc/ratings_train.txt (150,000 rows, already shuffled by its
   authors) into train (the first 140,000 rows) and dev (the last 10,000) in --work; the
   raw lines are copied as they are, so the files keep NSMC's format;
2. `nlplab subword train` a unigram vocabulary on the train split, Mecab-pretokenized;
3. `nlplab finetune --model scratch --size mini` on train, best checkpoint by dev accuracy;
4. `nlplab finetune eval RUN --dev ratings_test.txt`: accuracy on the official 50,000-row
   test set, which took no part in training or model selection.
For orientation: Okt + word2vec + BiLSTM about 86.5%, KoBERT 90.1% (pretrained).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("NLPLAB_SHARED", ROOT.parent / "shared" / "data"))


def nlplab(*args) -> tuple[float, str]:
    """Run one CLI command in-process; (seconds, stdout). A failure stops the benchmark."""
    from nlplab.cli import main

    args = [str(a) for a in args]
    print("$ nlplab " + " ".join(shlex.quote(a) for a in args), flush=True)
    out = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = main(args)
    if code != 0:
        raise SystemExit(f"nlplab {args[0]} failed with exit code {code}")
    return time.perf_counter() - t0, out.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default=str(ROOT / "out" / "nsmc-bench"), help="folder for splits, vocabulary and run")
    ap.add_argument("--dev-rows", type=int, default=10_000)
    ap.add_argument("--vocab-size", type=int, default=8000)
    ap.add_argument("--pretokenize", default="mecab")
    ap.add_argument("--size", default="mini")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", default="5e-4")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--quick", action="store_true", help="6,000 train rows, 1 epoch")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "nsmc_scratch.json"))
    a = ap.parse_args()
    import torch

    work = Path(a.work + ("-quick" if a.quick else ""))
    work.mkdir(parents=True, exist_ok=True)
    lines = (SHARED / "nsmc" / "ratings_train.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    head, rows = lines[0], lines[1:]
    train_rows, dev_rows = rows[:-a.dev_rows], rows[-a.dev_rows:]
    if a.quick:
        train_rows, dev_rows, a.epochs, a.out = train_rows[:6000], dev_rows[:2000], 1, a.out.replace(".json", ".quick.json")
    (work / "train.tsv").write_text(head + "".join(train_rows), encoding="utf-8")
    (work / "dev.tsv").write_text(head + "".join(dev_rows), encoding="utf-8")
    vocab, run = work / f"ko-{a.pretokenize}-unigram-{a.vocab_size}", work / f"run-{a.size}"
    steps = {}
    steps["subword train"], _ = nlplab(
        "subword", "train", work / "train.tsv", "--column", "document", "-o", vocab, "--force", "--lang", "ko",
        "--model", "unigram", "--vocab-size", a.vocab_size, "--pretokenize", a.pretokenize, "--no-progress")
    steps["finetune"], _ = nlplab(
        "finetune", "--task", "NSMC", "--train", work / "train.tsv", "--dev", work / "dev.tsv", "--text", "document",
        "--label", "label", "--model", "scratch", "--tokenizer", vocab, "--size", a.size, "--epochs", a.epochs,
        "--lr", a.lr, "--batch-size", a.batch_size, "--max-length", a.max_length, "-o", run, "--force", "--no-progress")
    steps["eval test"], out = nlplab("finetune", "eval", run, "--dev", SHARED / "nsmc" / "ratings_test.txt", "--json")
    test = json.loads(out)["dev"]
    m = json.loads((run / "metrics.json").read_text())
    result = {
        "machine": f"{platform.processor() or platform.machine()}, "
                   f"{torch.cuda.get_device_name() if torch.cuda.is_available() else f'CPU ({os.cpu_count()} cores)'}",
        "train_rows": len(train_rows), "dev_rows": len(dev_rows), "test_rows": test["examples"],
        "vocab": json.loads((vocab / "nlplab_subword.json").read_text()).get("vocab_size"),
        "size": a.size, "parameters": m["parameters"], "epochs": a.epochs, "lr": a.lr, "batch_size": a.batch_size,
        "max_length": a.max_length, "dev_accuracy": m["best"]["splits"]["dev"]["accuracy"],
        "best_step": m["best"]["step"], "test_accuracy": test["accuracy"], "train_samples_per_s": m["samples_per_s"],
        "seconds": steps, "command": "python benchmarks/nsmc_scratch.py " + " ".join(sys.argv[1:])}
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
