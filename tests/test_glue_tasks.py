"""Task names as users type them (HF's `sst2`, any case) resolved in one table, and the
character n-gram baseline `tfidf-char` checked against a scikit-learn pipeline built here."""

import json
import random

import numpy as np
import pytest
from conftest import ROOT, run_cli

from nlplab import NlplabError
from nlplab.glue import TASKS, Glue, baselines
from nlplab.glue.report import load_run
from nlplab.glue.tasks import ALIASES, canonical, select, task
from nlplab.sweep import spec

FIX = ROOT / "tests" / "assets" / "glue"
KNOWN = ("CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI, AX, NSMC, KorSTS, KorNLI, KLUE-NLI, KLUE-STS, "
         "KorHate, IMDB (any case; or HF's cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli, ax; "
         "or klue-nli, klue-sts, kor-hate, korean-hate-speech)")


# --- names ------------------------------------------------------------------------------

def test_every_hf_and_canonical_spelling_resolves_to_the_canonical_name():
    assert ALIASES == {"cola": "CoLA", "sst2": "SST-2", "mrpc": "MRPC", "stsb": "STS-B", "qqp": "QQP", "mnli": "MNLI",
                       "qnli": "QNLI", "rte": "RTE", "wnli": "WNLI", "ax": "AX", "sst-2": "SST-2", "sts-b": "STS-B",
                       "nsmc": "NSMC", "korsts": "KorSTS", "kornli": "KorNLI", "klue-nli": "KLUE-NLI",
                       "klue_nli": "KLUE-NLI", "klue-sts": "KLUE-STS", "klue_sts": "KLUE-STS", "korhate": "KorHate",
                       "kor-hate": "KorHate", "kor_hate": "KorHate", "korean-hate-speech": "KorHate", "imdb": "IMDB"}
    for typed, name in (("sst2", "SST-2"), ("STSB", "STS-B"), ("mnli", "MNLI"), ("Ax", "AX"), ("sst-2", "SST-2"),
                        ("SST-2", "SST-2"), ("Sts-B", "STS-B"), ("COLA", "CoLA"), (" mrpc ", "MRPC")):
        assert task(typed).name == name, typed
        assert canonical(typed) == name, typed
    assert canonical("NSMC") == "NSMC"  # a custom dataset keeps its own name


def test_an_unknown_name_is_one_line_listing_the_known_ones():
    with pytest.raises(NlplabError) as e:
        task("xnli")
    assert str(e.value) == f"unknown task 'xnli'; known: {KNOWN}"
    with pytest.raises(NlplabError, match=r"^no data for sst3 in here; tasks found: MRPC, SST-2$"):
        select([TASKS["SST-2"], TASKS["MRPC"]], ["sst2", "sst3"], "here")
    assert [t.name for t in select([TASKS["SST-2"], TASKS["MRPC"]], ["Mrpc", "sst2"], "here")] == ["SST-2", "MRPC"]


def test_glue_folder_reads_a_task_by_any_name():
    src = Glue(FIX)
    assert src.load("sst2", "dev").ids == src.load("SST-2", "dev").ids
    assert src.has("stsb", "train") and src.path("mnli", "dev_matched") == FIX / "MNLI" / "dev_matched.tsv"


def test_a_sweep_file_names_its_task_as_hf_does(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("base: {task: sst2, data_dir: glue}\ngrid: {lr: [1.0e-4]}\n", encoding="utf-8")
    cfg = spec.trials(spec.load(str(path)), tmp_path / "out")[0].cfg
    assert cfg.task == "SST-2" and cfg.max_length == 64  # SST-2's preset in configs/finetune.yaml


def test_score_and_report_take_tasks_by_any_name(tmp_path, capsys):
    out = tmp_path / "maj"
    code, _, err = run_cli("glue", "baseline", "--kind", "majority", "--data-dir", FIX, "-o", out, "--tasks",
                           "sst2,STSB,mnli", capsys=capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.glob("*.dev.tsv")) == ["MNLI-m.dev.tsv", "MNLI-mm.dev.tsv", "SST-2.dev.tsv",
                                                             "STS-B.dev.tsv"]
    code, js, err = run_cli("glue", "score", out, "--data-dir", FIX, "--json", "--tasks", "Sst-2,mnli", capsys=capsys)
    assert code == 0, err
    assert list(json.loads(js)["entries"]) == ["SST-2", "MNLI-m", "MNLI-mm"]
    (tmp_path / "maj.json").write_text(run_cli("glue", "score", out, "--data-dir", FIX, "--json", capsys=capsys)[1])
    picked = load_run(str(tmp_path / "maj.json"), Glue(FIX), ["stsb"])
    assert list(picked["entries"]) == ["STS-B"] and picked["averaged_tasks"] == ["STS-B"]
    code, table, err = run_cli("glue", "report", out, "--data-dir", FIX, "--tasks", "mnli", capsys=capsys)
    assert code == 0, err
    assert [line.split(" |")[0] for line in table.splitlines()[2:]] == [
        "| MNLI-m (acc)", "| MNLI-mm (acc)", "| GLUE score", "| average of tasks present"]
    code, _, err = run_cli("glue", "score", out, "--data-dir", FIX, "--tasks", "xnli", capsys=capsys)
    assert code == 2 and err == f"nlplab glue score: error: unknown task 'xnli'; known: {KNOWN}\n"


# --- the character n-gram baseline ------------------------------------------------------

# Sentiment carried by words whose dev forms never occur in train (wonderful -> wonderfully):
# word n-grams cannot see it, character n-grams can.
POS = {"train": ["wonderful", "delightful", "charming", "brilliant", "joyful"],
       "dev": ["wonderfully", "delightfully", "charmingly", "brilliantly", "joyfully"]}
NEG = {"train": ["dreadful", "tedious", "boring", "awful", "clumsy"],
       "dev": ["dreadfully", "tediously", "boringly", "awfully", "clumsily"]}
FILLER = "the a film movie story cast plot and it was is this one quite very".split()


def _rows(split: str, n: int, rng: random.Random) -> list[tuple[str, str]]:
    """Every third dev row holds one word of each side: a coin flip only the exact weights decide."""
    rows = []
    for i in range(n):
        label = i % 2
        words = rng.sample(FILLER, 5)
        words.insert(rng.randrange(6), rng.choice((POS if label else NEG)[split]))
        if split == "dev" and i % 3 == 0:
            words.insert(rng.randrange(7), rng.choice((NEG if label else POS)[split]))
        rows.append((" ".join(words), str(label)))
    return rows


@pytest.fixture(scope="module")
def sst_like(tmp_path_factory):
    """An SST-2-shaped folder: 300 train, 100 dev, 40 test rows."""
    rng = random.Random(0)
    root = tmp_path_factory.mktemp("glue")
    (root / "SST-2").mkdir()
    splits = {"train": _rows("train", 300, rng), "dev": _rows("dev", 100, rng)}
    for name, rows in splits.items():
        (root / "SST-2" / f"{name}.tsv").write_text("sentence\tlabel\n" + "".join(f"{s}\t{y}\n" for s, y in rows),
                                                    encoding="utf-8")
    test = "".join(f"{i}\t{s}\n" for i, (s, _) in enumerate(_rows("dev", 40, rng)))
    (root / "SST-2" / "test.tsv").write_text("index\tsentence\n" + test, encoding="utf-8")
    return root, splits


def _pipeline():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    # the settings of nlplab.glue.baselines.char_vectorizer on a set under 1,000 rows
    return make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, min_df=1,
                                         max_features=200_000, dtype=np.float32),
                         LogisticRegression(max_iter=1000, random_state=0))


