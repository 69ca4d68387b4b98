"""ELMo representations from a trained biLM (Peters et al. 2018, section 3.2).

    nlplab lm embed RUN INPUT -o OUT.pt     # or OUT.npy (+ OUT.json)
    >>> bilm = BiLM.from_run("runs/ptb")
    >>> out = bilm.embed(["the cat sat", "a dog"])    # or lists of tokens
    >>> out[0]["tokens"], out[0]["layers"].shape, out[0]["mix"].shape
    (['the', 'cat', 'sat'], torch.Size([3, 3, 256]), torch.Size([3, 256]))

Each sentence is read alone from a zero state between boundary tokens, left out of the
output: <s> tokens </s> for a sentence-mode run; </s> tokens </s> for a stream-mode run,
whose LMs only ever saw </s> between lines (the previous line's end, in both directions). Per token there are L + 1 layers of 2P values: layer 0 is the token
encoder output written twice (ELMo duplicates it to match the biLSTM layers), layer k is
[forward; backward] output of LSTM layer k. The scalar mix is gamma * sum_k s_k * layer_k
with s = softmax(w); w = 0 and gamma = 1 until a downstream task learns them.

Files: OUT.pt is a torch dict {"tokens": [[str]], "layers": [(L+1, n, 2P)], "mix": [(n, 2P)],
"scalar_mix_weights": (L+1,), "gamma", "layer_names", "run"}. OUT.npy is one float32 array
(all tokens, L+1, 2P) of the sentences one after another, OUT.mix.npy the scalar mix
(all tokens, 2P) in the same rows, and OUT.json gives the alignment: {"tokens": [[str]],
"offsets": [row of each sentence's first token], ...}. The files appear together or not at all.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nlplab import NlplabError
from nlplab.io import atomic_output, check_writable
from nlplab.lm.vocab import char_ids


class ScalarMix(nn.Module):
    """gamma * sum_k softmax(w)_k * layer_k (ELMo, equation 1). With layer_norm, each layer is
    first normalised per token over its D features (no learned scale: gamma and the weights
    are the mix's only parameters). AllenNLP normalises over the whole batch instead, which
    makes a sentence's vector depend on the sentences batched with it."""

    def __init__(self, n_layers: int, layer_norm: bool = False):
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(n_layers))
        self.gamma = nn.Parameter(torch.ones(()))
        self.layer_norm = layer_norm

    def normalized(self) -> torch.Tensor:
        return torch.softmax(self.weights, dim=0)

    def forward(self, layers):  # (L+1, ..., D)
        if self.layer_norm:
            layers = F.layer_norm(layers, layers.shape[-1:])
        s = self.normalized().view(-1, *([1] * (layers.dim() - 1)))
        return self.gamma * (s * layers).sum(0)


def boundaries(vocab, mode: str) -> tuple[str, str]:
    """The tokens a sentence is read between: <s> .. </s> for a sentence-mode run, </s> .. </s>
    for a stream-mode run (its LMs only ever saw </s> between lines)."""
    return vocab.specials["eos" if mode == "stream" else "bos"], vocab.specials["eos"]


def layers(model, tokens: list[list[str]]):
    """Every layer at every position of each sentence read between its boundaries:
    (L+1, B, T, 2P) and the lengths (B,) with the boundaries; layer 0 is the token encoder
    output written twice. Gradients flow when the caller allows them."""
    inputs, lengths = _inputs(model, tokens)
    x, fwd, bwd = model.contextual(inputs.to(next(model.parameters()).device), lengths)
    return torch.stack([torch.cat([x, x], -1)] + [torch.cat([f, b], -1) for f, b in zip(fwd, bwd)]), lengths


def _inputs(model, tokens: list[list[str]]):
    """Padded encoder inputs of each sentence between its boundary tokens, and the lengths."""
    vocab, cfg = model.vocab, model.cfg
    start, end = boundaries(vocab, getattr(getattr(model, "lm_config", None), "mode", "sentence"))
    seqs = [[start, *t, end] for t in tokens]
    lengths = torch.tensor([len(s) for s in seqs])
    T = int(lengths.max())
    if cfg.encoder == "char":
        out = torch.zeros(len(seqs), T, cfg.max_chars, dtype=torch.long)
        for r, s in enumerate(seqs):
            out[r, : len(s)] = char_ids(s, vocab, cfg.max_chars)
    else:
        out = torch.full((len(seqs), T), vocab.pad, dtype=torch.long)
        for r, s in enumerate(seqs):
            out[r, : len(s)] = torch.tensor([vocab.id(t) for t in s])
    return out, lengths


