"""Pretraining data: a corpus tokenized once into a memory-mapped token stream, packed into
fixed-length blocks (no padding), each global batch masked the same way on every rank.

    from nlplab.pretrain import data
    stream = data.tokenize("out/ko-reviews", tokenizer, prepare, cache="runs/mlm/cache")
    n = data.n_blocks(stream, 128)
    ids, starts = data.batch(stream, data.order(n, seed=0, epoch=0)[:32], 128, tokenizer.cls_token_id)
    inputs, labels = data.mask_tokens(ids, starts, ..., generator)

The stream (RoBERTa's FULL-SENTENCES packing, Liu et al. 2019 sec. 4.2): every document's
tokens followed by [SEP], documents one after another. Block i is [CLS] + the stream's
tokens i*(L-1) .. (i+1)*(L-1); a block may span documents (the [SEP] between them stays),
the tail shorter than a block is not trained on (counted in the log). `starts` marks the
tokens that begin a word of the tokenizer's pre-tokenizer: the unit of whole-word masking.
With a Mecab-split vocabulary a word is a morpheme (the pre-split joins morphemes with
spaces); with a plain one it is an eojeol.

Cache: RUN/cache/<key>/{ids.npy, starts.npy, meta.json}; the key hashes every input file
(path, size, mtime), the tokenizer's tokenizer.json and the pre-split, so a changed corpus
or tokenizer is tokenized again, never read stale.

Ranks: every rank draws the same block order and masks the whole global batch with the
same generator, then keeps its own rows (`share`): so 2 processes see exactly what 1 does,
and the number of masked tokens of the global batch (the loss's denominator) is known on
every rank without communication.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nlplab import NlplabError, io, shards

BATCH_TEXTS = 1000  # texts per tokenizer call: the fast tokenizer parallelizes inside one


@dataclass
class Stream:
    ids: np.ndarray  # (N,) uint16 (vocab <= 65,536) or int32: token ids, [SEP] after each document
    starts: np.ndarray  # (N,) bool: the token begins a word
    documents: int
    source: str

    def __len__(self) -> int:
        return len(self.ids)


def input_files(path: str) -> list[str]:
    """The files a corpus path stands for: a corpus folder's (or split folder's) shards, or the file."""
    found = shards.files(path, None)
    if found is not None:
        return found
    if not Path(path).is_file():
        raise NlplabError(f"{path}: no such file or corpus folder; give an `nlplab corpus build` folder or a text "
                          "file with one text a line")
    return [path]


def cache_key(path: str, tokenizer_file: str | Path, prepare_key: str | None) -> str:
    h = hashlib.sha256()
    for f in input_files(path):
        st = os.stat(f)
        h.update(f"{os.path.abspath(f)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    h.update(Path(tokenizer_file).read_bytes())
    h.update(str(prepare_key).encode())
    return h.hexdigest()[:16]


def _texts(path: str):
    layout = io.inspect(path, None, None)
    yield from io.iter_texts(layout)


def tokenize(path: str, tokenizer, prepare=None, cache: str | Path | None = None, log=None) -> Stream:
    """The token stream of a corpus (train split of a corpus folder, a split folder, or a
    text file), from the cache when it has it. `prepare`: the subword folder's cleaning +
    pre-split (text -> text), applied before the tokenizer as at vocabulary training."""
    tok_file = Path(tokenizer.name_or_path) / "tokenizer.json"
    key = cache_key(path, tok_file, getattr(prepare, "key", None) if prepare else None) if tok_file.is_file() else None
    folder = Path(cache) / key if cache is not None and key else None
    if folder is not None and (folder / "meta.json").is_file():
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        return Stream(np.load(folder / "ids.npy", mmap_mode="r"), np.load(folder / "starts.npy", mmap_mode="r"),
                      meta["documents"], meta["source"])
    sep = tokenizer.sep_token_id
    if sep is None or tokenizer.cls_token_id is None or tokenizer.mask_token_id is None:
        raise NlplabError(f"{tokenizer.name_or_path}: the tokenizer needs [CLS], [SEP] and [MASK] tokens "
                          "(a WordPiece or SentencePiece folder from nlplab subword train has them)")
    from transformers.utils import logging as hf_logging

    dtype = np.uint16 if len(tokenizer) <= 1 << 16 else np.int32
    ids, starts, docs, batch = [], [], 0, []

    def flush():
        nonlocal docs
        # whole documents, never truncated (blocks cut them): transformers' "longer than the
        # maximum sequence length" notice does not apply
        level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            enc = tokenizer(batch, add_special_tokens=False, return_attention_mask=False, return_token_type_ids=False)
        finally:
            hf_logging.set_verbosity(level)
        for k, row in enumerate(enc["input_ids"]):
            if not row:
                continue  # an empty text after cleaning: nothing to learn from (counted in meta)
            words = enc.word_ids(k)
            first = [w is not None and (j == 0 or words[j - 1] != w) for j, w in enumerate(words)]
            ids.append(np.asarray(row + [sep], dtype=dtype))
            starts.append(np.asarray(first + [True], dtype=bool))
            docs += 1
        batch.clear()

    rows = 0
    for text in _texts(path):
        rows += 1
        batch.append(prepare(text) if prepare is not None else text)
        if len(batch) == BATCH_TEXTS:
            flush()
            if log is not None and rows % (BATCH_TEXTS * 100) == 0:
                log.info("tokenized %d texts, %d tokens", rows, sum(len(a) for a in ids))
    if batch:
        flush()
    if not ids:
        raise NlplabError(f"{path}: no text to pretrain on ({rows} rows, none with a token)")
    stream = Stream(np.concatenate(ids), np.concatenate(starts), docs, str(path))
    if folder is not None:
        tmp = folder.with_name(folder.name + ".tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        np.save(tmp / "ids.npy", stream.ids)
        np.save(tmp / "starts.npy", stream.starts)
        meta = {"documents": docs, "rows": rows, "empty": rows - docs, "tokens": len(stream), "source": str(path),
                "tokenizer": str(tok_file), "prepare": getattr(prepare, "key", None) if prepare else None}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, folder)
    return stream


def n_blocks(stream: Stream, length: int) -> int:
    """Blocks of `length` tokens ([CLS] + length-1 stream tokens) the stream fills."""
    return len(stream) // (length - 1)


def order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The blocks of one epoch in training order: the same on every rank."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def batch(stream: Stream, blocks, length: int, cls_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, starts) of the given blocks: (B, length) int64 and bool, [CLS] first."""
    body = length - 1
    ids = np.stack([stream.ids[b * body:(b + 1) * body] for b in blocks]).astype(np.int64)
    starts = np.stack([stream.starts[b * body:(b + 1) * body] for b in blocks])
    b = len(blocks)
    ids = np.concatenate([np.full((b, 1), cls_id, dtype=np.int64), ids], axis=1)
    starts = np.concatenate([np.ones((b, 1), dtype=bool), starts], axis=1)
    return torch.from_numpy(ids), torch.from_numpy(starts)


