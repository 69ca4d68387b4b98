"""The inputs of the ELMo task models (nlplab/finetune/elmo.py): a run of `nlplab lm train`
read the way fine-tuning reads a tokenizer, and its frozen biLM's layers for a split,
computed once and cached memory-mapped.

    nlplab finetune --task SST-2 --data-dir ../shared/data/glue --model bilm:runs/lm -o runs/sst2-elmo

An example is its text(s) tokenized as the LM run tokenizes (cleaning, pre-tokenizer or
subword pieces), each read between the biLM's boundary tokens and kept with them (<s> .. </s>;
</s> .. </s> for a stream-mode run), so an empty text is two positions, never none. A pair is
side a then side b (token_type_ids 0 then 1), cut longest side first to --max-length
positions in all. input_ids are the LM vocabulary's ids (what the bilstm control embeds and
`nlplab serve` shows); the features are the biLM's L + 1 layers at every position,
(positions, L+1, 2P) in float16, each side read by the biLM alone.

The cache: CACHE/<TASK>.<split>.<key>.elmo.npy, the rows, and .json, the key and each
example's first row; CACHE is RUN/cache or --elmo-cache. The key is a sha256 of the LM run's
identity (its vocabulary's fingerprint and model.pt's sha256) and of every example's tokens
after truncation, so a changed LM run, changed data or another tokenization (cleaning,
pre-tokenizer, --max-length) computes them again. The rows file is written under a
temporary name and renamed into place before its .json: a crash leaves no half cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nlplab import NlplabError
from nlplab.config import write_atomic
from nlplab.finetune.data import Encoded, label_ids

FORMAT = 1  # of the cache's rows: bumped when the layout above changes
BUDGET = 8192  # positions per biLM batch when computing the features


def check_lm_folder(kind: str, run) -> Path:
    """The folder of a finished `nlplab lm train` run (bilm: with its best weights, model.pt)."""
    folder = Path(run)
    what = f"--model {kind}:{run}"
    if not folder.is_dir():
        raise NlplabError(f"{what}: no such folder; name the -o folder of `nlplab lm train`")
    if not (folder / "config.yaml").is_file() or not (folder / "vocab.json").is_file():
        raise NlplabError(f"{what}: not a run folder of `nlplab lm train` (no config.yaml or vocab.json)")
    if kind == "bilm" and not (folder / "model.pt").is_file():
        raise NlplabError(f"{what}: no model.pt yet (the biLM's best weights come with its first validation); "
                          f"finish it with `nlplab lm train -o {run} --resume`")
    return folder


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class LM:
    """An LM run as the task models use it: tokenization and vocabulary; bilm: the frozen biLM."""

    kind: str  # bilm | bilstm
    folder: Path
    cfg: object  # the run's LMConfig
    vocab: object
    text: object  # its TextTokenizer
    bilm: object = None  # bilm: the BiLM in eval mode, no gradients
    model_sha256: str | None = None  # bilm: of model.pt

    @property
    def identity(self) -> str:
        return self.vocab.fingerprint() + (f":{self.model_sha256[:16]}" if self.model_sha256 else "")

    def record(self, run_folder: Path) -> dict:
        """What the task model's config.json keeps to find and check this LM run again."""
        return {"kind": self.kind, "run": str(self.folder.resolve()),
                "relative": os.path.relpath(self.folder.resolve(), Path(run_folder).resolve()),
                "vocab": self.vocab.fingerprint(), "model_sha256": self.model_sha256}


def load_lm(kind: str, run, device=None) -> LM:
    from nlplab.lm.checkpoint import MODEL, load_run, load_text

    folder = check_lm_folder(kind, run)
    if kind == "bilstm":  # the vocabulary and tokenizer only: none of the biLM's weights
        cfg, vocab, text = load_text(folder)
        return LM(kind, folder, cfg, vocab, text)
    got = load_run(folder, device or "cpu")
    got.model.requires_grad_(False)  # frozen: the task model trains the mix and the head only
    return LM(kind, folder, got.cfg, got.vocab, got.tokenizer, got.model, sha256(folder / MODEL))


