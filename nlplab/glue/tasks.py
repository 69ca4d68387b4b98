"""Every GLUE task as one small record: where its files are, which columns hold what,
its labels in GLUE's order, its metrics and its leaderboard file(s).

    python -c "from nlplab.glue.tasks import TASKS; print(TASKS['MNLI'])"

Column layouts are those of the files written by the classic `download_glue_data.py`
(the ones BERT's `run_classifier.py` and HF's `glue_processors` read): column names
where a file has a header, 0-based indices where it has none (CoLA train/dev).

Labels are the strings found in the files, which are also the strings the leaderboard
expects; their order is GLUE's class order (HF `nyu-mll/glue` class ids), so label
index == class id everywhere. `label_names` are HF's names for the same classes.

Leaderboard entries ("boards"): one per submission file. MNLI has two (MNLI-m, MNLI-mm),
each with its own dev and test split; AX has a test split only and is predicted with
the MNLI model (so its majority baseline comes from MNLI's train labels).
"""

from __future__ import annotations

from dataclasses import dataclass

from nlplab import NlplabError


@dataclass(frozen=True)
class Columns:
    """Where the fields of one split's file are: names (header) or indices (no header)."""

    header: tuple[str, ...] | None  # the full header of the original file; None: no header line
    text_a: str | int
    text_b: str | int | None = None
    label: str | int | None = None  # None: unlabelled (test)
    id: str | int | None = None  # test `index` column kept for predictions; None: row number


@dataclass(frozen=True)
class Board:
    """One leaderboard entry: its submission file `<name>.tsv` and the splits it scores."""

    name: str
    dev: str | None  # split name scored locally (None for AX: no public labels)
    test: str
    test_size: int  # rows of the official test set (checked when the test file is not local)


@dataclass(frozen=True)
class Task:
    name: str
    hf_config: str  # nyu-mll/glue configuration
    labels: tuple[str, ...]  # file/leaderboard label strings in class-id order; () for regression
    label_names: tuple[str, ...]  # HF's names for the same classes
    metrics: tuple[str, ...]
    files: dict[str, tuple[str, ...]]  # split -> candidate paths under the data dir (first found wins)
    columns: dict[str, Columns]  # split -> column layout
    boards: tuple[Board, ...]
    train_from: str | None = None  # AX: no train set, its model (and majority) is MNLI's
    skip_malformed: bool = False  # QQP: rows with the wrong field count are skipped and counted
    hf_columns: tuple[str, ...] = ()  # text column(s) in the hub dataset

    @property
    def regression(self) -> bool:
        return not self.labels


def _std(name: str, header: tuple[str, ...], test_header: tuple[str, ...], a: str, b: str | None,
         label: str, id_: str = "index") -> dict:
    """`<name>/{train,dev,test}.tsv`, one header for train and dev, another for test."""
    train = Columns(header, a, b, label)
    test = Columns(test_header, a, b, None, id_)
    return {"files": {s: (f"{name}/{s}.tsv",) for s in ("train", "dev", "test")},
            "columns": {"train": train, "dev": train, "test": test}}


# CoLA train/dev tsv has no header: source, label, original mark (usually empty), sentence.
# Its test file does have one: `index\tsentence`.
_COLA = {"files": {s: (f"CoLA/{s}.tsv",) for s in ("train", "dev", "test")},
         "columns": {"train": Columns(None, 3, None, 1), "dev": Columns(None, 3, None, 1),
                     "test": Columns(("index", "sentence"), "sentence", id="index")}}

_SST = {"files": {s: (f"SST-2/{s}.tsv",) for s in ("train", "dev", "test")},
        "columns": {"train": Columns(("sentence", "label"), "sentence", label="label"),
                    "dev": Columns(("sentence", "label"), "sentence", label="label"),
                    "test": Columns(("index", "sentence"), "sentence", id="index")}}

# MRPC train/dev headers start with a UTF-8 BOM (stripped by the reader), test has `index`.
_MRPC = _std("MRPC", ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"),
             ("index", "#1 ID", "#2 ID", "#1 String", "#2 String"), "#1 String", "#2 String", "Quality")

