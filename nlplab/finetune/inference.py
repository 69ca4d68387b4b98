"""Use a finished run folder on its own: score it again, or label new text.

    nlplab finetune eval runs/sst2 [--data-dir ../shared/data/glue | --dev FILE] [--json]
    nlplab finetune predict runs/sst2 reviews.tsv -o labelled.tsv [--text sentence]   (or -o labelled.jsonl)

The folder holds everything needed (weights, tokenizer, config.yaml, labels.json): the
original command line, data folder or train file are not needed (`eval` reads the dev data
named in config.yaml unless told otherwise).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from nlplab import NlplabError, formats, io
from nlplab.config import load_yaml
from nlplab.finetune import data, encoder
from nlplab.finetune.config import FinetuneConfig, elmo_model
from nlplab.glue import metrics
from nlplab.glue.data import Split, read_custom
from nlplab.subword.load import text_prep


@dataclasses.dataclass
class Run:
    """A finished run: its config, task, model and tokenizer, on the best device."""

    folder: Path
    cfg: FinetuneConfig
    labels: dict  # labels.json
    model: object
    tokenizer: object
    device: torch.device
    prepare: object = None  # the subword folder's cleaning + Mecab pre-split, when it had one

    @property
    def elmo(self) -> bool:
        """An ELMo task model (--model bilm:/bilstm:): its tokenizer is its LM run's (elmo_data.Tokenizer)."""
        return elmo_model(self.cfg.model) is not None

    @classmethod
    def load(cls, folder: str | Path, device: str | None = None) -> Run:
        folder = Path(folder)
        cfg = run_config(folder)
        labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if elmo_model(cfg.model):  # the head's weights here, the biLM from the LM run config.json names (checked)
            from nlplab.finetune import elmo

            model, tokenizer = elmo.load(folder, dev)
            return cls(folder, cfg, labels, model, tokenizer, dev)
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        model = AutoModelForSequenceClassification.from_pretrained(folder).to(dev).eval()
        encoder.enable(model, encoder.unpad_on(cfg.unpad, dev), cfg.cls_only)  # as in training: the same logits, less work
        return cls(folder, cfg, labels, model, AutoTokenizer.from_pretrained(folder), dev, text_prep(folder))

    @property
    def classes(self) -> list[str]:
        return self.labels["labels"]

    def scores(self, texts_a: list[str], texts_b: list[str] | None = None, batch_size: int = 64) -> np.ndarray:
        """Class probabilities (N, C), or regression scores (N,), in input order."""
        check_batch_size(batch_size)
        split = Split(self.labels["task"], "input", [str(i) for i in range(len(texts_a))], texts_a, texts_b, None)
        if self.elmo:  # the LM run's tokens and, for bilm, its biLM's layers: from training's cache
            from nlplab.finetune.elmo_data import encode

            # when it holds these very tokens, else computed here (and not written)
            cache = Path(self.cfg.elmo_cache) if self.cfg.elmo_cache else self.folder / "cache"
            enc = encode(split, None, self.tokenizer, self.cfg.max_length, cache, write=False)
        else:
            enc = data.encode(split, None, self.tokenizer, self.cfg.max_length, prepare=self.prepare)
        from nlplab.finetune.train import predict

        logits = predict(self.model, enc, batch_size, self.tokenizer.pad_token_id, self.device,
                         lambda: torch.autocast(self.device.type, enabled=False))
        return logits if self.labels["regression"] else torch.softmax(torch.from_numpy(logits), -1).numpy()

    def predict(self, texts_a: list[str], texts_b: list[str] | None = None, batch_size: int = 64) -> list:
        """Label strings (classification) or floats (regression)."""
        s = self.scores(texts_a, texts_b, batch_size)
        return [float(v) for v in s] if self.labels["regression"] else [self.classes[i] for i in s.argmax(-1)]


def run_config(folder: str | Path) -> FinetuneConfig:
    """The config.yaml of a finished run folder, checked to hold everything `Run.load` reads."""
    folder = Path(folder)
    for name in ("config.yaml", "labels.json", "config.json", "model.safetensors"):
        if not (folder / name).is_file():
            raise NlplabError(f"{folder}: no {name}; give the -o folder of a finished `nlplab finetune` run")
    return FinetuneConfig(**load_yaml(str(folder / "config.yaml"), FinetuneConfig))


def check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise NlplabError(f"--batch-size must be at least 1, got {batch_size}")


def eval_config(cfg: FinetuneConfig, folder, data_dir: str | None = None, dev: str | None = None) -> FinetuneConfig:
    """The run's config, pointed at other dev data: --data-dir for a GLUE run, --dev for a
    custom one (the errors name `finetune eval`'s options, not training's)."""
    if cfg.train and data_dir:
        raise NlplabError(f"{folder}: trained on a custom dataset ({cfg.train}); --data-dir is for GLUE runs: "
                          "give another dev file with --dev FILE")
    if not cfg.train and dev:
        raise NlplabError(f"{folder}: trained on GLUE {cfg.task}; --dev is for runs on a custom dataset: "
                          "give another GLUE folder with --data-dir DIR")
    return dataclasses.replace(cfg, data_dir=data_dir or cfg.data_dir, dev=dev or cfg.dev, max_eval_samples=0)


