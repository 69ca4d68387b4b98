"""Fine-tuning data: GLUE/custom splits tokenized once, length-grouped batches, dynamic padding.

    nlplab finetune --task SST-2 --data-dir ../shared/data/glue --model minilm -o runs/sst2

Splits come from nlplab.glue.data (the same readers `nlplab glue score` uses, so ids and
labels agree with the harness). Each split is tokenized once with the fast tokenizer
(truncated to max_length, never padded) and its ids are cached in `<run>/cache/`, keyed
by the split file, the tokenizer and max_length. Batches are padded to their own longest
example: with length grouping most batches of SST-2 are a fraction of a fixed 128.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from nlplab import NlplabError
from nlplab.batching import group_by_length
from nlplab.glue import Custom, Glue, Split, Task


@dataclass
class Encoded:
    """One tokenized split: token ids per example, label ids (or floats), the split's ids."""

    name: str
    ids: list[str]
    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None
    labels: list | None  # class ids (int) or floats; None: unlabelled
    features: object = None  # ELMo task models: the biLM's layers at every position (elmo_data.Features)

    def __len__(self) -> int:
        return len(self.input_ids)

    def lengths(self) -> list[int]:
        return [len(x) for x in self.input_ids]


def source_and_task(cfg, labels: list[str] | None = None) -> tuple[Glue | Custom, Task]:
    """The data source and its task; unknown tasks and missing columns fail here. `labels`:
    a custom dataset's label set, known already (a finished run's labels.json)."""
    if cfg.train:
        if cfg.data_dir:
            raise NlplabError("give either --data-dir (GLUE) or --train/--dev (a custom dataset), not both")
        if not cfg.text or not cfg.label:
            raise NlplabError("a custom dataset needs --text COL and --label COL")
        if not cfg.dev:
            raise NlplabError("a custom dataset needs --dev FILE: it picks the best checkpoint")
        files = {k: getattr(cfg, k) for k in ("train", "dev", "test") if getattr(cfg, k)}
        src = Custom(cfg.task or "custom", files, cfg.text, cfg.text_pair, cfg.label, cfg.id, labels=labels,
                     regression=cfg.regression)
        return src, src.task()
    if any(getattr(cfg, k) for k in ("dev", "test", "text", "label")):
        raise NlplabError("a custom dataset needs --train FILE (with --dev, --text and --label)")
    src = Glue(cfg.data_dir)
    t = src.task(cfg.task)
    if t.train_from:
        raise NlplabError(f"{t.name} has no train set; fine-tune {t.train_from} and predict {t.name} with that run")
    return src, t


def splits(t: Task, predict_test: bool, src=None) -> dict[str, list[str]]:
    """Split names by role: train, dev (the first one selects the model), test. With `src`,
    a Korean task's test file that is not there is left out (shared/data has no KorSTS
    test); GLUE's stays, so --predict-test fails on it, naming the file."""
    tests = [b.test for b in t.boards if b.test] if predict_test else []
    if src is not None and t.suite != "glue":
        tests = [s for s in tests if src.has(t, s)]
    return {"train": ["train"], "dev": [b.dev for b in t.boards if b.dev], "test": tests}


def load_all(src, t: Task, cfg) -> tuple[dict[str, Split], dict[str, list[str]], list]:
    """Every split a run reads, by name: train (--max-train-samples), the dev splits
    (--max-eval-samples), with --predict-test the test splits and those of the boards this
    task's model also predicts (MNLI -> AX). Returns (splits, roles as splits() gives them,
    the extra boards as extra_boards() does)."""
    roles, extra = splits(t, cfg.predict_test, src), extra_boards(src, t, cfg.predict_test)
    raw = {"train": load(src, t, "train", cfg.max_train_samples)}
    raw.update({s: load(src, t, s, cfg.max_eval_samples) for s in roles["dev"]})
    raw.update({s: load(src, t, s) for s in roles["test"]})
    raw.update({b.test: load(src, at, b.test) for at, b in extra})
    return raw, roles, extra


def labelled_tests(src, t: Task) -> list[str]:
    """Test splits with gold labels here, scored beside dev by `finetune eval` (never used to
    pick a model): NSMC, KorSTS, KorNLI, IMDB, or a custom --test file with its label column.
    GLUE's test labels are private: never loaded."""
    if isinstance(src, Glue) and t.suite == "glue":
        return []
    return [b.test for b in t.boards if b.test and src.has(t, b.test) and src.load(t, b.test).labels is not None]