_STSB_HEAD = ("index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2")
_STSB = _std("STS-B", _STSB_HEAD + ("score",), _STSB_HEAD, "sentence1", "sentence2", "score")

# QQP keys rows by `id`; its test file has only id and the two questions.
_QQP = _std("QQP", ("id", "qid1", "qid2", "question1", "question2", "is_duplicate"),
            ("id", "question1", "question2"), "question1", "question2", "is_duplicate", id_="id")

_QNLI = _std("QNLI", ("index", "question", "sentence", "label"), ("index", "question", "sentence"),
             "question", "sentence", "label")
_RTE = _std("RTE", ("index", "sentence1", "sentence2", "label"), ("index", "sentence1", "sentence2"),
            "sentence1", "sentence2", "label")
_WNLI = _std("WNLI", ("index", "sentence1", "sentence2", "label"), ("index", "sentence1", "sentence2"),
             "sentence1", "sentence2", "label")

# MNLI: train has 12 columns (one annotator label + gold), dev 16 (five labels + gold), test 10.
_MNLI_HEAD = ("index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
              "sentence1_parse", "sentence2_parse", "sentence1", "sentence2")
_MNLI_TRAIN = Columns(_MNLI_HEAD + ("label1", "gold_label"), "sentence1", "sentence2", "gold_label")
_MNLI_DEV = Columns(_MNLI_HEAD + ("label1", "label2", "label3", "label4", "label5", "gold_label"),
                    "sentence1", "sentence2", "gold_label")
_MNLI_TEST = Columns(_MNLI_HEAD, "sentence1", "sentence2", None, "index")
_MNLI = {"files": {s: (f"MNLI/{s}.tsv",) for s in ("train", "dev_matched", "dev_mismatched", "test_matched",
                                                   "test_mismatched")},
         "columns": {"train": _MNLI_TRAIN, "dev_matched": _MNLI_DEV, "dev_mismatched": _MNLI_DEV,
                     "test_matched": _MNLI_TEST, "test_mismatched": _MNLI_TEST}}

_AX_COLS = Columns(("index", "sentence1", "sentence2"), "sentence1", "sentence2", None, "index")

_NLI3 = ("entailment", "neutral", "contradiction")
_NLI2 = ("entailment", "not_entailment")

TASKS: dict[str, Task] = {
    "CoLA": Task("CoLA", "cola", ("0", "1"), ("unacceptable", "acceptable"), ("mcc",), **_COLA,
                 boards=(Board("CoLA", "dev", "test", 1063),), hf_columns=("sentence",)),
    "SST-2": Task("SST-2", "sst2", ("0", "1"), ("negative", "positive"), ("accuracy",), **_SST,
                  boards=(Board("SST-2", "dev", "test", 1821),), hf_columns=("sentence",)),
    "MRPC": Task("MRPC", "mrpc", ("0", "1"), ("not_equivalent", "equivalent"), ("f1", "accuracy"), **_MRPC,
                 boards=(Board("MRPC", "dev", "test", 1725),), hf_columns=("sentence1", "sentence2")),
    "STS-B": Task("STS-B", "stsb", (), (), ("pearson", "spearman"), **_STSB,
                  boards=(Board("STS-B", "dev", "test", 1379),), hf_columns=("sentence1", "sentence2")),
    "QQP": Task("QQP", "qqp", ("0", "1"), ("not_duplicate", "duplicate"), ("f1", "accuracy"), **_QQP,
                boards=(Board("QQP", "dev", "test", 390965),), skip_malformed=True,
                hf_columns=("question1", "question2")),
    "MNLI": Task("MNLI", "mnli", _NLI3, _NLI3, ("accuracy",), **_MNLI,
                 boards=(Board("MNLI-m", "dev_matched", "test_matched", 9796),
                         Board("MNLI-mm", "dev_mismatched", "test_mismatched", 9847)),
                 hf_columns=("premise", "hypothesis")),
    "QNLI": Task("QNLI", "qnli", _NLI2, _NLI2, ("accuracy",), **_QNLI,
                 boards=(Board("QNLI", "dev", "test", 5463),), hf_columns=("question", "sentence")),
    "RTE": Task("RTE", "rte", _NLI2, _NLI2, ("accuracy",), **_RTE,
                boards=(Board("RTE", "dev", "test", 3000),), hf_columns=("sentence1", "sentence2")),
    # WNLI files say 0/1 with 1 = entailment; HF's class 0 is not_entailment: the same order.
    "WNLI": Task("WNLI", "wnli", ("0", "1"), ("not_entailment", "entailment"), ("accuracy",), **_WNLI,
                 boards=(Board("WNLI", "dev", "test", 146),), hf_columns=("sentence1", "sentence2")),
    # AX (diagnostic): test only, labels as MNLI; GLUE scores it with R3 (3-class Matthews corr).
    "AX": Task("AX", "ax", _NLI3, _NLI3, ("mcc",),
               files={"test": ("diagnostic/diagnostic.tsv", "diagnostic/AX.tsv", "AX/AX.tsv", "AX.tsv")},
               columns={"test": _AX_COLS}, boards=(Board("AX", None, "test", 1104),), train_from="MNLI",
               hf_columns=("premise", "hypothesis")),
}