def load_recorded(record: dict, run_folder: Path, device=None) -> LM:
    """The LM run a task model's config.json names, checked to be the one it was trained over."""
    folder = Path(record["run"])
    if not (folder / "config.yaml").is_file() and (run_folder / record["relative"] / "config.yaml").is_file():
        folder = run_folder / record["relative"]  # both folders moved together
    where = f"{run_folder}: its LM run {folder}"
    if not (folder / "config.yaml").is_file():
        raise NlplabError(f"{where} is missing (nor is it at {run_folder / record['relative']}); put the `nlplab lm train` run back there, or train this task model again")
    try:
        lm = load_lm(record["kind"], folder, device)
    except NlplabError as e:
        raise NlplabError(f"{where}: {e}") from None
    if lm.vocab.fingerprint() != record["vocab"]:
        raise NlplabError(f"{where} has changed: its vocabulary's fingerprint is {lm.vocab.fingerprint()}, the task "
                          f"model's {record['vocab']}; restore the LM run, or train this task model again over it")
    if record.get("model_sha256") and lm.model_sha256 != record["model_sha256"]:
        raise NlplabError(f"{where} has changed: model.pt's sha256 is {lm.model_sha256[:12]}, the task model was "
                          f"trained over {record['model_sha256'][:12]}; restore it, or train this task model again")
    return lm


def truncate_pair(a: list, b: list, room: int) -> tuple[list, list]:
    """Cut the longer side first until both fit in `room` tokens (HF's longest_first)."""
    na, nb = len(a), len(b)
    while na + nb > room:
        if na >= nb:
            na -= 1
        else:
            nb -= 1
    return a[:na], b[:nb]


class Tokenizer:
    """The LM run's tokenization with the parts of a fast HF tokenizer's interface that
    fine-tuning, `finetune predict` and `nlplab serve` use: __call__ -> input_ids (and
    token_type_ids for pairs), pad/unk ids, get_vocab, convert_ids_to_tokens."""

    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]

    def __init__(self, lm: LM):
        from nlplab.lm.embed import boundaries

        self.lm, self.vocab = lm, lm.vocab
        self.pad_token_id, self.unk_token_id = lm.vocab.pad, lm.vocab.unk
        self.start, self.end = boundaries(lm.vocab, lm.cfg.mode)

    def __len__(self) -> int:
        return len(self.vocab)

    def get_vocab(self) -> dict:
        return dict(self.vocab.stoi)

    def convert_ids_to_tokens(self, ids) -> list[str]:
        return [self.vocab.itos[i] for i in ids]

    def segments(self, texts_a, texts_b=None, max_length: int = 128) -> list[list[list[str]]]:
        """Each example's sides as token lists (no boundaries), cut to max_length positions in all."""
        a = self.lm.text(list(texts_a))
        if texts_b is None:
            return [[toks[:max_length - 2]] for toks in a]
        return [list(truncate_pair(x, y, max_length - 4)) for x, y in zip(a, self.lm.text(list(texts_b)))]

    def ids(self, segments) -> tuple[list[list[int]], list[list[int]]]:
        """input_ids (each side between its boundaries) and token_type_ids (side 0, 1)."""
        ids, types = [], []
        for sides in segments:
            row, kinds = [], []
            for s, toks in enumerate(sides):
                row += [self.vocab.id(t) for t in [self.start, *toks, self.end]]
                kinds += [s] * (len(toks) + 2)
            ids.append(row)
            types.append(kinds)
        return ids, types

    def __call__(self, texts_a, texts_b=None, max_length: int = 128, **_) -> dict:
        single = isinstance(texts_a, str)
        segs = self.segments([texts_a] if single else texts_a,
                             None if texts_b is None else [texts_b] if single else texts_b, max_length)
        ids, types = self.ids(segs)
        out = {"input_ids": ids[0] if single else ids}
        if texts_b is not None:
            out["token_type_ids"] = types[0] if single else types
        return out

    def uncovered(self, texts: list[str]) -> float:
        """The share of the tokens of `texts` that are not in the LM run's vocabulary (<unk>:
        one word embedding for all of them; the char CNN still spells them)."""
        toks = [t for toks in self.lm.text(list(texts)) for t in toks]
        return sum(self.vocab.id(t) == self.unk_token_id for t in toks) / len(toks) if toks else 0.0


class Features:
    """The biLM layers of a split: rows (positions, L+1, 2P) float16 (memory-mapped when cached),
    example i's rows at offsets[i]:offsets[i+1]."""

    def __init__(self, rows: np.ndarray, offsets: np.ndarray, note: str):
        self.rows, self.offsets, self.note = rows, offsets, note

    def batch(self, index: list[int], width: int) -> torch.Tensor:
        """(B, width, L+1, 2P) float16, zero past each example's end."""
        out = np.zeros((len(index), width, *self.rows.shape[1:]), np.float16)
        for r, i in enumerate(index):
            a, b = self.offsets[i], self.offsets[i + 1]
            out[r, :b - a] = self.rows[a:b]
        return torch.from_numpy(out)


