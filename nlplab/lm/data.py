"""Corpora as id tensors, and the two ways the biLM reads them.

Stream mode (running text: PTB, WikiText): the whole file is one id stream with </s>
after every line (Mikolov's PTB convention; it gives WikiText's published token
counts), cut into B contiguous streams and read in windows of T tokens. The forward LM
reads the streams left to right, the backward LM reads the same streams reversed; each
carries its LSTM state from one window to the next (detached), so both see the text as
one long sequence and both predict the same tokens.

Sentence mode: each line is <s> w1 .. wn </s>, batches are padded and the padding is
never a target. A line longer than T + 1 tokens is cut into pieces of T + 1 that
overlap by one token, so every token is still predicted once per direction. The backward
LM reads each line reversed within its own length, so padding stays at the end.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass

import numpy as np
import torch

from nlplab import NlplabError, io
from nlplab.batching import group_by_length
from nlplab.lm.vocab import Vocab, char_ids

IGNORE = -100  # target id of padding: cross_entropy's ignore_index


@dataclass
class Tokens:
    """A file read and tokenized: each token as an index into `types` (its distinct
    strings, first-seen order), and the number of tokens on each line."""

    path: str
    types: list[str]
    ids: np.ndarray  # (N,) int64
    lengths: np.ndarray  # (lines,) int64

    def counts(self) -> dict[str, int]:
        return dict(zip(self.types, np.bincount(self.ids, minlength=len(self.types)).tolist()))


def read(path: str, tokenizer, column: str | None = None, chunk: int = 2000,
         check: str = "check the file, --column, --clean and --pretokenize") -> Tokens:
    """Tokenize every line of a txt file (or the --column of a tsv/csv/jsonl file; each
    text of a corpus folder's parquet shards, which is one line here: a document's newlines
    are whitespace, its end is the line's </s>). `check`: the advice when no token is left."""
    layout = io.inspect(path, None, column)
    types: dict[str, int] = {}
    ids = array("q")  # 8 bytes a token, where a list of ints takes ~36
    lengths: list[int] = []
    batch: list[str] = []

    def flush():
        for toks in tokenizer(batch):
            lengths.append(len(toks))
            ids.extend([types.setdefault(t, len(types)) for t in toks])
        batch.clear()

    for text in io.iter_texts(layout):
        batch.append(text)
        if len(batch) == chunk:
            flush()
    flush()
    if not lengths:
        raise NlplabError(f"{path}: empty corpus (no lines); give a file with text")
    if not ids:
        raise NlplabError(f"{path}: no tokens left after cleaning and tokenizing ({len(lengths):,} lines); "
                          f"{check}")
    return Tokens(path, list(types), np.frombuffer(ids, dtype=np.int64).copy(), np.asarray(lengths, dtype=np.int64))


class Corpus:
    """Token ids of one file against one vocabulary. `inputs` feed the token encoder:
    vocabulary ids, or for the char CNN rows of `chars` (each distinct token of the file
    spelled out, so words outside the vocabulary keep their spelling); `targets` are
    vocabulary ids (<unk> for unknown words)."""

    def __init__(self, tokens: Tokens, vocab: Vocab, char_cnn: bool = False, max_chars: int = 50):
        self.path, self.lengths = tokens.path, tokens.lengths
        types = tokens.types + [vocab.specials[k] for k in ("eos", "bos", "pad")]
        n = len(tokens.types)
        self.eos_t, self.bos_t, self.pad_t = n, n + 1, n + 2
        self.to_vocab = torch.tensor([vocab.id(t) for t in types], dtype=torch.long)
        self.chars = char_ids(types, vocab, max_chars) if char_cnn else None
        self.type_ids = torch.from_numpy(tokens.ids)
        self.n_tokens = len(tokens.ids)
        self.n_unk = int((self.to_vocab[self.type_ids] == vocab.unk).sum())

    def _pair(self, type_ids: torch.Tensor):
        """(inputs, targets) of a sequence of type ids."""
        targets = self.to_vocab[type_ids]
        return (type_ids if self.chars is not None else targets), targets

    def stream(self):
        """The whole file as one sequence with </s> after every line: (inputs, targets), (N,) each."""
        total = self.n_tokens + len(self.lengths)
        seq = torch.full((total,), self.eos_t, dtype=torch.long)
        is_token = torch.ones(total, dtype=torch.bool)
        is_token[torch.from_numpy(np.cumsum(self.lengths + 1) - 1)] = False
        seq[is_token] = self.type_ids
        return self._pair(seq)

    def sentences(self, bptt: int):
        """<s> line </s> for every non-empty line, cut into pieces of at most bptt + 1
        tokens overlapping by one: a list of (inputs, targets) pairs."""
        out, start = [], 0
        for n in self.lengths.tolist():
            if n:
                seq = torch.cat([torch.tensor([self.bos_t]), self.type_ids[start:start + n], torch.tensor([self.eos_t])])
                for s in range(0, n + 1, bptt):
                    out.append(self._pair(seq[s:s + bptt + 1]))
            start += n
        return out


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row of x (B, T, ...) within its length; padding stays at the end."""
    B, T = x.shape[:2]
    t = torch.arange(T, device=x.device).expand(B, T)
    n = lengths.to(x.device)[:, None]
    idx = torch.where(t < n, n - 1 - t, t)  # (B, T)
    idx = idx.view(B, T, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, idx)


class StreamBatches:
    """B contiguous streams read in windows of T. Batch i: the forward LM reads tokens
    [iT, iT + t) of each stream and predicts [iT + 1, iT + t + 1); the backward LM does
    the same on the streams reversed."""

    stateful = True

    def __init__(self, corpus: Corpus, batch_size: int, bptt: int, device, flags=("--batch-size", "--bptt"),
                 eval_: bool = False):
        inputs, targets = corpus.stream()
        n = len(inputs) // batch_size
        if eval_ and n < 2:  # evaluation takes a last window shorter than bptt; one prediction a stream is enough
            raise NlplabError(f"{corpus.path}: {len(inputs):,} tokens make {batch_size} streams of {n}, too short to "
                              f"predict a token; lower {flags[0]}")
        if not eval_ and n < bptt + 1:
            raise NlplabError(f"{corpus.path}: {len(inputs):,} tokens make {batch_size} streams of {n:,}, too short for "
                              f"a window of {flags[1]} {bptt} (needs {bptt + 1}); lower {flags[0]} or {flags[1]}")
        # (B, n): row b is tokens [b*n, (b+1)*n); the tail that does not fill a row is left out
        self.inputs = inputs[: n * batch_size].view(batch_size, n).to(device)
        self.targets = targets[: n * batch_size].view(batch_size, n).to(device)
        self.rev_inputs, self.rev_targets = self.inputs.flip(1), self.targets.flip(1)
        self.chars = corpus.chars.to(device) if corpus.chars is not None else None
        self.bptt, self.batch_size, self.n = bptt, batch_size, n
        self.n_batches = math.ceil((n - 1) / bptt)
        self.tokens = batch_size * (n - 1)  # predicted per direction and pass

    def __len__(self) -> int:
        return self.n_batches

    def shard(self, rank: int, world: int) -> StreamBatches:
        """Keep this rank's streams, rows [rank*B/world, (rank+1)*B/world): training with
        B = per-rank batch x world reads the global batch's windows in parts, and the
        carried states of all ranks, concatenated in rank order, are the global ones."""
        lo, hi = rank * self.batch_size // world, (rank + 1) * self.batch_size // world
        for k in ("inputs", "targets", "rev_inputs", "rev_targets"):
            setattr(self, k, getattr(self, k)[lo:hi])
        self.batch_size, self.rows = hi - lo, (lo, hi)
        self.tokens = self.batch_size * (self.n - 1)
        if not self.batch_size:  # fewer streams than ranks (evaluation): nothing to read here
            self.n_batches = 0
        return self

    def batch(self, i: int, epoch: int = 0) -> dict:
        s = i * self.bptt
        t = min(self.bptt, self.n - 1 - s)
        fwd_in, bwd_in = self.inputs[:, s:s + t], self.rev_inputs[:, s:s + t]  # (B, t)
        if self.chars is not None:
            fwd_in, bwd_in = self.chars[fwd_in], self.chars[bwd_in]  # (B, t, max_chars)
        return {"fwd_in": fwd_in, "fwd_tgt": self.targets[:, s + 1:s + t + 1],
                "bwd_in": bwd_in, "bwd_tgt": self.rev_targets[:, s + 1:s + t + 1], "tokens": self.batch_size * t}


class SentenceBatches:
    """Padded batches of sentences (pieces). Training batches group similar lengths, as
    fine-tuning does: shuffle, sort each mega-batch of 50 batches by length, cut it into
    batches, shuffle the batches; seeded with seed + epoch, so a resumed run sees the same
    order. Evaluation (shuffle=False) keeps the file order."""

    mega = 50

    stateful = False

    def __init__(self, corpus: Corpus, batch_size: int, bptt: int, device, shuffle: bool = False, seed: int = 0,
                 flags=("--batch-size", "--bptt")):
        self.items = corpus.sentences(bptt)
        if shuffle and len(self.items) < batch_size:  # training; evaluation reads a short batch
            raise NlplabError(f"{corpus.path}: {len(self.items):,} sentences, fewer than {flags[0]} {batch_size}; "
                              f"lower {flags[0]}")
        self.pad_in = corpus.pad_t if corpus.chars is not None else int(corpus.to_vocab[corpus.pad_t])
        self.chars = corpus.chars
        self.batch_size, self.shuffle, self.seed, self.device = batch_size, shuffle, seed, device
        self.n_batches = math.ceil(len(self.items) / batch_size)
        self.tokens = sum(len(t) - 1 for _, t in self.items)
        self._order = (None, None)
        self.rank, self.world, self.index = 0, 1, None

    def __len__(self) -> int:
        return self.n_batches if self.index is None else len(self.index)

    def shard(self, rank: int, world: int, whole: bool = False) -> SentenceBatches:
        """This rank's part: every world-th sentence of each (global) batch for training, or
        with `whole` every world-th batch (evaluation: the very batches one process reads)."""
        if whole:
            self.index = list(range(rank, self.n_batches, world))
        else:
            self.rank, self.world = rank, world
        return self

    def order(self, epoch: int) -> list[list[int]]:
        """The epoch's global batches, as lists of sentence indices."""
        if self._order[0] != epoch:
            n, bs = len(self.items), self.batch_size
            if not self.shuffle:
                out = [list(range(i, min(i + bs, n))) for i in range(0, n, bs)]
            else:
                g = torch.Generator().manual_seed(self.seed + epoch)
                lengths = [len(t) for _, t in self.items]
                out = group_by_length(torch.randperm(n, generator=g).tolist(), lengths, bs, self.mega)
                out = [out[k] for k in torch.randperm(len(out), generator=g).tolist()]
            self._order = (epoch, out)
        return self._order[1]

    def batch(self, i: int, epoch: int = 0) -> dict:
        if self.index is not None:
            i = self.index[i]
        picked = [self.items[j] for j in self.order(epoch)[i]]
        real = True
        if self.world > 1:  # a share of the global batch; none left: one sentence that predicts nothing
            mine = picked[self.rank::self.world]
            real, picked = bool(mine), mine or picked[:1]
        lengths = torch.tensor([len(t) for _, t in picked])
        L = int(lengths.max())
        inp = torch.full((len(picked), L), self.pad_in, dtype=torch.long)
        tgt = torch.full((len(picked), L), IGNORE, dtype=torch.long)
        for r, (x, y) in enumerate(picked):
            inp[r, : len(x)], tgt[r, : len(y)] = x, y
        if not real:
            tgt.fill_(IGNORE)
        rin, rtgt = reverse_padded(inp, lengths), reverse_padded(tgt, lengths)
        fwd_in, bwd_in = inp[:, :-1], rin[:, :-1]  # (b, L-1)
        if self.chars is not None:
            fwd_in, bwd_in = self.chars[fwd_in], self.chars[bwd_in]  # (b, L-1, max_chars)
        out = {"fwd_in": fwd_in, "fwd_tgt": tgt[:, 1:], "bwd_in": bwd_in, "bwd_tgt": rtgt[:, 1:]}
        out = {k: v.to(self.device, non_blocking=True) for k, v in out.items()}
        out["tokens"] = int((lengths - 1).sum()) if real else 0
        return out


def batches(corpus: Corpus, mode: str, batch_size: int, bptt: int, device, shuffle=False, seed=0, eval_=False,
            batch_flag: str | None = None):
    """Training (shuffle) or evaluation batches; batch_flag names the option that set
    batch_size in errors (default: --batch-size, or --eval-batch-size for evaluation)."""
    flags = (batch_flag or ("--eval-batch-size" if eval_ else "--batch-size"), "--bptt")
    if mode == "stream":
        return StreamBatches(corpus, batch_size, bptt, device, flags, eval_)
    return SentenceBatches(corpus, batch_size, bptt, device, shuffle, seed, flags)
