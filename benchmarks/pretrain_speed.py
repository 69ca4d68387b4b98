"""Benchmark: `nlplab pretrain --objective mlm` against the Hugging Face run_mlm.py recipe,
side by side in one run (issue 22), with ELECTRA's throughput beside them.

    .venv/bin/python benchmarks/pretrain_speed.py --corpus /work/runs/ko-reviews --tokenizer /work/runs/spm-ko

The same model (a BertForMaskedLM of --size, 64-wide heads, 4x feed-forward), the same
vocabulary, blocks of 128 tokens, batch 32, AdamW at 5e-4 with linear decay, --steps steps,
fp32, torch's default CPU threads:
- hf-run_mlm: run_mlm.py's recipe: texts tokenized with `datasets.map`, concatenated and
  cut into blocks (its group_texts), DataCollatorForLanguageModeling(mlm_probability=0.15),
  Trainer with no evaluation, logging or saving; train tokens/s = steps x 32 x 128 / the
  Trainer's train() seconds (tokenization left out).
- nlplab-mlm: `nlplab pretrain` (masked-only head, packed blocks) with no valid set and no
  checkpoint; train tokens/s from its metrics.json (tokenization left out).
- nlplab-electra: the same with --objective electra (a generator 1/4 wide, a discriminator
  of --size): tokens/s of the discriminator's input.
Both see the first --texts texts of the corpus with the subword folder's Mecab pre-split
applied. Runs are interleaved per repeat; medians over --repeats.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYSTEMS = ("hf-run_mlm", "nlplab-mlm", "nlplab-electra")


def sample(corpus: str, n: int, dst: Path) -> Path:
    from nlplab import io
    from nlplab.pretrain.data import input_files

    out = dst / "texts.txt"
    with out.open("w", encoding="utf-8") as f:
        k = 0
        for path in input_files(corpus):
            for text in io.iter_texts(io.inspect(path, None, None)):
                if text.strip():
                    f.write(text.replace("\n", " ") + "\n")
                    k += 1
                if k == n:
                    return out
    return out


def run_hf(texts: Path, tokenizer: str, size: dict, steps: int, seed: int, out: Path) -> float:
    import datasets
    import torch
    from transformers import (
        AutoTokenizer,
        BertConfig,
        BertForMaskedLM,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainingArguments,
    )
    from transformers.utils import logging as hf_logging

    from nlplab.subword.load import text_prep

    hf_logging.set_verbosity_error()
    datasets.disable_progress_bars()
    tok = AutoTokenizer.from_pretrained(tokenizer)
    prep = text_prep(tokenizer)
    lines = texts.read_text(encoding="utf-8").splitlines()
    ds = datasets.Dataset.from_dict({"text": [prep(t) if prep else t for t in lines]})
    ds = ds.map(lambda ex: tok(ex["text"], return_special_tokens_mask=True), batched=True, remove_columns=["text"])
    block = 128

    def group_texts(ex):  # run_mlm.py's
        concatenated = {k: sum(ex[k], []) for k in ex}
        total = (len(concatenated["input_ids"]) // block) * block
        return {k: [t[i:i + block] for i in range(0, total, block)] for k, t in concatenated.items()}
    ds = ds.map(group_texts, batched=True)
    h = size["hidden"]
    model = BertForMaskedLM(BertConfig(vocab_size=len(tok), hidden_size=h, num_hidden_layers=size["layers"],
                                       num_attention_heads=max(1, h // 64), intermediate_size=4 * h,
                                       max_position_embeddings=512, pad_token_id=tok.pad_token_id))
    args = TrainingArguments(output_dir=str(out), per_device_train_batch_size=32, learning_rate=5e-4, max_steps=steps,
                             seed=seed, weight_decay=0.01, warmup_steps=0.06, lr_scheduler_type="linear",  # v5: a float is a ratio
                             save_strategy="no", eval_strategy="no", logging_strategy="no", report_to="none",
                             disable_tqdm=True, use_cpu=not torch.cuda.is_available(), dataloader_drop_last=True)
    collator = DataCollatorForLanguageModeling(tok, mlm_probability=0.15)
    trainer = Trainer(model=model, args=args, train_dataset=ds, data_collator=collator)
    t0 = time.perf_counter()
    trainer.train()
    return steps * 32 * block / (time.perf_counter() - t0)


def run_nlplab(texts: Path, tokenizer: str, size: str, steps: int, seed: int, objective: str, out: Path) -> float:
    cmd = [sys.executable, "-m", "nlplab", "pretrain", str(texts), "-o", str(out), "--tokenizer", tokenizer,
           "--size", size, "--objective", objective, "--max-length", "128", "--batch-size", "32", "--max-steps",
           str(steps), "--eval-every", "0", "--save-every", "0", "--log-every", "50", "--seed", str(seed),
           "--force", "--no-progress"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"nlplab pretrain failed:\n{r.stderr[-2000:]}")
    return json.loads((out / "metrics.json").read_text())["tokens_per_s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True, help="corpus folder or text file")
    ap.add_argument("--tokenizer", required=True, help="subword folder")
    ap.add_argument("--size", default="mini")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--texts", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "pretrain_speed.json"))
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from benchmarks.cli_startup import machine
    from nlplab.pretrain.model import size

    systems = a.systems.split(",")
    got = {s: [] for s in systems}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        texts = sample(a.corpus, a.texts, tmp)
        run_nlplab(texts, a.tokenizer, a.size, 2, 0, "mlm", tmp / "warm")  # page cache, .pyc: not timed
        for r in range(a.repeats):
            for s in systems:
                out = tmp / s
                if s == "hf-run_mlm":
                    got[s].append(run_hf(texts, a.tokenizer, size(a.size), a.steps, r + 1, out))
                else:
                    got[s].append(run_nlplab(texts, a.tokenizer, a.size, a.steps, r + 1, s.split("-")[1], out))
                print(f"repeat {r + 1}: {s}: {got[s][-1]:,.0f} tokens/s", flush=True)
    med = {s: statistics.median(v) for s, v in got.items()}
    base = med.get("hf-run_mlm")
    print(f"\nmachine: {machine()}; BERT {a.size}, blocks of 128, batch 32, {a.steps} steps; medians of {a.repeats}\n")
    print("| system | train tokens/s | vs hf-run_mlm |\n|---|---|---|")
    for s in systems:
        print(f"| {s} | {med[s]:,.0f} | {med[s] / base:.2f}x |" if base else f"| {s} | {med[s]:,.0f} | |")
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps({"machine": machine(), "size": a.size, "steps": a.steps, "texts": a.texts,
                                        "repeats": a.repeats, "runs": got, "median": med}, indent=1) + "\n")


if __name__ == "__main__":
    main()