def test_tfidf_char_matches_a_sklearn_pipeline_and_sees_unseen_word_forms(sst_like, tmp_path, capsys):
    from sklearn.metrics import accuracy_score

    root, splits = sst_like
    out = tmp_path / "char"
    code, table, err = run_cli("glue", "baseline", "--kind", "tfidf-char", "--data-dir", root, "-o", out, "--tasks",
                               "sst2", capsys=capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["SST-2.dev.tsv", "SST-2.test.tsv", "baseline.json", "metrics.json"]
    assert json.loads((out / "baseline.json").read_text())["kind"] == "tfidf-char"
    got = json.loads((out / "metrics.json").read_text())["entries"]["SST-2"]["accuracy"]

    model = _pipeline().fit([s for s, _ in splits["train"]], [int(y) for _, y in splits["train"]])
    expected = model.predict([s for s, _ in splits["dev"]])
    assert got == accuracy_score([int(y) for _, y in splits["dev"]], expected)
    rows = (out / "SST-2.dev.tsv").read_text().splitlines()[1:]
    assert rows == [f"{i}\t{k}" for i, k in enumerate(expected.tolist())]
    assert got == 0.84 and f"| SST-2 (acc) | {100 * got:.1f} |" in table
    # the fitted model itself: the same n-grams and the same weights, not only the same labels
    fitted = baselines.Tfidf("tfidf-char").fit(TASKS["SST-2"], Glue(root))
    assert fitted.vectorizer.vocabulary_ == model[0].vocabulary_ and len(model[0].vocabulary_) == 332
    assert np.array_equal(fitted.model.coef_, model[1].coef_)

    word = tmp_path / "word"
    assert run_cli("glue", "baseline", "--kind", "tfidf-logreg", "--data-dir", root, "-o", word) == 0
    assert json.loads((word / "metrics.json").read_text())["entries"]["SST-2"]["accuracy"] <= 0.6  # no dev word seen


def test_tfidf_char_on_pairs_and_regression_as_the_word_baseline(tmp_path, capsys):
    """Pairs joined with " ||| ", STS-B by Ridge clipped to [0, 5], AX by the MNLI model."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge

    out = tmp_path / "char"
    code, _, err = run_cli("glue", "baseline", "--kind", "tfidf-char", "--data-dir", FIX, "-o", out, capsys=capsys)
    assert code == 0, err
    assert len(list(out.glob("*.test.tsv"))) == 11 and (out / "AX.test.tsv").is_file()
    src = Glue(FIX)
    train, dev = src.load("STS-B", "train"), src.load("STS-B", "dev")
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, min_df=1, max_features=200_000,
                          dtype=np.float32)
    x = vec.fit_transform([a + " ||| " + b for a, b in zip(train.texts_a, train.texts_b)])
    ridge = Ridge(alpha=1.0).fit(x, np.asarray(train.labels, dtype=np.float64))
    pred = np.clip(ridge.predict(vec.transform([a + " ||| " + b for a, b in zip(dev.texts_a, dev.texts_b)])), 0, 5)
    rows = (out / "STS-B.dev.tsv").read_text().splitlines()[1:]
    assert rows == [f"{i}\t{v!r}" for i, v in zip(dev.ids, pred.tolist())]


def test_an_unknown_kind_lists_the_three():
    assert baselines.KINDS == ("majority", "tfidf-logreg", "tfidf-char")
    with pytest.raises(NlplabError, match=r"^unknown baseline 'tfidf-bpe'; choose majority, tfidf-logreg, tfidf-char$"):
        baselines.run("tfidf-bpe", Glue(FIX), "unused")