@torch.no_grad()
def compute(bilm, sides: list[list[str]], starts: np.ndarray, rows: np.ndarray) -> None:
    """Every side's layers into its rows, in batches of similar length (at most BUDGET positions)."""
    from nlplab.lm.embed import layers

    def flush(chunk):
        every, lengths = layers(bilm, [sides[j] for j in chunk])  # (L+1, B, T, 2P)
        every = every.permute(1, 2, 0, 3).to(torch.float16).cpu().numpy()  # (B, T, L+1, 2P)
        for r, j in enumerate(chunk):
            rows[starts[j]:starts[j] + int(lengths[r])] = every[r, :int(lengths[r])]

    chunk = []
    for j in sorted(range(len(sides)), key=lambda j: len(sides[j])):
        if chunk and (len(chunk) + 1) * (len(sides[j]) + 2) > BUDGET:
            flush(chunk)
            chunk = []
        chunk.append(j)
    if chunk:
        flush(chunk)


def cached(cache_dir: Path, name: str, key: str, shape: tuple) -> np.ndarray | None:
    """The rows under CACHE/<name>.<key>.elmo.npy, or under any name with this key (the same
    tokens of the same LM run: `finetune eval` on a split training cached), memory-mapped."""
    first = Path(cache_dir) / f"{name}.{key[:16]}.elmo.npy"
    for path in [first, *sorted(Path(cache_dir).glob(f"*.{key[:16]}.elmo.npy"))]:
        meta = path.with_suffix(".json")
        if meta.is_file() and path.is_file() and json.loads(meta.read_text(encoding="utf-8")).get("key") == key:
            rows = np.load(path, mmap_mode="r")
            if rows.shape == shape:
                return rows
    return None


def features(lm: LM, segments, cache_dir: Path | None = None, name: str = "input", prune: bool = False,
             write: bool = True) -> Features:
    """The biLM layers of every example, from the cache when it holds them (see cached); else
    computed, and cached as CACHE/<name>.<key>.elmo.npy when cache_dir is given and `write`
    (prune: remove the other keys of `name`)."""
    import time

    sides = [toks for ex in segments for toks in ex]
    lengths = np.array([len(s) + 2 for s in sides], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    offsets = starts[np.concatenate([[0], np.cumsum([len(ex) for ex in segments])])]  # each example's first row
    shape = (int(starts[-1]), lm.bilm.cfg.layers + 1, 2 * lm.bilm.cfg.proj_dim)
    key = hashlib.sha256(json.dumps([FORMAT, lm.identity, segments], ensure_ascii=False).encode("utf-8")).hexdigest()
    rows = cached(cache_dir, name, key, shape) if cache_dir is not None and Path(cache_dir).is_dir() else None
    if rows is not None:
        return Features(rows, offsets, f"biLM layers cached ({rows.filename})")
    path = Path(cache_dir) / f"{name}.{key[:16]}.elmo.npy" if cache_dir is not None and write else None
    meta = path.with_suffix(".json") if path is not None else None
    t0 = time.perf_counter()
    if path is None:
        rows = np.zeros(shape, np.float16)
        compute(lm.bilm, sides, starts, rows)
        return Features(rows, offsets, f"biLM layers computed in {time.perf_counter() - t0:.1f}s")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    rows = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=shape)
    compute(lm.bilm, sides, starts, rows)
    rows.flush()
    del rows
    os.replace(tmp, path)
    write_atomic(meta, json.dumps({"key": key, "lm": lm.identity, "lm_run": str(lm.folder), "shape": list(shape),
                                   "examples": len(segments)}) + "\n")
    if prune:  # an older cache of this split (another LM run, data or tokenization) is stale now
        for old in Path(cache_dir).glob(f"{name}.*.elmo.*"):
            if not old.name.startswith(f"{name}.{key[:16]}.elmo."):
                old.unlink(missing_ok=True)
    note = f"biLM layers computed in {time.perf_counter() - t0:.1f}s, {path.stat().st_size / 2**20:.0f} MiB cached in {path}"
    return Features(np.load(path, mmap_mode="r"), offsets, note)


def encode(split, t, tokenizer: Tokenizer, max_length: int, cache_dir: Path | None = None, prune: bool = False,
           write: bool = True) -> Encoded:
    """A split as the task model reads it: ids (+ token types for pairs), labels, and for bilm
    the biLM's layers (cached under cache_dir as <TASK>.<split>; write=False: only read from it)."""
    segs = tokenizer.segments(split.texts_a, split.texts_b, max_length)
    ids, types = tokenizer.ids(segs)
    lm = tokenizer.lm
    feats = None
    if lm.bilm is not None:
        feats = features(lm, segs, cache_dir, f"{t.name if t else split.task}.{split.name}", prune, write)
    return Encoded(split.name, split.ids, ids, types if split.texts_b is not None else None,
                   label_ids(t, split.labels) if t else None, feats)