def load(src, t: Task, name: str, limit: int = 0) -> Split:
    s = src.load(t, name)
    if len(s) == 0:
        raise NlplabError(f"{s.source}: the {name} split is empty; it needs at least one example")
    if name.startswith("dev") and s.labels is None:
        raise NlplabError(f"{s.source}: the {name} split has no labels")
    if limit and len(s) > limit:
        s = Split(s.task, s.name, s.ids[:limit], s.texts_a[:limit], s.texts_b[:limit] if s.texts_b else None,
                  s.labels[:limit] if s.labels is not None else None, s.source)
    return s


def label_ids(t: Task, labels: list | None) -> list | None:
    if labels is None:
        return None
    return [float(v) for v in labels] if t.regression else [t.labels.index(v) for v in labels]


def write_labels(out: Path, t: Task) -> None:
    """RUN/labels.json: the task, its labels in class-id order and their names."""
    from nlplab.config import write_atomic

    labels = {"task": t.name, "regression": t.regression, "labels": list(t.labels), "label_names": list(t.label_names)}
    write_atomic(out / "labels.json", json.dumps(labels, indent=1, ensure_ascii=False) + "\n")


def _fingerprint(split: Split, tokenizer, max_length: int, prepare=None) -> str:
    h = hashlib.sha256()
    src = Path(split.source)
    stat = src.stat() if src.is_file() else None
    h.update(json.dumps([split.source, stat.st_size if stat else None, stat.st_mtime_ns if stat else None,
                         len(split), max_length, type(tokenizer).__name__]).encode())
    h.update(json.dumps(tokenizer.get_vocab(), sort_keys=True).encode())
    h.update(str(getattr(prepare, "key", None)).encode())
    h.update(split.texts_a[0].encode() + split.texts_a[-1].encode())  # hub splits have no file to stat
    return h.hexdigest()[:16]


def encode(split: Split, t: Task, tokenizer, max_length: int, cache_dir: Path | None = None, prepare=None) -> Encoded:
    """Tokenize a split once (truncate, no padding); reuse `<cache_dir>/<split>.pt` when its key matches."""
    key = _fingerprint(split, tokenizer, max_length, prepare)
    path = cache_dir / f"{split.name}.pt" if cache_dir else None
    if path is not None and path.exists():
        saved = torch.load(path, weights_only=True)
        if saved.get("key") == key:
            return Encoded(split.name, split.ids, saved["input_ids"], saved["token_type_ids"], label_ids(t, split.labels))
    pairs = (split.texts_a, split.texts_b) if split.texts_b is not None else (split.texts_a,)
    if prepare is not None:  # e.g. Mecab morphemes joined by spaces, as the vocabulary was trained
        pairs = tuple([prepare(x) for x in texts] for texts in pairs)
    enc = tokenizer(*pairs, truncation=True, max_length=max_length, padding=False,
                    return_token_type_ids="token_type_ids" in tokenizer.model_input_names)
    tt = enc.get("token_type_ids")
    out = Encoded(split.name, split.ids, enc["input_ids"], tt, label_ids(t, split.labels))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"key": key, "input_ids": out.input_ids, "token_type_ids": tt}, path)
    return out


