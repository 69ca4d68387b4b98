"""Reading the harness's tasks (GLUE from classic folders or the HF hub; the Korean tasks and
IMDB from their published files) and any labelled TSV/CSV/JSONL set.

    from nlplab.glue.data import Glue, Custom
    Glue("../shared/data/glue").load("CoLA", "dev")        # classic download_glue_data.py folders
    Glue().load("MNLI", "dev_matched")                      # nyu-mll/glue from the hub
    Glue("../shared/data").load("nsmc", "test")             # a root laid out as shared/data is
    Glue("../shared/data/korsts").load("KorSTS", "dev")     # or the task's own folder
    Custom("NSMC", {"train": "../shared/data/nsmc/ratings_train.txt"},
           text="document", label="label", id="id").load("NSMC", "train")

Every reader returns a `Split`. Its `ids` are what a predictions file is keyed by: the
file's `index`/`id` column for test splits (what the leaderboard expects), else the 0-based
data-row number (header not counted, skipped rows counted, so ids never shift). From the
hub they are its `idx` column, which is the same numbering.

Classic-file quirks handled here: quoting is off (quotes are data, as in the original
processors), MRPC's BOM header, CoLA train/dev without a header (and dev without a final
newline), QQP's malformed rows (skipped, counted, reported). The Korean tasks' quirks are
named in nlplab.glue.tasks; JSON files are read by nlplab.glue.records. A task without a
dev file (NSMC, IMDB) holds out a fixed, documented part of train (`Task.holdout`).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlparse

from nlplab import NlplabError, io
from nlplab.glue.records import read_records
from nlplab.glue.splits import Split, concat, held_out, shuffled
from nlplab.glue.tasks import HF_SPLITS, TASKS, Board, Task, task


def _field(path, columns: list[str], wanted: str | int, what: str, t: Task) -> int:
    if isinstance(wanted, int):
        if wanted >= len(columns):
            raise NlplabError(f"{path}:1: {len(columns)} tab-separated fields, the {what} is field {wanted + 1}; "
                              f"is this {t.origin}?")
        return wanted
    if wanted not in columns:
        raise NlplabError(f"{path}:1: no column {wanted!r} for the {what} (columns: {', '.join(columns)}); "
                          f"give {t.origin}, or read it as a custom dataset")
    return columns.index(wanted)


def parse_label(t: Task, raw: str, where: str) -> str | float:
    """A gold label from a file: one of the task's label strings, or a float (regression)."""
    value = raw.strip()
    if t.regression:
        try:
            return float(value)
        except ValueError:
            raise NlplabError(f"{where}: label {raw!r} is not a number; {t.name} labels are scores") from None
    if value not in t.labels:
        raise NlplabError(f"{where}: unknown {t.name} label {raw!r}; labels are {', '.join(t.labels)}; "
                          f"fix the row, or check this is {t.name}'s file")
    return value


def read_classic(path: str | Path, t: Task, split: str) -> Split:
    """One split file in the classic GLUE layout (tab-separated, quoting off)."""
    path, cols = str(path), t.columns[split]
    layout = io.inspect(path, "tsv", no_header=cols.header is None, need_column=False)
    if not layout.columns:
        raise NlplabError(f"{path}: empty file; download it again (download_glue_data.py --tasks {t.name})")
    roles = (("text_a", cols.text_a, "text"), ("text_b", cols.text_b, "second text"), ("label", cols.label, "label"),
             ("id", cols.id, "index"))
    where = {k: _field(path, layout.columns, v, what, t) for k, v, what in roles if v is not None}
    layout.text_col = where["text_a"]
    out = Split(t.name, split, [], [], [] if "text_b" in where else None, [] if "label" in where else None, path)
    for start, payload, _ in io.read_chunks(layout):
        # skip, then decide: QQP's malformed rows are expected, anywhere else they are an error
        records, bad, _ = io.parse_chunk(layout, start, payload, on_error="skip")
        if bad and not t.skip_malformed:
            line, reason = bad[0]
            raise NlplabError(f"{path}:{line}: {reason}; {t.name}'s files are tab-separated with quoting off, "
                              f"is this {t.origin}?")
        out.skipped.extend(bad)
        for lineno, fields, text in records:
            out.ids.append(fields[where["id"]].strip() if "id" in where else str(lineno - layout.first_line))
            out.texts_a.append(text)
            if out.texts_b is not None:
                out.texts_b.append(fields[where["text_b"]])
            if out.labels is not None:
                out.labels.append(parse_label(t, fields[where["label"]], f"{path}:{lineno}"))
    return out


