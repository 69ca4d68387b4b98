"""Diagnosis (issue 22): why ELECTRA's discriminator stayed at its prior (AUC 0.54) in the
session-11 run. Trains nlplab's ELECTRA module (nlplab/pretrain/model.py, the same forward and
loss as `nlplab pretrain --objective electra`: generator MLM + 50 x replaced-token BCE, AdamW,
gradients clipped at 1) on fresh batches of real text at a few constant learning rates (after
an optional linear warmup, --warmup), and logs the discriminator's loss and AUC on each batch.

    .venv/bin/python benchmarks/electra_collapse.py --corpus runs/ko-reviews --tokenizer runs/spm-ko

If the discriminator first learns (AUC well above 0.5) and then falls back to the prior
(loss ln-entropy of the replaced rate, AUC 0.5) at the recipe's 5e-4 but not at a lower
rate, the failure is the optimisation (rate and warmup), not the wiring.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def texts(corpus: Path, n: int) -> list[str]:
    """The first n texts of a corpus folder's train split (or of a text file)."""
    if corpus.is_dir():
        import pyarrow.parquet as pq

        first = sorted((corpus / "train").glob("*.parquet"))[0]
        return pq.read_table(first, columns=["text"]).column("text").to_pylist()[:n]
    return corpus.read_text(encoding="utf-8").splitlines()[:n]


def untie(m) -> None:
    """The generator gets its own copy of the embeddings and its own output layer (ELECTRA's
    sec. 3.2 'no sharing' arm): does the generator's MLM gradient on the shared word embeddings
    take the discriminator down with it?"""
    import copy

    g = m.generator
    g.electra.embeddings = copy.deepcopy(m.discriminator.electra.embeddings)
    g.generator_lm_head.weight = torch.nn.Parameter(g.electra.embeddings.word_embeddings.weight.detach().clone())


def spread(emb: torch.Tensor, gen: torch.Generator, n: int = 512) -> float:
    """Mean cosine similarity of n random pairs of word-embedding rows (0: spread out; 1: one direction)."""
    i, j = torch.randint(len(emb), (2, n), generator=gen)
    return float(torch.nn.functional.cosine_similarity(emb[i], emb[j], dim=-1).mean())


def run(lr: float, rows: torch.Tensor, tok, steps: int, batch: int, size: str, seed: int, warmup: int = 0,
        share: bool = True, frozen_generator: bool = False) -> list[dict]:
    from nlplab.pretrain import model

    torch.manual_seed(seed)
    m = model.build("electra", model.size(size), tok, rows.shape[1])
    if not share or frozen_generator:
        untie(m)
    if frozen_generator:  # the generator stays as initialised: its samples stay near-uniform over the vocabulary
        m.generator.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: min(1.0, (i + 1) / warmup) if warmup else 1.0)
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(steps + 1):
        ids = rows[torch.randint(len(rows), (batch,), generator=gen)]
        chosen = torch.rand(ids.shape, generator=gen) < 0.15
        labels = torch.where(chosen, ids, -100)
        inputs = torch.where(chosen, tok.mask_token_id, ids)  # ELECTRA's generator sees [MASK] only
        g, s = m(inputs, labels, ids, torch.rand(int(chosen.sum()), generator=gen))
        loss = (0 if frozen_generator else g / chosen.sum()) + model.DISCRIMINATOR_WEIGHT * s["disc_loss_sum"] / ids.numel()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        sched.step()
        if i % 25 == 0:
            r = float(s["replaced"]) / ids.numel()
            out.append({"step": i, "mlm_loss": float(g.detach()) / int(chosen.sum()),
                        "mlm_accuracy": float(s["correct"]) / int(chosen.sum()),
                        "disc_loss": float(s["disc_loss_sum"].detach()) / ids.numel(), "replaced": r,
                        "prior_loss": -(r * math.log(r) + (1 - r) * math.log(1 - r)),
                        "disc_auc": model.auc(s["disc_logits"], s["disc_labels"]),
                        "embedding_cosine": spread(m.discriminator.electra.embeddings.word_embeddings.weight.detach(),
                                                   torch.Generator().manual_seed(i))})
            print(f"lr {lr:g} step {i}: " + ", ".join(f"{k} {v:.3f}" for k, v in out[-1].items() if k != "step"),
                  flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True, help="an nlplab corpus folder or a text file")
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--lrs", default="5e-4,1e-4")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--length", type=int, default=64)
    ap.add_argument("--texts", type=int, default=8000)
    ap.add_argument("--size", default="tiny")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=0, help="linear warmup over this many steps (0: constant lr)")
    ap.add_argument("--no-share", action="store_true", help="the generator with its own embeddings and output layer")
    ap.add_argument("--frozen-generator", action="store_true", help="the generator (its own embeddings) never trained: "
                    "near-uniform replacements, an easy task that does not get harder")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "electra_collapse.json"))
    a = ap.parse_args()
    from nlplab.subword.load import load_tokenizer, text_prep

    tok, prep = load_tokenizer(a.tokenizer), text_prep(a.tokenizer)
    ids: list[int] = []
    for t in texts(Path(a.corpus), a.texts):
        ids += tok(prep(t), add_special_tokens=False)["input_ids"] + [tok.sep_token_id]
    n = len(ids) // a.length
    rows = torch.tensor(ids[:n * a.length]).view(n, a.length)
    t0 = time.perf_counter()
    runs = {lr: run(float(lr), rows, tok, a.steps, a.batch, a.size, a.seed, a.warmup, not a.no_share, a.frozen_generator) for lr in a.lrs.split(",")}
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
              "args": vars(a), "blocks": n, "seconds": time.perf_counter() - t0, "runs": runs}
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    for lr, r in runs.items():
        best = max(r, key=lambda x: x["disc_auc"])
        print(f"lr {lr}: best AUC {best['disc_auc']:.3f} at step {best['step']}, last AUC {r[-1]['disc_auc']:.3f}, "
              f"last disc loss {r[-1]['disc_loss']:.3f} (prior {r[-1]['prior_loss']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