def evaluate(run: Run, data_dir: str | None = None, dev: str | None = None, batch_size: int = 64) -> dict:
    """{split: metrics} on the run's dev split(s), or on another GLUE folder / dev file, and
    on a labelled test split where the task has one (NSMC, KorSTS, KorNLI, IMDB)."""
    check_batch_size(batch_size)
    cfg = eval_config(run.cfg, run.folder, data_dir, dev)
    if cfg.train:  # custom dataset: the label set comes from labels.json, the train file is not read
        src, t = data.source_and_task(cfg, labels=None if run.labels["regression"] else run.classes)
    else:
        src, t = data.source_and_task(cfg)
    if not t.regression and list(t.labels) != run.classes:
        raise NlplabError(f"{run.folder}: trained on labels {run.classes}, the data has {list(t.labels)}")
    out = {}
    for name in data.splits(t, False)["dev"] + data.labelled_tests(src, t):
        split = data.load(src, t, name)
        got = run.predict(split.texts_a, split.texts_b, batch_size)  # tokenizes (and pre-splits) once
        pred = got if t.regression else [t.labels.index(v) for v in got]
        m = metrics.compute(t.metrics, data.label_ids(t, split.labels), pred)
        m["score"] = metrics.entry_score(m, t.metrics, t.main)
        out[name] = {"examples": len(split), "source": split.source, **m}
    return out


def read_input(path: str, text: str | None, text_pair: str | None, fmt: str | None = None,
               no_header: bool = False) -> Split:
    """Texts (and pairs) of a txt file (one text per line) or a tsv/csv/jsonl column."""
    layout = io.inspect(path, fmt, None, no_header, need_column=False)
    if layout.format == "txt" and text is not None and layout.path != "-":  # a .txt table (NSMC): a tab in line 1
        with io.open_input(layout.path)[0] as f:  # decompressed: a .txt.gz table too
            if b"\t" in f.readline():
                layout = io.inspect(path, fmt, text, no_header)
    if layout.format == "txt":
        if text_pair:
            raise NlplabError(f"{path}: a pair task needs a tsv/csv/jsonl file with --text and --text-pair columns")
        texts = list(io.iter_texts(layout))
        return Split("input", "input", [str(i) for i in range(len(texts))], texts, None, None, path)
    if text is None and layout.text_col is None:
        raise NlplabError(f"{path}: which column holds the text? pass --text COL; columns: {', '.join(layout.columns or [])}")
    col = text or (layout.text_col if isinstance(layout.text_col, str) else layout.columns[layout.text_col])
    mapping = {"text_a": col, "text_b": text_pair, "label": None, "id": None}
    return read_custom(path, mapping, "input", "input", layout.format, no_header)


def predict_format(output: str) -> str:
    """tsv, what predict always wrote, unless OUTPUT's name says csv or jsonl (maybe
    compressed); .txt is an error, as a prediction row has several columns."""
    fmt = formats.output_format(output, "tsv")
    if fmt == "txt":
        raise NlplabError(f"{output}: predict writes row, text, prediction and p_<label> columns, and a .txt output "
                          "holds one; name it .tsv, .csv or .jsonl")
    return fmt


def predict_file(run: Run, path: str, output: str, text: str | None = None, text_pair: str | None = None,
                 fmt: str | None = None, no_header: bool = False, batch_size: int = 64) -> int:
    """OUTPUT (tsv, csv or jsonl by its name): row, the text column(s), prediction and, for
    classes, p_<label> per class; one row per input row, in order. Returns the row count."""
    if output != "-":
        io.check_writable(output, [path])  # before reading and scoring the input
    out_fmt = predict_format(output)
    cols = default_columns(run)
    s = read_input(path, text or cols[0], text_pair if text_pair is not None else cols[1], fmt, no_header)
    if cols[1] and s.texts_b is None:
        raise NlplabError(f"{path}: {run.labels['task']} is a pair task; give the second text with --text-pair COL")
    probs = run.scores(s.texts_a, s.texts_b, batch_size) if s.texts_a else np.zeros((0, len(run.classes)))
    head = ["row", "text"] + (["text_pair"] if s.texts_b is not None else []) + ["prediction"]
    if not run.labels["regression"]:
        head += [f"p_{c}" for c in run.classes]
    regression = run.labels["regression"]

    def row(i: int, texts: list[str], score):
        if regression:
            pred, ps = f"{float(score):.6g}", []
        else:
            pred, ps = run.classes[int(score.argmax())], [f"{p:.6f}" for p in score]
        if out_fmt == "jsonl":  # the tsv's numbers, as JSON numbers
            return dict(zip(head, [i + 1, *texts, float(pred) if regression else pred, *map(float, ps)]))
        if out_fmt == "tsv":  # quoting off: a tab or line break in a text would break the row
            texts = [t.replace("\t", " ").replace("\n", " ") for t in texts]
        return [str(i + 1), *texts, pred, *ps]

    with formats.open_output(output) as f:
        f.write(formats.header(out_fmt, head).encode("utf-8"))
        for i, a in enumerate(s.texts_a):
            texts = [a] + ([s.texts_b[i]] if s.texts_b is not None else [])
            f.write(formats.dump(out_fmt, [row(i, texts, probs[i])]).encode("utf-8"))
    return len(s.texts_a)


def default_columns(run: Run) -> tuple[str | None, str | None]:
    """The text columns the run was trained on: its custom columns, or the GLUE task's test columns."""
    if run.cfg.train:
        return run.cfg.text, run.cfg.text_pair
    from nlplab.glue.tasks import TASKS

    t = TASKS.get(run.labels["task"])
    c = t.columns.get("test") if t else None
    a, b = (c.text_a, c.text_b) if c else (None, None)
    return (a if isinstance(a, str) else None), (b if isinstance(b, str) else None)