def _offline_unless_reachable(timeout: float = 3.0) -> None:
    """huggingface_hub retries an unreachable hub for ~25 s, logging every try; when a short
    connection test fails, switch to offline mode so only the local cache is tried (at once).
    Set before `datasets` is imported, which reads it then. Proxies: trust the settings."""
    if any(os.environ.get(k) for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HTTPS_PROXY", "https_proxy")):
        return
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        os.environ["HF_HUB_OFFLINE"] = "1"


def read_hub(t: Task, split: str) -> Split:
    """nyu-mll/glue from the HF hub (or its local cache). Its MRPC is SentEval's tokenized copy:
    the strings differ from the classic files, ids and labels do not."""
    name = f"nyu-mll/glue ({t.hf_config}, {HF_SPLITS[split]})"
    try:
        if "datasets" not in sys.modules:
            _offline_unless_reachable()
        import datasets

        ds = datasets.load_dataset("nyu-mll/glue", t.hf_config, split=HF_SPLITS[split])
    except Exception as e:  # offline, no cache, hub down: all mean "use local files"
        first = (str(e).strip().splitlines() or [""])[0][:120]
        raise NlplabError(f"could not load {name} from the Hugging Face hub ({type(e).__name__}: {first}); "
                          f"offline? pass --data-dir DIR with the GLUE folders from download_glue_data.py") from None
    a, b = t.hf_columns[0], (t.hf_columns[1] if len(t.hf_columns) > 1 else None)
    labels = None
    if "label" in ds.column_names and not split.startswith("test"):
        # hub labels are class ids; -1 marks an unlabelled row
        raw = ds["label"]
        labels = [float(v) for v in raw] if t.regression else [t.labels[v] for v in raw]
    return Split(t.name, split, [str(i) for i in ds["idx"]], list(ds[a]), list(ds[b]) if b else None, labels, name)


class Glue:
    """The harness's tasks from a data folder (GLUE, Korean, IMDB), or GLUE from the hub
    when data_dir is None."""

    def __init__(self, data_dir: str | Path | None = None):
        self.data_dir = Path(data_dir) if data_dir is not None else None
        if self.data_dir is not None and not self.data_dir.is_dir():
            raise NlplabError(f"{data_dir}: no such folder; --data-dir is the folder holding CoLA/, SST-2/, MNLI/, ... "
                              "(or nsmc/, korsts/, ...; or one task's own files)")
        self._cache: dict[tuple[str, str], Split] = {}

    def __str__(self) -> str:
        return str(self.data_dir) if self.data_dir else "nyu-mll/glue (hub)"

    def _file_split(self, t: Task, split: str) -> str | None:
        """The split whose files hold `split`: itself, or train for a held-out dev."""
        if split in t.files:
            return split
        return "train" if split == "dev" and t.holdout else None

    def paths(self, t: Task | str, split: str) -> list[Path]:
        """The local files of a split: the first candidate found (each looked for under the
        folder, then under its <home>), or every one found for KorNLI's train. [] for the hub."""
        t = task(t) if isinstance(t, str) else t
        names = t.files.get(self._file_split(t, split) or "", ())
        if self.data_dir is None:
            return []
        found = []
        for name in names:
            hit = next((p for p in (self.data_dir / name, self.data_dir / t.home / name) if p.is_file()), None)
            if hit is not None:
                found.append(hit)
                if not (t.all_train and split == "train"):
                    break
        return found

    def path(self, t: Task | str, split: str) -> Path | None:
        """The (first) local file of a split, or None (always None for the hub)."""
        found = self.paths(t, split)
        return found[0] if found else None

    def has(self, t: Task | str, split: str) -> bool:
        t = task(t) if isinstance(t, str) else t
        if self._file_split(t, split) is None:
            return False
        if self.data_dir is None:
            return bool(t.hf_config)  # the hub serves GLUE only
        return self.path(t, split) is not None

    def _looks_like(self, t: Task) -> bool:
        """A found train file has the task's header: a folder of `train.tsv` files is one
        task's, not every task's that names its file so (KorHate's own folder vs SST-2's)."""
        header = t.columns["train"].header if t.reader == "tsv" else None
        if header is None or self.data_dir is None:
            return True
        reader, _ = io.open_input(str(self.path(t, "train")))
        with reader:
            first = reader.readline().decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r\n")
        return tuple(first.split("\t")) == header

    def tasks(self) -> list[Task]:
        """Tasks with data here: with a train file (AX: a test file and MNLI's train)."""
        found = [t for t in TASKS.values() if not t.train_from and self.has(t, "train") and self._looks_like(t)]
        if self.has("AX", "test") and self.has("MNLI", "train"):
            found.insert(next(i for i, t in enumerate(found + [None]) if t is None or t.suite != "glue"), TASKS["AX"])
        return found

    def task(self, name: str) -> Task:
        return task(name)

    def load(self, t: Task | str, split: str) -> Split:
        t = task(t) if isinstance(t, str) else t
        if self._file_split(t, split) is None:
            raise NlplabError(f"{t.name} has no {split!r} split; splits: {', '.join(splits_of(t))}")
        key = (t.name, split)
        if key not in self._cache:
            if self.data_dir is None and not t.hf_config:
                raise NlplabError(f"{t.name} is read from its files: pass --data-dir DIR (the folder holding "
                                  f"{t.home}/, or {t.name}'s own files)")
            if self.data_dir is None:
                self._cache[key] = read_hub(t, split)
            elif t.holdout and split in ("train", "dev"):
                train, dev = held_out(self._read(t, "train"), t)
                self._cache[(t.name, "train")], self._cache[(t.name, "dev")] = shuffled(train, t), shuffled(dev, t)
            else:
                self._cache[key] = shuffled(self._read(t, split), t)
        return self._cache[key]

    def _read(self, t: Task, split: str) -> Split:
        paths = self.paths(t, split)
        if not paths:
            names = t.files[self._file_split(t, split)]
            tried = " or ".join(str(self.data_dir / n) for n in names)
            fix = (f"download it (download_glue_data.py --tasks {t.name}) or point --data-dir at the folder holding "
                   f"{names[0].split('/')[0]}/") if t.suite == "glue" else \
                f"point --data-dir at the folder holding {t.home}/ (or at {t.name}'s own files: {', '.join(names)})"
            raise NlplabError(f"{tried}: no such file; {fix}")
        parts = [read_records(p, t, split) if t.reader != "tsv" else read_classic(p, t, split) for p in paths]
        for part in parts:
            if part.skipped:
                lines = ", ".join(str(n) for n, _ in part.skipped[:5])
                print(f"{part.source}: skipped {len(part.skipped)} malformed row(s) (wrong field count), "
                      f"lines {lines}{', ...' if len(part.skipped) > 5 else ''}", file=sys.stderr)
        return parts[0] if len(parts) == 1 else concat(parts)


def splits_of(t: Task) -> list[str]:
    return list(t.files) + (["dev"] if t.holdout and "dev" not in t.files else [])


class Custom:
    """Any labelled TSV/CSV/JSONL set through the same path as GLUE: one task named `name`,
    splits from files, fields by column mapping. Labels are those of the train split
    (sorted, numbers numerically) unless given; `regression` reads float labels."""

    def __init__(self, name: str, files: dict[str, str], text: str, text_pair: str | None = None,
                 label: str | None = None, id: str | None = None, fmt: str | None = None, no_header: bool = False,
                 labels: list[str] | None = None, regression: bool = False):
        if "train" not in files or label is None:
            raise NlplabError(f"{name}: a custom dataset needs a train file and its label column (--train FILE --label COL)")
        if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
            raise NlplabError(f"--name {name!r}: prediction files are named after it; use letters, digits, - _ and .")
        self.name, self.files, self.fmt, self.no_header = name, files, fmt, no_header
        self.mapping = {"text_a": text, "text_b": text_pair, "label": label, "id": id}
        self._labels, self.regression = labels, regression
        self._cache: dict[str, Split] = {}
        self._task: Task | None = None

    def __str__(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.files.items())

    def task(self, name: str | None = None) -> Task:
        if self._task is None:
            labels: tuple[str, ...] = ()
            if not self.regression:
                labels = tuple(self._labels or sorted(set(self._split("train").labels), key=_label_order))
                if not labels:
                    raise NlplabError(f"{self.files['train']}: no rows; a train file needs labelled rows")
            metrics = ("pearson", "spearman") if self.regression else ("accuracy",)
            self._task = Task(self.name, "", labels, labels, metrics, {s: (p,) for s, p in self.files.items()},
                              {}, (Board(self.name, "dev", "test", 0),))
        return self._task

    def tasks(self) -> list[Task]:
        return [self.task()]

    def has(self, t, split: str) -> bool:
        return split in self.files

    def path(self, t, split: str) -> Path | None:
        return Path(self.files[split]) if split in self.files else None

    def load(self, t, split: str) -> Split:
        if split not in self.files:
            raise NlplabError(f"{self.name}: no {split} file given (--{split} FILE)")
        self.task()
        return self._split(split)

    def _split(self, split: str) -> Split:
        if split not in self._cache:
            # train defines the label set unless it was given; other splits must stay inside it
            allowed = None
            if not self.regression and (self._labels or split != "train"):
                allowed = tuple(self._labels) if self._labels else self.task().labels
            self._cache[split] = read_custom(self.files[split], self.mapping, self.name, split, self.fmt,
                                             self.no_header, self.regression, allowed)
        return self._cache[split]


def _label_order(v: str):
    try:
        return (0, float(v), v)
    except ValueError:
        return (1, 0.0, v)


def read_custom(path: str, mapping: dict, name: str, split: str, fmt: str | None = None, no_header: bool = False,
                regression: bool = False, labels: tuple[str, ...] | None = None) -> Split:
    """Rows of a tsv/csv/jsonl file (a .txt with tabs reads as tsv: NSMC) by column mapping.
    A label column missing from a test file is fine: the split is then unlabelled."""
    layout = io.inspect(path, fmt, mapping["text_a"], no_header)
    if layout.format == "txt":
        raise NlplabError(f"{path}: a custom dataset is a tsv, csv or jsonl file with columns; pass --format")
    if layout.format == "parquet":
        raise NlplabError(f"{path}: parquet is read as a training corpus (subword train, lm train), not as a dataset "
                          "with labels; give a tsv, csv or jsonl file")
    cols = layout.columns or []
    want = {k: v for k, v in mapping.items() if v is not None and k != "text_a"}
    if layout.format != "jsonl":
        missing = [v for k, v in want.items() if v not in cols and not (k == "label" and split == "test")]
        if missing:
            raise NlplabError(f"{path}: no column {missing[0]!r}; columns: {', '.join(cols)}")
        want = {k: cols.index(v) for k, v in want.items() if v in cols}
    elif split == "test" and "label" in want and cols and mapping["label"] not in cols:
        del want["label"]  # unlabelled jsonl test file
    out = Split(name, split, [], [], [] if "text_b" in want else None, [] if "label" in want else None, path)
    for start, payload, _ in io.read_chunks(layout):
        for lineno, rec, text in io.parse_chunk(layout, start, payload)[0]:
            def get(k, lineno=lineno, rec=rec):
                v = rec.get(want[k]) if isinstance(rec, dict) else rec[want[k]]
                if v is None:
                    raise NlplabError(f"{path}:{lineno}: no field {want[k]!r}; every line needs it")
                return str(v)
            out.ids.append(get("id") if "id" in want else str(len(out.ids)))
            out.texts_a.append(text)
            if out.texts_b is not None:
                out.texts_b.append(get("text_b"))
            if out.labels is not None:
                raw = get("label").strip()
                if not raw and split != "test":
                    raise NlplabError(f"{path}:{lineno}: empty label in column {mapping['label']!r}; give every {split} row "
                                      "its label (unlabelled rows belong in the test file)")
                if regression:
                    try:
                        raw = float(raw)
                    except ValueError:
                        raise NlplabError(f"{path}:{lineno}: label {raw!r} is not a number (--regression)") from None
                elif labels is not None and raw not in labels:
                    raise NlplabError(f"{path}:{lineno}: unknown label {raw!r}; labels (from train) are {', '.join(labels)}")
                out.labels.append(raw)
    return out