def share(rows: int, rank: int, world: int) -> slice:
    """This rank's contiguous rows of a global batch (equal shares; rows % world == 0)."""
    per = rows // world
    return slice(rank * per, (rank + 1) * per)


def mask_tokens(ids: torch.Tensor, starts: torch.Tensor, special: torch.Tensor, mask_id: int, vocab: int,
                generator: torch.Generator, rate: float = 0.15, whole_word: bool = False,
                keep: tuple[float, float] = (0.8, 0.1)) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's dynamic masking (Devlin et al. 2019, sec. 3.1): `rate` of the maskable tokens
    are chosen; of those 80% become [MASK], 10% a random token, 10% stay. `special` is a
    (vocab,) bool table of ids never chosen ([CLS], [SEP], [PAD], ...). whole_word: a word
    (see `starts`) is chosen or not as a unit, at `rate` of the words, so about `rate` of
    the tokens. Returns (inputs, labels): labels are -100 where nothing is predicted.
    keep=(1.0, 0.0) gives ELECTRA's generator input: every chosen token is [MASK]."""
    maskable = ~special[ids]  # (B, T)
    if whole_word:
        # one draw per word, read at its first token: the last start at or before each token
        # (a block that opens mid-word joins those tokens to [CLS], which is never chosen)
        pos = torch.arange(ids.shape[1]).expand_as(ids)
        first = torch.cummax(torch.where(starts, pos, torch.zeros_like(pos)), dim=1).values  # (B, T)
        draw = torch.gather(torch.rand(ids.shape, generator=generator), 1, first)
        chosen = (draw < rate) & maskable
    else:
        chosen = (torch.rand(ids.shape, generator=generator) < rate) & maskable
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    how = torch.rand(ids.shape, generator=generator)
    as_mask = chosen & (how < keep[0])
    as_random = chosen & (how >= keep[0]) & (how < keep[0] + keep[1])
    random_ids = torch.randint(vocab, ids.shape, generator=generator)
    inputs = torch.where(as_mask, torch.full_like(ids, mask_id), ids)
    inputs = torch.where(as_random, random_ids, inputs)
    return inputs, labels


def special_table(tokenizer) -> torch.Tensor:
    """(vocab,) bool: the ids masking never chooses (every special token)."""
    table = torch.zeros(len(tokenizer), dtype=torch.bool)
    table[list(set(tokenizer.all_special_ids))] = True
    return table
