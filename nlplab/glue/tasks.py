"""Every task of the harness as one small record: where its files are, which columns hold
what, its labels in class order, its metrics and its prediction file(s). Two tables: GLUE
(the leaderboard's tasks) and KO (Korean tasks, plus IMDB), read from their own published
layouts; TASKS is both.

    python -c "from nlplab.glue.tasks import TASKS; print(TASKS['MNLI'])"
    python -c "from nlplab.glue.tasks import TASKS; print(TASKS['NSMC'])"

Column layouts are those of the files written by the classic `download_glue_data.py`
(the ones BERT's `run_classifier.py` and HF's `glue_processors` read): column names
where a file has a header, 0-based indices where it has none (CoLA train/dev).

Labels are the strings found in the files, which are also the strings the leaderboard
expects; their order is GLUE's class order (HF `nyu-mll/glue` class ids), so label
index == class id everywhere. `label_names` are HF's names for the same classes.

Leaderboard entries ("boards"): one per submission file. MNLI has two (MNLI-m, MNLI-mm),
each with its own dev and test split; AX has a test split only and is predicted with
the MNLI model (so its majority baseline comes from MNLI's train labels). A Korean task
has one board named after it (`NSMC.dev.tsv`, `NSMC.test.tsv`); BOARDS, the leaderboard
zip's 11 files, holds GLUE's only.

Where files are: every path of `files` is looked for under the data folder ROOT, then
under ROOT/<home> (GLUE's `glue/`, NSMC's `nsmc/`, ...). So `--data-dir` may be the task's
own folder (`../shared/data/nsmc`), the GLUE folder, or a root laid out as shared/data is.
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
    label: str | int | None = None  # None: unlabelled (test); JSON: a dotted path (labels.real-label)
    id: str | int | None = None  # test `index` column kept for predictions; None: row number
    where: tuple[str, str] | None = None  # JSONL: keep rows whose field equals a value (IMDB's split)


@dataclass(frozen=True)
class Board:
    """One leaderboard entry: its submission file `<name>.tsv` and the splits it scores."""

    name: str
    dev: str | None  # split name scored locally (None for AX: no public labels)
    test: str | None  # None: no public test set (KLUE)
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
    # The rest is for tasks outside GLUE (defaults are GLUE's).
    suite: str = "glue"  # glue | ko | en: what `--suite` selects and which score a task enters
    home: str = "glue"  # folder under a shared/data-like root that holds the files
    reader: str = "tsv"  # tsv (quoting off) | json (a JSON array, KLUE) | jsonl (one object per line)
    aliases: tuple[str, ...] = ()  # more names users type (lower case)
    main: str | None = None  # the one metric its score is (KorSTS: Spearman); None: mean of metrics
    holdout: tuple[str, int] | None = None  # no dev file: dev is ("last", N) or ("every", N) rows of train
    all_train: bool = False  # KorNLI: train is every train file present, not the first found
    origin: str = "the file download_glue_data.py wrote"  # named in errors about the files
    shuffle: int | None = None  # rows sorted by label (IMDB): read in a fixed order of this seed
    # The suite's rules for `nlplab bench` (nlplab/bench/), here rather than in the runner:
    bench: str = "finetune"  # finetune, or majority: predict its train set's majority class (WNLI, below)
    start_from: str | None = None  # a task whose fine-tuned model it may start from, when the bench's
    # --config asks (`tasks: {RTE: {init_from: MNLI}}`), instead of --model; off by default

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

# RTE, MRPC and STS-B may start from the fine-tuned MNLI model (RoBERTa, Liu et al. 2019, sec. 5.1:
# "for RTE, STS and MRPC we found it helpful to finetune starting from the MNLI single-task model").
_FROM_MNLI = {"start_from": "MNLI"}
# WNLI: the majority class, the leaderboard's practice (BERT, Devlin et al. 2019, sec. 4.1). Its
# train and dev sets are adversarial: a hypothesis of a train example recurs in dev with the
# opposite label (GLUE, Wang et al. 2019), so a model that learns train scores below the majority.
WNLI_RULE = ("WNLI predicts the majority class of its train set (the leaderboard practice, BERT sec. 4.1): "
             "its train and dev sets are adversarial, a fine-tuned model scores below the majority")

GLUE: dict[str, Task] = {
    "CoLA": Task("CoLA", "cola", ("0", "1"), ("unacceptable", "acceptable"), ("mcc",), **_COLA,
                 boards=(Board("CoLA", "dev", "test", 1063),), hf_columns=("sentence",)),
    "SST-2": Task("SST-2", "sst2", ("0", "1"), ("negative", "positive"), ("accuracy",), **_SST,
                  boards=(Board("SST-2", "dev", "test", 1821),), hf_columns=("sentence",)),
    "MRPC": Task("MRPC", "mrpc", ("0", "1"), ("not_equivalent", "equivalent"), ("f1", "accuracy"), **_MRPC,
                 boards=(Board("MRPC", "dev", "test", 1725),), hf_columns=("sentence1", "sentence2"), **_FROM_MNLI),
    "STS-B": Task("STS-B", "stsb", (), (), ("pearson", "spearman"), **_STSB,
                  boards=(Board("STS-B", "dev", "test", 1379),), hf_columns=("sentence1", "sentence2"), **_FROM_MNLI),
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
                boards=(Board("RTE", "dev", "test", 3000),), hf_columns=("sentence1", "sentence2"), **_FROM_MNLI),
    # WNLI files say 0/1 with 1 = entailment; HF's class 0 is not_entailment: the same order.
    "WNLI": Task("WNLI", "wnli", ("0", "1"), ("not_entailment", "entailment"), ("accuracy",), **_WNLI,
                 boards=(Board("WNLI", "dev", "test", 146),), hf_columns=("sentence1", "sentence2"), bench="majority"),
    # AX (diagnostic): test only, labels as MNLI; GLUE scores it with R3 (3-class Matthews corr).
    "AX": Task("AX", "ax", _NLI3, _NLI3, ("mcc",),
               files={"test": ("diagnostic/diagnostic.tsv", "diagnostic/AX.tsv", "AX/AX.tsv", "AX.tsv")},
               columns={"test": _AX_COLS}, boards=(Board("AX", None, "test", 1104),), train_from="MNLI",
               hf_columns=("premise", "hypothesis")),
}

# --- Korean tasks (and IMDB), each read from its own published layout ---------------------

# NSMC (e9t/nsmc): `id document label`, quoting off (623 train / 233 test documents keep the
# original pipeline's doubled CSV quotes as data). 5 train and 3 test documents are empty:
# they are empty texts, not dropped rows (pandas would read NaN). NSMC has no dev set: dev
# is the last 10,000 rows of ratings_train.txt (the file is already shuffled: partition.py's
# seed-1234 permutation), train the first 140,000; test is the labelled ratings_test.txt.
_NSMC_COLS = Columns(("id", "document", "label"), "document", label="label", id="id")
_NSMC = {"files": {"train": ("ratings_train.txt",), "test": ("ratings_test.txt",)},
         "columns": {"train": _NSMC_COLS, "test": _NSMC_COLS}}

# KorSTS (kakaobrain/KorNLUDatasets): 7 columns, quoting off (quotes are data, as in STS-B);
# its `id` repeats across genres, so rows are keyed by number. The test file is labelled.
_KORSTS_COLS = Columns(("genre", "filename", "year", "id", "score", "sentence1", "sentence2"),
                       "sentence1", "sentence2", "score")
_KORSTS = {"files": {s: (f"sts-{s}.tsv",) for s in ("train", "dev", "test")},
           "columns": {s: _KORSTS_COLS for s in ("train", "dev", "test")}}

# KorNLI: machine-translated MNLI + SNLI train (either may be absent: train on those present),
# XNLI dev/test post-edited; 3 columns, quoting off, both XNLI files labelled.
_KORNLI_COLS = Columns(("sentence1", "sentence2", "gold_label"), "sentence1", "sentence2", "gold_label")
_KORNLI = {"files": {"train": ("multinli.train.ko.tsv", "snli_1.0_train.ko.tsv"), "dev": ("xnli.dev.ko.tsv",),
                     "test": ("xnli.test.ko.tsv",)},
           "columns": {s: _KORNLI_COLS for s in ("train", "dev", "test")}}

# KLUE v1.1 (v1 file names accepted too): a JSON array per split, no public test set.
# NLI: the label is `gold_label` (train's `source` is spelled `genre`; not read). STS: the
# labels are nested, {"label": 3.7 (rounded), "real-label": 3.714 (annotators' mean),
# "binary-label": 1 (real-label >= 3.0)}; KLUE scores Pearson against real-label and F1 of
# the binary label, the prediction thresholded at 3.0 (Park et al. 2021, KLUE, sec. 3.2).
def _klue(name: str, cols: Columns) -> dict:
    return {"files": {s: (f"klue-{name}-v1.1_{s}.json", f"klue-{name}-v1_{s}.json") for s in ("train", "dev")},
            "columns": {"train": cols, "dev": cols}}


_KLUE_NLI = _klue("nli", Columns(None, "premise", "hypothesis", "gold_label", id="guid"))
_KLUE_STS = _klue("sts", Columns(None, "sentence1", "sentence2", "labels.real-label", id="guid"))

# korean-hate-speech (kocohub): `comments contain_gender_bias bias hate`; the test file has
# the comments alone (no labels: predictions only, as GLUE's test sets).
_HATE_COLS = Columns(("comments", "contain_gender_bias", "bias", "hate"), "comments", label="hate")
_HATE = {"files": {"train": ("train.tsv",), "dev": ("dev.tsv",), "test": ("test.no_label.tsv",)},
         "columns": {"train": _HATE_COLS, "dev": _HATE_COLS, "test": Columns(("comments",), "comments")}}

# IMDB (aclImdb v1.0 as shared/data's reviews.jsonl.gz: split/label/text, <br /> tags kept):
# no dev set: dev is every 10th train row (rows are sorted by label, so it stays balanced:
# 1,250 + 1,250), train the other 22,500; test is the labelled 25,000. unsup rows are not
# read. Rows are keyed by their number within the split (aclImdb ids repeat across labels)
# and each split is then read in a fixed shuffled order (seed 0), so that the first N rows
# (--max-train-samples, --max-eval-samples) hold both labels.
_IMDB = {"files": {"train": ("reviews.jsonl.gz", "reviews.jsonl"), "test": ("reviews.jsonl.gz", "reviews.jsonl")},
         "columns": {s: Columns(None, "text", label="label", where=("split", s)) for s in ("train", "test")}}

KO: dict[str, Task] = {
    "NSMC": Task("NSMC", "", ("0", "1"), ("negative", "positive"), ("accuracy",), **_NSMC,
                 boards=(Board("NSMC", "dev", "test", 50000),), suite="ko", home="nsmc", holdout=("last", 10000),
                 origin="NSMC's file from e9t/nsmc"),
    "KorSTS": Task("KorSTS", "", (), (), ("spearman", "pearson"), **_KORSTS,
                   boards=(Board("KorSTS", "dev", "test", 1379),), suite="ko", home="korsts", main="spearman",
                   origin="KorSTS's file from kakaobrain/KorNLUDatasets"),
    "KorNLI": Task("KorNLI", "", _NLI3, _NLI3, ("accuracy",), **_KORNLI, boards=(Board("KorNLI", "dev", "test", 5010),),
                   suite="ko", home="kornli", all_train=True, origin="KorNLI's file from kakaobrain/KorNLUDatasets"),
    "KLUE-NLI": Task("KLUE-NLI", "", _NLI3, _NLI3, ("accuracy",), **_KLUE_NLI, boards=(Board("KLUE-NLI", "dev", None, 0),),
                     suite="ko", home="klue/nli", reader="json", aliases=("klue_nli", "klue-nli"),
                     origin="KLUE v1.1's klue-nli JSON"),
    "KLUE-STS": Task("KLUE-STS", "", (), (), ("pearson", "f1_3"), **_KLUE_STS, boards=(Board("KLUE-STS", "dev", None, 0),),
                     suite="ko", home="klue/sts", reader="json", aliases=("klue_sts", "klue-sts"), main="pearson",
                     origin="KLUE v1.1's klue-sts JSON"),
    "KorHate": Task("KorHate", "", ("none", "offensive", "hate"), ("none", "offensive", "hate"), ("macro_f1", "accuracy"),
                    **_HATE, boards=(Board("KorHate", "dev", "test", 974),), suite="ko", home="korean-hate-speech",
                    aliases=("kor-hate", "korean-hate-speech", "kor_hate"), main="macro_f1",
                    origin="kocohub/korean-hate-speech's file"),
    "IMDB": Task("IMDB", "", ("neg", "pos"), ("neg", "pos"), ("accuracy",), **_IMDB,
                 boards=(Board("IMDB", "dev", "test", 25000),), suite="en", home="imdb", reader="jsonl",
                 holdout=("every", 10), origin="shared/data's imdb/reviews.jsonl.gz", shuffle=0),
}

TASKS: dict[str, Task] = {**GLUE, **KO}

# name -> (task, board), in leaderboard order; the 11 files of a GLUE submission.
BOARDS: dict[str, tuple[Task, Board]] = {b.name: (t, b) for t in GLUE.values() for b in t.boards}
# every prediction file's entry name -> (task, board): GLUE's, then the Korean tasks'
ENTRIES: dict[str, tuple[Task, Board]] = {b.name: (t, b) for t in TASKS.values() for b in t.boards}

# The 9 tasks averaged into the GLUE score (AX is reported apart).
SCORED_TASKS = ("CoLA", "SST-2", "MRPC", "STS-B", "QQP", "MNLI", "QNLI", "RTE", "WNLI")
# The Korean score: the mean of the main metric of the Korean tasks present (KoELECTRA's
# table reports one number per task: NSMC acc, KorSTS Spearman, KorNLI acc, ...).
KO_TASKS = tuple(n for n, t in KO.items() if t.suite == "ko")
# --suite NAME -> the tasks it selects (those found in the data folder)
SUITES = {"glue": (*SCORED_TASKS, "AX"), "ko": KO_TASKS, "en": tuple(n for n, t in KO.items() if t.suite == "en")}

# nyu-mll/glue split names for ours.
HF_SPLITS = {"train": "train", "dev": "validation", "test": "test",
             "dev_matched": "validation_matched", "dev_mismatched": "validation_mismatched",
             "test_matched": "test_matched", "test_mismatched": "test_mismatched"}


# Every spelling of a task a user may type -> its canonical name. Keys are lower-cased, so
# the lookup is case-insensitive: the canonical name (SST-2, sst-2) and HF's nyu-mll/glue
# config name (sst2, as run_glue.py's --task_name takes it). Built from TASKS, so a new task
# gets both; every place that reads a task name from a user goes through `canonical`.
ALIASES: dict[str, str] = {**{t.hf_config: n for n, t in TASKS.items() if t.hf_config},
                           **{a: n for n, t in TASKS.items() for a in t.aliases}, **{n.lower(): n for n in TASKS}}


def canonical(name: str) -> str:
    """The canonical name of a GLUE task typed any way ALIASES knows (`sst2`, `Sst-2` ->
    `SST-2`); any other name unchanged (a custom dataset's own name)."""
    return ALIASES.get(name.strip().lower(), name)


def known() -> str:
    """The names an error lists: the canonical ones, then HF's."""
    return (f"{', '.join(TASKS)} (any case; or HF's {', '.join(t.hf_config for t in GLUE.values())}; "
            f"or {', '.join(a for t in KO.values() for a in t.aliases if '_' not in a)})")


def select(found: list[Task], names: list[str] | None, where, suite: str | None = None) -> list[Task]:
    """The tasks of `found` that `names` asks for (`--tasks sst2,CoLA`: any spelling ALIASES
    knows, or a custom dataset's own name), in found's order; None or []: all of them.
    `suite` (glue, ko, en) keeps those of found in that suite, before names narrow it."""
    if suite is not None:
        if suite not in SUITES:
            raise NlplabError(f"unknown suite {suite!r}; suites: {', '.join(SUITES)}")
        found = [t for t in found if t.name in SUITES[suite]]
        if not found:
            raise NlplabError(f"no {suite} task in {where}; the {suite} suite is {', '.join(SUITES[suite])}")
    if not names:
        return found
    have = {t.name for t in found}
    wanted = {n if n in have else canonical(n) for n in names}
    unknown = [n for n in names if n not in have and canonical(n) not in have]
    if unknown:
        raise NlplabError(f"no data for {', '.join(unknown)} in {where}; tasks found: {', '.join(sorted(have))}")
    return [t for t in found if t.name in wanted]


def board(name: str) -> tuple[Task, Board]:
    if name not in ENTRIES:
        raise NlplabError(f"unknown entry {name!r}; known: {', '.join(ENTRIES)}")
    return ENTRIES[name]


def task(name: str) -> Task:
    """The task named `name` in any spelling ALIASES knows."""
    if canonical(name) not in TASKS:
        raise NlplabError(f"unknown task {name!r}; known: {known()}")
    return TASKS[canonical(name)]