class LengthGroupedSampler(torch.utils.data.Sampler):
    """Batches of similar lengths, still random: shuffle all indices, cut them into
    mega-batches of `mega * batch_size`, sort each mega-batch by length (longest first),
    cut it into batches, then shuffle the batches. The same idea as HF's `group_by_length`
    (mega-batch 50): little padding, and no epoch sees the data sorted.
    `shuffle=False` keeps the file order (evaluation). Seeded by (seed, epoch).

    With `world` processes the order is cut into global batches of `world * batch_size`
    (the order one process with that batch size sees) and rank r takes every world-th
    example of each, from the r-th: its share, of similar length to the others'. A share
    can be empty (a last batch smaller than the world): then the rank gets the batch's first
    example and `shares()` gives it weight 0. Evaluation (shuffle=False) deals whole batches
    round-robin instead, so each is exactly the batch one process computes."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int = 0, shuffle: bool = True, mega: int = 50,
                 rank: int = 0, world: int = 1):
        self.lengths, self.batch_size, self.seed, self.shuffle, self.mega = lengths, batch_size, seed, shuffle, mega
        self.rank, self.world = rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if not self.shuffle:
            return len(range(self.rank, -(-len(self.lengths) // self.batch_size), self.world))
        return -(-len(self.lengths) // (self.batch_size * self.world))

    def global_batches(self) -> list[list[int]]:
        n, bs = len(self.lengths), self.batch_size * (self.world if self.shuffle else 1)
        if not self.shuffle:
            return [list(range(i, min(i + bs, n))) for i in range(0, n, bs)]
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        order = list(range(n))
        rng.shuffle(order)
        batches = group_by_length(order, self.lengths, bs, self.mega)
        rng.shuffle(batches)
        return batches

    def shares(self) -> list[tuple[int, int]]:
        """(examples of this rank, examples of the global batch) for each batch of the epoch."""
        return [(len(g[self.rank::self.world]), len(g)) for g in self.global_batches()]

    def __iter__(self):
        batches = self.global_batches()
        if not self.shuffle:
            yield from batches[self.rank::self.world]
        elif self.world == 1:
            yield from batches
        else:
            yield from (g[self.rank::self.world] or g[:1] for g in batches)


class Examples(torch.utils.data.Dataset):
    def __init__(self, enc: Encoded):
        self.enc = enc

    def __len__(self) -> int:
        return len(self.enc)

    def __getitem__(self, i: int) -> dict:
        e = self.enc
        item = {"input_ids": e.input_ids[i]}
        if e.token_type_ids is not None:
            item["token_type_ids"] = e.token_type_ids[i]
        if e.labels is not None:
            item["labels"] = e.labels[i]
        if e.features is not None:
            item["index"] = i  # collate gathers this example's biLM layers
        return item


def collate(items: list[dict], pad_id: int, features=None) -> dict[str, torch.Tensor]:
    """Pad to the longest example of this batch (not to max_length). `features`: the split's
    biLM layers (ELMo task models), gathered as (B, T, L+1, 2P) float16."""
    width = max(len(x["input_ids"]) for x in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, x in enumerate(items):
        ids[row, :len(x["input_ids"])] = torch.tensor(x["input_ids"])
        mask[row, :len(x["input_ids"])] = 1
    batch = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in items[0]:
        tt = torch.zeros((len(items), width), dtype=torch.long)
        for row, x in enumerate(items):
            tt[row, :len(x["token_type_ids"])] = torch.tensor(x["token_type_ids"])
        batch["token_type_ids"] = tt
    if "labels" in items[0]:
        v = [x["labels"] for x in items]
        batch["labels"] = torch.tensor(v, dtype=torch.float if isinstance(v[0], float) else torch.long)
    if features is not None:
        batch["features"] = features.batch([x["index"] for x in items], width)
    return batch


def loader(enc: Encoded, batch_size: int, pad_id: int, seed: int = 0, shuffle: bool = True, device=None,
           rank: int = 0, world: int = 1):
    """Batches of one split (this rank's share of them, see LengthGroupedSampler). On a GPU
    two worker processes collate ahead into pinned memory. The loader's own generator keeps
    it from drawing on the global RNG (which dropout uses), so a resumed run sees the same
    dropout masks as an uninterrupted one."""
    sampler = LengthGroupedSampler(enc.lengths(), batch_size, seed, shuffle, rank=rank, world=world)
    cuda = device is not None and torch.device(device).type == "cuda"
    return torch.utils.data.DataLoader(Examples(enc), batch_sampler=sampler,
                                       collate_fn=partial(collate, pad_id=pad_id, features=enc.features),
                                       num_workers=2 if cuda else 0, pin_memory=cuda, persistent_workers=cuda,
                                       generator=torch.Generator().manual_seed(seed))


def extra_boards(src, t: Task, predict_test: bool) -> list:
    """Boards predicted by another task's model: GLUE's AX diagnostic by the MNLI run's
    (same three labels). Only with --predict-test and when the AX file is there."""
    if not predict_test or t.name != "MNLI" or not isinstance(src, Glue) or not src.has("AX", "test"):
        return []
    ax = src.task("AX")
    return [(ax, b) for b in ax.boards]