# name -> (task, board), in leaderboard order; the 11 files of a submission.
BOARDS: dict[str, tuple[Task, Board]] = {b.name: (t, b) for t in TASKS.values() for b in t.boards}

# The 9 tasks averaged into the GLUE score (AX is reported apart).
SCORED_TASKS = ("CoLA", "SST-2", "MRPC", "STS-B", "QQP", "MNLI", "QNLI", "RTE", "WNLI")

# nyu-mll/glue split names for ours.
HF_SPLITS = {"train": "train", "dev": "validation", "test": "test",
             "dev_matched": "validation_matched", "dev_mismatched": "validation_mismatched",
             "test_matched": "test_matched", "test_mismatched": "test_mismatched"}


# Every spelling of a task a user may type -> its canonical name. Keys are lower-cased, so
# the lookup is case-insensitive: the canonical name (SST-2, sst-2) and HF's nyu-mll/glue
# config name (sst2, as run_glue.py's --task_name takes it). Built from TASKS, so a new task
# gets both; every place that reads a task name from a user goes through `canonical`.
ALIASES: dict[str, str] = {**{t.hf_config: n for n, t in TASKS.items()}, **{n.lower(): n for n in TASKS}}


def canonical(name: str) -> str:
    """The canonical name of a GLUE task typed any way ALIASES knows (`sst2`, `Sst-2` ->
    `SST-2`); any other name unchanged (a custom dataset's own name)."""
    return ALIASES.get(name.strip().lower(), name)


def known() -> str:
    """The names an error lists: the canonical ones, then HF's."""
    return f"{', '.join(TASKS)} (any case; or HF's {', '.join(t.hf_config for t in TASKS.values())})"


def select(found: list[Task], names: list[str] | None, where) -> list[Task]:
    """The tasks of `found` that `names` asks for (`--tasks sst2,CoLA`: any spelling ALIASES
    knows, or a custom dataset's own name), in found's order; None or []: all of them."""
    if not names:
        return found
    have = {t.name for t in found}
    wanted = {n if n in have else canonical(n) for n in names}
    unknown = [n for n in names if n not in have and canonical(n) not in have]
    if unknown:
        raise NlplabError(f"no data for {', '.join(unknown)} in {where}; tasks found: {', '.join(sorted(have))}")
    return [t for t in found if t.name in wanted]


def board(name: str) -> tuple[Task, Board]:
    if name not in BOARDS:
        raise NlplabError(f"unknown GLUE entry {name!r}; known: {', '.join(BOARDS)}")
    return BOARDS[name]


def task(name: str) -> Task:
    """The task named `name` in any spelling ALIASES knows."""
    if canonical(name) not in TASKS:
        raise NlplabError(f"unknown GLUE task {name!r}; known: {known()}")
    return TASKS[canonical(name)]
