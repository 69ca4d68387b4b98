"""Benchmark: the char CNN once per distinct token of a batch (BiLM.encode) against once per
position (`unique_tokens = False`, as before session 7), side by side in one run.

    .venv/bin/python benchmarks/lm_char_encoder.py --steps 6 --threads 2          # CPU, ~4 min
    python3 benchmarks/lm_char_encoder.py --device cuda --steps 50                  # GPU

The elmo-small biLM (char CNN with 2048 filters, 1 highway layer, LSTMP 1024 -> 128) on PTB
train windows of 128 x 20 in stream mode; one full training step (forward, backward, clip,
Adam) per measurement, the two variants alternating on the same batches; medians. Also
reports the distinct share of token positions and the largest gradient difference.
Writes benchmarks/results/lm_char_encoder.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NLPLAB_SHARED", ROOT.parent / "shared" / "data"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=6, help="measured steps per variant (after one warm-up step each)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "lm_char_encoder.json"))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from nlplab.lm import data
    from nlplab.lm.config import filters, preset
    from nlplab.lm.model import BiLM, BiLMConfig
    from nlplab.lm.vocab import TextTokenizer, Vocab

    p = preset("elmo-small")
    device = torch.device(args.device)
    tokens = data.read(str(SHARED / "ptb" / "train.txt"), TextTokenizer())
    vocab = Vocab.build(tokens.counts(), 1, 0)
    batches = data.batches(data.Corpus(tokens, vocab, True, 50), "stream", p["batch_size"], p["bptt"], device,
                           shuffle=True, seed=1)
    torch.manual_seed(0)
    model = BiLM(BiLMConfig(vocab_size=len(vocab), proj_dim=p["proj_dim"], hidden_dim=p["hidden_dim"],
                            char_filters=[list(f) for f in filters(p["char_filters"])], highway=p["highway"])).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=p["lr"])

    def step(b, unique: bool) -> tuple[float, dict]:
        model.unique_tokens = unique
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        nll_f, nll_b, _ = model(b["fwd_in"], b["fwd_tgt"], b["bwd_in"], b["bwd_tgt"])
        loss = (nll_f.mean() + nll_b.mean()) / 2
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), p["clip"])
        grads = {n: q.grad.detach().clone() for n, q in model.named_parameters()}
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t, grads

    times = {True: [], False: []}
    diff, distinct, positions = 0.0, [], 0
    model.train()
    for i in range(args.steps + 1):
        b = batches.batch(i, 0)
        flat = torch.cat([b["fwd_in"], b["bwd_in"]]).reshape(-1, 50)
        distinct.append(torch.unique(flat, dim=0).size(0))
        positions = flat.size(0)
        # the same weights for both: save, run one, restore, run the other, keep the second's update
        state = ({k: v.clone() for k, v in model.state_dict().items()}, optimizer.state_dict())
        torch.manual_seed(i)
        t_u, g_u = step(b, True)
        model.load_state_dict(state[0])
        optimizer.load_state_dict(state[1])
        torch.manual_seed(i)
        t_p, g_p = step(b, False)
        if i:  # the first step of each is warm-up
            times[True].append(t_u)
            times[False].append(t_p)
        diff = max(diff, max(((g_u[n] - g_p[n]).abs().max() / g_p[n].abs().max().clamp(min=1e-12)).item() for n in g_p))
        print(f"step {i}: distinct tokens {distinct[-1]}/{positions}, unique {t_u:.3f}s, every position {t_p:.3f}s",
              file=sys.stderr, flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    tokens_per_step = p["batch_size"] * p["bptt"]
    out = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
                      f"torch {torch.__version__}" + (f", {torch.cuda.get_device_name()}" if device.type == "cuda" else ""),
           "device": str(device), "steps": args.steps, "positions": positions,
           "distinct_median": statistics.median(distinct), "step_seconds_median": {"unique": med[True], "every_position": med[False]},
           "tokens_per_s": {"unique": tokens_per_step / med[True], "every_position": tokens_per_step / med[False]},
           "speedup": med[False] / med[True], "max_relative_grad_difference": diff, "times": {str(k): v for k, v in times.items()}}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"\n{out['machine']}\n| char CNN runs on | step (median) | train tokens/s |\n|---|---|---|")
    print(f"| every position | {med[False]:.3f} s | {tokens_per_step / med[False]:,.0f} |")
    print(f"| distinct tokens ({out['distinct_median']:.0f} of {positions}) | {med[True]:.3f} s | {tokens_per_step / med[True]:,.0f} |")
    print(f"speedup {out['speedup']:.2f}x, largest relative gradient difference {diff:.1e}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