@torch.no_grad()
def embed(model, sentences, batch_size: int = 32) -> list[dict]:
    """sentences: strings (tokenized as in training) or lists of tokens. Returns one dict
    per sentence: tokens, layers (L+1, n, 2P), mix (n, 2P), float32 on the CPU."""
    if not hasattr(model, "vocab"):
        raise NlplabError("embed needs a model loaded with BiLM.from_run(RUN) (it brings the vocabulary and tokenizer)")
    if batch_size < 1:
        raise NlplabError(f"batch_size must be at least 1, got {batch_size}")
    if not hasattr(model, "scalar_mix"):
        model.scalar_mix = ScalarMix(model.cfg.layers + 1).to(next(model.parameters()).device)
    sentences = list(sentences)
    strings = [i for i, s in enumerate(sentences) if isinstance(s, str)]
    tokens = [list(s) if not isinstance(s, str) else None for s in sentences]
    for i, toks in zip(strings, model.tokenizer([sentences[i] for i in strings]) if strings else []):
        tokens[i] = toks
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(tokens), batch_size):
        chunk = tokens[start:start + batch_size]
        every, _ = layers(model, chunk)  # (L+1, B, T, 2P)
        mix = model.scalar_mix(every)  # (B, T, 2P)
        for r, toks in enumerate(chunk):
            n = len(toks)  # positions 1..n: the tokens without the boundaries
            out.append({"tokens": toks, "layers": every[:, r, 1:n + 1].float().cpu(), "mix": mix[r, 1:n + 1].float().cpu()})
    model.train(was_training)
    return out


def mix_path(path: Path) -> Path:
    """OUT.mix.npy beside OUT.npy."""
    return path.with_name(f"{path.stem}.mix{path.suffix}")


def check_output(path: str) -> str:
    """The format of -o from its extension (.pt or .npy, any case), checked before any work:
    not a folder (nor, for .npy, the .json and .mix.npy beside it), inside a folder."""
    p = Path(path)
    fmt = p.suffix.lower()
    if fmt not in (".pt", ".npy"):
        raise NlplabError(f"{path}: write .pt (a torch dict) or .npy (an array plus a .json alignment)")
    for f in [p] + ([p.with_suffix(".json"), mix_path(p)] if fmt == ".npy" else []):
        check_writable(str(f))
    return fmt


def save(outputs: list[dict], path: str, model) -> dict:
    """Write embed() outputs as OUT.pt, or OUT.npy + OUT.mix.npy + OUT.json; all or nothing."""
    p, fmt = Path(path), check_output(path)
    mix = model.scalar_mix
    names = ["token"] + [f"lstm{k}" for k in range(1, model.cfg.layers + 1)]
    meta = {"layer_names": names, "dim": 2 * model.cfg.proj_dim, "scalar_mix_weights": mix.normalized().tolist(),
            "gamma": float(mix.gamma.detach()), "run": str(getattr(model, "run", ""))}
    if fmt == ".pt":
        obj = {"tokens": [o["tokens"] for o in outputs], "layers": [o["layers"] for o in outputs],
               "mix": [o["mix"] for o in outputs], **meta, "scalar_mix_weights": mix.normalized().detach().cpu()}
        with atomic_output(str(p), "wb") as f:
            torch.save(obj, f)
        return meta
    dim, n_layers = meta["dim"], len(names)
    lengths = [len(o["tokens"]) for o in outputs]
    layers = np.concatenate([o["layers"].permute(1, 0, 2).numpy() for o in outputs] or [np.zeros((0, n_layers, dim), np.float32)])
    mixed = np.concatenate([o["mix"].numpy() for o in outputs] or [np.zeros((0, dim), np.float32)])
    meta.update({"tokens": [o["tokens"] for o in outputs], "offsets": np.concatenate([[0], np.cumsum(lengths)[:-1]]).tolist(),
                 "shape": [sum(lengths), n_layers, dim], "mix_file": mix_path(p).name})
    with contextlib.ExitStack() as files:  # each is renamed into place only when all three are written
        np.save(files.enter_context(atomic_output(str(p), "wb")), layers)
        np.save(files.enter_context(atomic_output(str(mix_path(p)), "wb")), mixed)
        files.enter_context(atomic_output(str(p.with_suffix(".json")), "w", "utf-8")).write(
            json.dumps(meta, ensure_ascii=False) + "\n")
    return meta
