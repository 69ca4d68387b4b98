"""Benchmark: nlplab's biLM (forward + backward) against a plain 2-layer LSTM LM of the same
parameter count and training budget, side by side in one run, on PTB and WikiText-2.

    .venv/bin/python benchmarks/lm.py --corpus ptb --preset small --epochs 5          # CPU budget
    .venv/bin/python benchmarks/lm.py --corpus wikitext2 --preset small --epochs 5
    .venv/bin/python benchmarks/lm.py --corpus ptb --preset elmo-small --device cuda --epochs 10
    .venv/bin/python benchmarks/lm.py --quick     # 3,000 PTB lines, 100 steps each: smoke run

The plain LM is the pytorch/examples word_language_model setup (embedding -> 2-layer
nn.LSTM -> decoder tied to the embedding, dropout on both sides); its width is chosen so
that its parameter count matches the biLM's. Both read the same stream batches (batch
size, window, epochs, optimizer, clipping and schedule of the preset), so both see the
same tokens for the same number of steps; the biLM runs two LMs over each of them.
Reported: valid (best epoch) and test perplexity per direction, parameters, tokens/s
(median over steps; a token read by both directions counts once), the fraction of step
time spent getting the batch, and peak GPU memory on CUDA. Writes benchmarks/results/lm.json.
Data: ../shared/data/ptb/{train,valid,test}.txt and wikitext-2/{train.reordered,valid,test}.txt.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NLPLAB_SHARED", ROOT.parent / "shared" / "data"))
CORPORA = {"ptb": ("ptb", "train.txt"), "wikitext2": ("wikitext-2", "train.reordered.txt")}


class PlainLM(nn.Module):
    """pytorch/examples word_language_model RNNModel('LSTM', tied=True)."""

    def __init__(self, vocab: int, dim: int, layers: int, dropout: float, variational: bool = False):
        super().__init__()
        from nlplab.lm.model import LockedDropout

        self.drop = LockedDropout(dropout) if variational else nn.Dropout(dropout)
        self.encoder = nn.Embedding(vocab, dim)
        self.rnn = nn.LSTM(dim, dim, layers, dropout=0.0 if variational else dropout, batch_first=True)
        self.decoder = nn.Linear(dim, vocab)
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        self.decoder.weight = self.encoder.weight

    def forward(self, x, state=None):
        y, state = self.rnn(self.drop(self.encoder(x)), state)
        return self.decoder(self.drop(y)), state


def setting(text: str) -> tuple[str, object]:
    """--set hidden_dim=1500 -> ("hidden_dim", 1500); values read as YAML scalars."""
    import yaml

    from nlplab.lm.config import LMConfig

    key, sep, value = text.partition("=")
    if not sep or key not in LMConfig.__dataclass_fields__:
        raise argparse.ArgumentTypeError(f"{text!r}: write KEY=VALUE with an LMConfig field as KEY")
    return key, yaml.safe_load(value)


def plain_params(vocab: int, dim: int, layers: int) -> int:
    return vocab * dim + vocab + layers * (8 * dim * dim + 8 * dim)


def slice_file(src: Path, lines: int | None, tmp: Path) -> str:
    if not lines:
        return str(src)
    out = tmp / f"{src.parent.name}-{src.name}"
    with open(src, encoding="utf-8") as f:
        out.write_text("".join(line for _, line in zip(range(lines), f)), encoding="utf-8")
    return str(out)


def train_plain(cfg, corpora: dict, vocab_size: int, dim: int, device) -> dict:
    """The pytorch/examples loop with our optimizer/schedule/clipping and batches."""
    from nlplab.lm import data
    from nlplab.training.optim import (
        clip_gradients,
        make_optimizer,
        make_scaler,
        make_schedule,
        seed_everything,
        update,
    )

    seed_everything(cfg.seed)
    model = PlainLM(vocab_size, dim, 2, cfg.dropout, cfg.variational).to(device)
    train_b = data.batches(corpora["train"], "stream", cfg.batch_size, cfg.bptt, device)
    eval_b = {s: data.batches(corpora[s], "stream", cfg.eval_batch_size, cfg.bptt, device, eval_=True) for s in ("valid", "test")}
    optimizer = make_optimizer(cfg, model, device)
    total = cfg.epochs * len(train_b) if not cfg.max_steps else min(cfg.max_steps, cfg.epochs * len(train_b))
    scheduler, scaler = make_schedule(cfg, optimizer, total), make_scaler("fp32")
    loss_fn = nn.CrossEntropyLoss()

    @torch.no_grad()
    def ppl(b) -> float:
        model.eval()
        nll, n, state = 0.0, 0, None
        for i in range(len(b)):
            x = b.batch(i)
            logits, state = model(x["fwd_in"], state)
            nll += nn.functional.cross_entropy(logits.flatten(0, 1).float(), x["fwd_tgt"].flatten(), reduction="sum").item()
            n += x["fwd_tgt"].numel()
        model.train()
        return math.exp(nll / n)

    step, best, best_state, step_t, data_t, rates = 0, None, None, [], [], []
    for epoch in range(cfg.epochs):
        state = None
        for i in range(len(train_b)):
            t0 = time.perf_counter()
            x = train_b.batch(i, epoch)
            t1 = time.perf_counter()
            logits, state = model(x["fwd_in"], state)
            loss = loss_fn(logits.flatten(0, 1).float(), x["fwd_tgt"].flatten())
            loss.backward()
            clip_gradients(model, optimizer, scaler, cfg.clip)
            update(optimizer, scheduler, scaler, plateau=cfg.scheduler == "plateau")  # the very step nlplab's loop takes
            state = tuple(s.detach() for s in state)
            loss.item()  # the same one sync per step as nlplab's loop
            step += 1
            step_t.append(time.perf_counter() - t0)
            data_t.append(t1 - t0)
            rates.append(x["tokens"] / step_t[-1])
            if step >= total:
                break
        v = ppl(eval_b["valid"])
        if cfg.scheduler == "plateau":
            scheduler.step(v)
        if best is None or v < best:
            best, best_state = v, {k: t.detach().clone() for k, t in model.state_dict().items()}
        if step >= total:
            break
    model.load_state_dict(best_state)
    return {"valid_ppl": best, "test_ppl": ppl(eval_b["test"]), "parameters": sum(p.numel() for p in model.parameters()),
            "dim": dim, "steps": step, "tokens_per_s_median": statistics.median(rates),
            "data_fraction": sum(data_t) / sum(step_t),
            "peak_gpu_memory_mb": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None}


def bench_corpus(name: str, args, tmp: Path) -> dict:
    from nlplab.lm import data
    from nlplab.lm.config import LMConfig, preset
    from nlplab.lm.train import run
    from nlplab.lm.vocab import TextTokenizer, Vocab

    folder, train_name = CORPORA[name]
    lines = (3000, 300) if args.quick else (None, None)
    files = {"train": slice_file(SHARED / folder / train_name, lines[0], tmp),
             "valid": slice_file(SHARED / folder / "valid.txt", lines[1], tmp),
             "test": slice_file(SHARED / folder / "test.txt", lines[1], tmp)}
    over = {"epochs": args.epochs, "max_steps": 100 if args.quick else args.max_steps, "device": args.device,
            "max_minutes": args.max_minutes, "mode": "stream", "log_every": 50, "save_every": 0}
    cfg = LMConfig(**{**preset(args.preset), **dict(args.set), **{k: v for k, v in over.items() if v is not None},
                      "train": files["train"], "valid": files["valid"], "test": files["test"], "output": str(tmp / f"bilm-{name}")})
    device = torch.device("cuda" if cfg.device != "cpu" and torch.cuda.is_available() else "cpu")

    # (a) the biLM, through nlplab's own training loop
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    s = run(cfg, progress=False)
    bilm = {"parameters": s["parameters"], "forward_parameters": s["forward_parameters"], "steps": s["steps"],
            "epochs": s["epochs"], "stopped": s["stopped"], "seconds": time.perf_counter() - t,
            "valid": {k: s["best"][k] for k in ("forward_ppl", "backward_ppl", "mean_ppl")},
            "test": {k: s["test"][k] for k in ("forward_ppl", "backward_ppl", "mean_ppl")},
            "tokens_per_s_median": s["tokens_per_s_median"], "data_fraction": s["data_fraction"],
            "peak_gpu_memory_mb": s["peak_gpu_memory_mb"]}
    # the numbers as soon as they exist: a run cut at its time budget (benchmarks/gpu/run.sh) still reports them
    print(f"[{name}] biLM done in {bilm['seconds']:.0f}s: {json.dumps(bilm)}", file=sys.stderr, flush=True)

    # (b) the plain LSTM LM with as many parameters, same vocabulary, batches and budget: the
    # biLM's steps (with --max-minutes the biLM's clock decides where both stop)
    cfg = dataclasses.replace(cfg, max_steps=s["steps"])
    tok = TextTokenizer()
    train_tokens = data.read(files["train"], tok)
    vocab = Vocab.build(train_tokens.counts(), cfg.min_count, cfg.max_vocab)
    corpora = {"train": data.Corpus(train_tokens, vocab)}
    corpora.update({k: data.Corpus(data.read(files[k], tok), vocab) for k in ("valid", "test")})
    dim = min(range(16, 4097), key=lambda d: abs(plain_params(len(vocab), d, 2) - s["parameters"]))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    plain = train_plain(cfg, corpora, len(vocab), dim, device)
    plain["seconds"] = time.perf_counter() - t
    print(f"[{name}] plain LSTM done in {plain['seconds']:.0f}s: {json.dumps(plain)}", file=sys.stderr, flush=True)
    return {"files": files, "vocab_size": len(vocab), "device": str(device), "bilm": bilm, "plain": plain}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", choices=["ptb", "wikitext2", "both"], default="both")
    ap.add_argument("--preset", default="small", help="nlplab/configs/lm.yaml preset (word encoder presets compare best)")
    ap.add_argument("--epochs", type=int, help="epochs for both models (default: the preset's)")
    ap.add_argument("--max-steps", type=int, help="cap on steps for both models")
    ap.add_argument("--max-minutes", type=float, help="time budget of the biLM; the plain LM then runs as many steps")
    ap.add_argument("--set", action="append", default=[], type=setting, metavar="KEY=VALUE",
                    help="override one LMConfig field of the preset (repeatable), e.g. --set hidden_dim=1500")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--quick", action="store_true", help="PTB only, 3,000 train / 300 valid+test lines, 100 steps each")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "lm.json"))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = ["ptb"] if args.quick else (["ptb", "wikitext2"] if args.corpus == "both" else [args.corpus])
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            results[name] = bench_corpus(name, args, Path(tmp))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    if torch.cuda.is_available() and args.device != "cpu":
        machine += f", {torch.cuda.get_device_name()}"
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "quick": args.quick, "preset": args.preset, "epochs": args.epochs,
                               "set": dict(args.set), "max_minutes": args.max_minutes,
                               "results": results}, indent=1) + "\n", encoding="utf-8")
    print(f"\nmachine: {machine}; preset {args.preset}{' (quick)' if args.quick else ''}\n")
    print("| corpus | model | params | valid fwd | valid bwd | test fwd | test bwd | tokens/s | data % | peak GPU MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        b, p = r["bilm"], r["plain"]
        mem = lambda m: f"{m['peak_gpu_memory_mb']:,.0f}" if m["peak_gpu_memory_mb"] else "-"  # noqa: E731
        print(f"| {name} | biLM | {b['parameters'] / 1e6:.2f}M | {b['valid']['forward_ppl']:.1f} | {b['valid']['backward_ppl']:.1f} "
              f"| {b['test']['forward_ppl']:.1f} | {b['test']['backward_ppl']:.1f} | {b['tokens_per_s_median']:,.0f} "
              f"| {100 * b['data_fraction']:.1f} | {mem(b)} |")
        print(f"| {name} | plain LSTM ({p['dim']}) | {p['parameters'] / 1e6:.2f}M | {p['valid_ppl']:.1f} | - | {p['test_ppl']:.1f} "
              f"| - | {p['tokens_per_s_median']:,.0f} | {100 * p['data_fraction']:.1f} | {mem(p)} |")
    print(f"\n{out}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
