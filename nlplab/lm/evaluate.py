"""Perplexity of a biLM on a corpus, per direction and combined.

    nlplab lm eval RUN --data ../shared/data/ptb/test.txt [--json]

forward_ppl = exp(mean NLL of the forward LM), backward_ppl likewise; both directions
predict the same number of tokens of the same stream. mean_ppl = exp of the mean of the
two NLLs (the training loss), i.e. the geometric mean of the two perplexities.
"""

from __future__ import annotations

import contextlib
import math

import torch

from nlplab import dist
from nlplab.lm import data
from nlplab.lm.checkpoint import load_run
from nlplab.lm.data import IGNORE
from nlplab.training.optim import autocast_for


def detach(state):
    """Carry LSTM states to the next window without backpropagating into the last one."""
    if state is None:
        return None
    return tuple([(h.detach(), c.detach()) for h, c in direction] for direction in state)


@torch.no_grad()
def evaluate(model, batches, autocast=contextlib.nullcontext) -> dict:
    was_training = model.training
    model.eval()
    sums = torch.zeros(2, dtype=torch.float64)
    counts = [0, 0]
    state = None
    for i in range(len(batches)):
        b = batches.batch(i)
        with autocast():
            nll_f, nll_b, state = model(b["fwd_in"], b["fwd_tgt"], b["bwd_in"], b["bwd_tgt"], state)
        state = state if batches.stateful else None
        sums += torch.stack([nll_f.double().sum(), nll_b.double().sum()]).cpu()
        counts[0] += int((b["fwd_tgt"] != IGNORE).sum())
        counts[1] += int((b["bwd_tgt"] != IGNORE).sum())
    model.train(was_training)
    # several processes: each read its share of the batches (or streams); sums of all of them
    total = dist.all_reduce_sum(torch.cat([sums, torch.tensor(counts, dtype=torch.float64)]))
    return summarize(total[0].item(), total[1].item(), int(total[2]), int(total[3]))


def summarize(nll_f: float, nll_b: float, n_f: int, n_b: int) -> dict:
    """Perplexities from summed NLLs and token counts."""
    f, b = nll_f / max(n_f, 1), nll_b / max(n_b, 1)
    return {"forward_ppl": math.exp(f), "backward_ppl": math.exp(b), "mean_ppl": math.exp((f + b) / 2),
            "forward_nll": f, "backward_nll": b, "loss": (f + b) / 2, "tokens": n_f, "backward_tokens": n_b}


def eval_file(run, path: str, batch_size: int | None = None, device=None) -> dict:
    """Perplexities of a run's best weights on a file, read the way the run was trained
    (mode, tokenization, vocabulary; --eval-batch-size streams unless given)."""
    r = load_run(run, device)
    cfg = r.cfg
    check = f"check the file (it is read as {run} was trained: its config.yaml's column, clean and pretokenize)"
    tokens = data.read(path, r.tokenizer, cfg.column, check=check)
    corpus = data.Corpus(tokens, r.vocab, cfg.encoder == "char", cfg.max_chars)
    b = data.batches(corpus, cfg.mode, batch_size or cfg.eval_batch_size, cfg.bptt, r.device, eval_=True,
                     batch_flag="--batch-size")
    out = evaluate(r.model, b, autocast_for(r.device, cfg.precision))
    out.update({"data": str(path), "run": str(run), "step": r.step, "unk_rate": corpus.n_unk / max(corpus.n_tokens, 1)})
    return out
