"""The Korean tasks (and IMDB) of the harness: literal readings of the real files in
../shared/data (row counts, first/last rows, labels), the KorNLI/KLUE layouts from tiny
fixtures, their metrics against scikit-learn/scipy, the Korean score, labelled test splits,
`--suite ko`, and `finetune --task nsmc` end to end."""

import json
import shutil
from collections import Counter

import numpy as np
import pytest
from conftest import ROOT, run_cli

from nlplab import NlplabError
from nlplab.glue import Glue, metrics
from nlplab.glue.report import score_dir, table
from nlplab.glue.submission import write_predictions
from nlplab.glue.tasks import KO_TASKS, TASKS, task

FIX = ROOT / "tests" / "assets" / "ko"


# --- the real files ---------------------------------------------------------------------

def test_a_shared_data_root_finds_every_task_it_holds(shared):
    assert [t.name for t in Glue(shared).tasks()] == ["CoLA", "SST-2", "MRPC", "NSMC", "KorSTS", "KorHate", "IMDB"]
    assert [t.name for t in Glue(shared / "nsmc").tasks()] == ["NSMC"]  # a task's own folder
    assert [t.name for t in Glue(shared / "korean-hate-speech").tasks()] == ["KorHate"]
    # SST-2's train.tsv is not KorHate's train.tsv: the header decides
    assert Glue(shared / "glue" / "SST-2").tasks() == []


def test_nsmc_dev_is_the_last_10000_train_rows_and_empty_documents_are_kept(shared):
    src = Glue(shared)
    train, dev, test = (src.load("nsmc", s) for s in ("train", "dev", "test"))
    assert (len(train), len(dev), len(test)) == (140_000, 10_000, 50_000)
    assert (train.ids[0], train.texts_a[0], train.labels[0]) == ("9976970", "아 더빙.. 진짜 짜증나네요 목소리", "0")
    assert (train.ids[-1], dev.ids[0], dev.ids[-1]) == ("4349570", "9664848", "9619869")
    assert (test.ids[0], test.texts_a[0], test.labels[0], test.ids[-1], test.labels[-1]) == (
        "6270596", "굳 ㅋ", "1", "6070594", "0")
    # 5 + 3 empty documents (pandas reads NaN) are empty texts, rows in = rows out
    assert (train.texts_a.count("") + dev.texts_a.count(""), test.texts_a.count("")) == (5, 3)
    assert Counter(test.labels) == {"0": 24_827, "1": 25_173}
    assert Counter(train.labels + dev.labels) == {"0": 75_173, "1": 74_827}
    # the doubled CSV quotes of the original pipeline are data (quoting off)
    assert sum(t.startswith('"') for t in test.texts_a) == 233


def test_korsts_and_korhate_read_literally(shared):
    src = Glue(shared)
    dev = src.load("KORSTS", "dev")
    assert (len(src.load("korsts", "train")), len(dev)) == (5749, 1500)
    assert (dev.texts_a[0], dev.texts_b[0], dev.labels[0]) == ("안전모를 가진 한 남자가 춤을 추고 있다.",
                                                              "안전모를 쓴 한 남자가 춤을 추고 있다.", 5.0)
    assert not src.has("korsts", "test")  # shared/data has no sts-test.tsv
    hate = {s: src.load("kor-hate", s) for s in ("train", "dev", "test")}
    assert {s: len(v) for s, v in hate.items()} == {"train": 7896, "dev": 471, "test": 974}
    assert Counter(hate["dev"].labels) == {"none": 160, "offensive": 189, "hate": 122}
    assert hate["dev"].texts_a[0] == "송중기 시대극은 믿고본다. 첫회 신선하고 좋았다." and hate["test"].labels is None


@pytest.mark.slow
def test_imdb_holds_out_every_tenth_train_review(shared):
    src = Glue(shared / "imdb")
    train, dev, test = (src.load("imdb", s) for s in ("train", "dev", "test"))
    assert (len(train), len(dev), len(test)) == (22_500, 2_500, 25_000)
    assert Counter(dev.labels) == {"pos": 1250, "neg": 1250} and Counter(test.labels) == {"pos": 12500, "neg": 12500}
    assert sorted(dev.ids, key=int)[:3] == ["0", "10", "20"]  # every 10th row of the file's train split
    assert dev.texts_a[dev.ids.index("0")].startswith("Bromwell High is a cartoon comedy.")
    assert "<br /><br />" in dev.texts_a[dev.ids.index("10")] or any("<br />" in t for t in dev.texts_a[:50])
    # read in a fixed shuffled order: the first 100 rows of each split hold both labels
    assert all(set(s.labels[:100]) == {"pos", "neg"} for s in (train, dev, test))
    assert Glue(shared / "imdb").load("imdb", "dev").ids == dev.ids  # the same order every time


# --- the fixture layouts ----------------------------------------------------------------

def test_kornli_trains_on_every_train_file_present(tmp_path):
    src = Glue(FIX)
    train = src.load("kornli", "train")
    assert len(train) == 6 and train.ids[0] == "multinli.train.ko.tsv:0" and train.ids[-1] == "snli_1.0_train.ko.tsv:1"
    assert train.texts_a[3] == '"따옴표"는 데이터다' and train.labels[-1] == "contradiction"
    assert src.load("kornli", "test").labels == ["contradiction", "entailment"]  # XNLI test is labelled
    only = tmp_path / "kornli"
    only.mkdir()
    for name in ("snli_1.0_train.ko.tsv", "xnli.dev.ko.tsv"):
        shutil.copy(FIX / "kornli" / name, only / name)
    assert len(Glue(only).load("KorNLI", "train")) == 2  # MNLI absent: SNLI alone, ids stay the file's rows
    assert Glue(only).load("KorNLI", "train").ids == ["0", "1"]


def test_klue_json_reads_guids_and_nested_labels():
    src = Glue(FIX)
    nli = src.load("klue-nli", "train")
    assert nli.ids[0] == "klue-nli-v1_train_00000" and nli.labels == ["entailment", "contradiction", "neutral"]
    sts = src.load("KLUE_STS", "dev")
    assert sts.labels == [4.857142857142857, 1.428571428571429, 1.285714285714286]  # real-label, not the rounded one
    assert not src.has("klue-sts", "test")  # KLUE has no public test set


def test_a_klue_record_without_its_field_names_the_record(tmp_path):
    (tmp_path / "klue-nli-v1.1_train.json").write_text(json.dumps([{"guid": "a", "premise": "p", "hypothesis": "h"}]))
    with pytest.raises(NlplabError, match=r"klue-nli-v1.1_train.json: record 1: no field 'gold_label'; "
                                          r"is this KLUE v1.1's klue-nli JSON\?"):
        Glue(tmp_path).load("klue-nli", "train")
    (tmp_path / "klue-nli-v1.1_train.json").write_text('[{"guid": "a",\n "premise": }]')
    with pytest.raises(NlplabError, match=r"klue-nli-v1.1_train.json:2: not a JSON array"):
        Glue(tmp_path).load("klue-nli", "train")


def test_a_missing_korean_file_says_where_to_point_data_dir(tmp_path):
    with pytest.raises(NlplabError, match=r"ratings_train.txt: no such file; point --data-dir at the folder holding "
                                          r"nsmc/ \(or at NSMC's own files"):
        Glue(tmp_path).load("nsmc", "dev")
    with pytest.raises(NlplabError, match=r"^NSMC is read from its files: pass --data-dir DIR"):
        Glue().load("nsmc", "train")


# --- metrics ----------------------------------------------------------------------------

def test_korean_metrics_match_scikit_learn_and_scipy():
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 3, 300), rng.integers(0, 3, 300)
    assert metrics.macro_f1(y, p) == pytest.approx(f1_score(y, p, average="macro"), abs=1e-12)
    assert metrics.macro_f1([0, 0, 1], [0, 0, 2]) == pytest.approx(f1_score([0, 0, 1], [0, 0, 2], average="macro"))
    gold, pred = rng.uniform(0, 5, 200), rng.uniform(0, 5, 200)
    assert metrics.f1_3(gold, pred) == pytest.approx(f1_score(gold >= 3.0, pred >= 3.0), abs=1e-12)
    assert metrics.spearman(gold, pred) == pytest.approx(spearmanr(gold, pred)[0], abs=1e-12)
    assert metrics.pearson(gold, pred) == pytest.approx(pearsonr(gold, pred)[0], abs=1e-12)
    assert [task(n).main or task(n).metrics[0] for n in KO_TASKS] == [
        "accuracy", "spearman", "accuracy", "accuracy", "pearson", "macro_f1"]


def test_the_korean_score_is_the_mean_of_main_metrics_and_tests_are_scored(tmp_path):
    src = Glue(FIX)
    out = tmp_path / "pred"
    out.mkdir()
    nli_dev, nli_test, sts = src.load("kornli", "dev"), src.load("kornli", "test"), src.load("klue-sts", "dev")
    write_predictions(out / "KorNLI.dev.tsv", TASKS["KorNLI"], nli_dev.ids, ["neutral", "neutral", "entailment"])
    write_predictions(out / "KorNLI.test.tsv", TASKS["KorNLI"], nli_test.ids, ["contradiction", "contradiction"])
    write_predictions(out / "KLUE-STS.dev.tsv", TASKS["KLUE-STS"], sts.ids, [4.0, 3.5, 1.0])
    got = score_dir(out, src)
    assert got["entries"]["KorNLI"]["accuracy"] == pytest.approx(2 / 3)
    from scipy.stats import pearsonr
    r = pearsonr(sts.labels, [4.0, 3.5, 1.0])[0]
    assert got["entries"]["KLUE-STS"]["score"] == pytest.approx(r)  # Pearson, its main metric
    assert got["entries"]["KLUE-STS"]["f1_3"] == pytest.approx(2 / 3)  # gold >= 3: [1, 0, 0]; pred: [1, 1, 0]
    assert got["korean"] == pytest.approx((2 / 3 + r) / 2) and got["korean_tasks"] == ["KorNLI", "KLUE-STS"]
    assert got["glue"] is None and got["test"]["entries"]["KorNLI"]["accuracy"] == 0.5
    rows = [line.split(" |")[0] for line in table([got]).splitlines()[2:]]
    assert rows == ["| KorNLI (acc)", "| KLUE-STS (Pearson/F1)", "| Korean score", "| KorNLI test (acc)",
                    "| Korean score, test"]


def test_baseline_suite_ko_writes_canonical_files_and_prints_the_korean_score(tmp_path, capsys):
    out = tmp_path / "maj"
    code, table_, err = run_cli("glue", "baseline", "--kind", "majority", "--data-dir", FIX, "--suite", "ko",
                                "-o", out, capsys=capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.glob("*.tsv")) == ["KLUE-NLI.dev.tsv", "KLUE-STS.dev.tsv", "KorNLI.dev.tsv",
                                                         "KorNLI.test.tsv"]
    # majority of the 6 KorNLI train pairs: entailment (3) -> 1 of 3 dev pairs; of 2 test pairs, 1
    assert out.joinpath("KorNLI.test.tsv").read_text() == "index\tprediction\n0\tentailment\n1\tentailment\n"
    assert "| KorNLI (acc) | 33.3 |" in table_ and "| KorNLI test (acc) | 50.0 |" in table_
    assert "| Korean score | " in table_ and "GLUE score" not in table_
    code, _, err = run_cli("glue", "baseline", "--kind", "majority", "--data-dir", FIX, "--suite", "glue",
                           "-o", tmp_path / "g", capsys=capsys)
    assert code == 2 and "no glue task in" in err
    code, js, err = run_cli("glue", "score", out, "--data-dir", FIX, "--json", "--tasks", "kornli", capsys=capsys)
    assert code == 0 and list(json.loads(js)["entries"]) == ["KorNLI"]


# --- fine-tuning ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ko_vocab(tmp_path_factory):
    from nlplab.subword import SubwordConfig
    from nlplab.subword import train as train_subword

    out = tmp_path_factory.mktemp("ko") / "wp"
    train_subword(SubwordConfig(corpus=[str(ROOT / "corpora" / "ko_sample.txt")], output=str(out), lang="ko",
                                model="wordpiece", vocab_size=800), progress=False)
    return out


def test_finetune_kornli_evaluates_dev_and_the_labelled_test(ko_vocab, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli("finetune", "--task", "kornli", "--data-dir", FIX, "--model", "scratch", "--tokenizer",
                           ko_vocab, "--size", "tiny", "-o", out, "--max-steps", 2, "--batch-size", 4,
                           "--predict-test", "--no-progress", capsys=capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.glob("KorNLI.*.tsv")) == ["KorNLI.dev.tsv", "KorNLI.test.tsv"]
    assert "epochs: 2" in (out / "config.yaml").read_text()  # KorNLI's preset in configs/finetune.yaml
    code, js, err = run_cli("finetune", "eval", out, "--json", capsys=capsys)
    assert code == 0, err
    got = json.loads(js)
    assert list(got) == ["dev", "test"] and got["test"]["examples"] == 2
    pred = [line.split("\t")[1] for line in (out / "KorNLI.test.tsv").read_text().splitlines()[1:]]
    assert got["test"]["accuracy"] == pytest.approx(np.mean(np.array(pred) == ["contradiction", "entailment"]))
    scored = score_dir(out, Glue(FIX))  # `glue score` on the run folder: dev and test
    assert scored["test"]["entries"]["KorNLI"]["accuracy"] == pytest.approx(got["test"]["accuracy"])


@pytest.mark.slow
def test_finetune_nsmc_from_the_real_files(ko_vocab, shared, tmp_path, capsys):
    out = tmp_path / "nsmc"
    code, _, err = run_cli("finetune", "--task", "nsmc", "--data-dir", shared / "nsmc", "--model", "scratch",
                           "--tokenizer", ko_vocab, "--size", "tiny", "-o", out, "--max-steps", 4, "--batch-size", 8,
                           "--max-train-samples", 64, "--max-eval-samples", 200, "--no-progress", capsys=capsys)
    assert code == 0, err
    assert "max_length: 64" in (out / "config.yaml").read_text()  # NSMC's preset
    rows = (out / "NSMC.dev.tsv").read_text().splitlines()
    assert rows[0] == "index\tprediction" and rows[1].split("\t")[0] == "9664848" and len(rows) == 201
    best = json.loads((out / "metrics.json").read_text())["best"]["splits"]["dev"]
    gold = Glue(shared).load("nsmc", "dev").labels[:200]
    assert best["accuracy"] == pytest.approx(np.mean([r.split("\t")[1] for r in rows[1:]] == np.array(gold)))


def test_nlplab_ko_is_glue_with_the_korean_suite(tmp_path, capsys):
    out = tmp_path / "maj"
    code, table_, err = run_cli("ko", "baseline", "--kind", "majority", "--data-dir", FIX, "-o", out, capsys=capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.glob("*.dev.tsv")) == ["KLUE-NLI.dev.tsv", "KLUE-STS.dev.tsv", "KorNLI.dev.tsv"]
    code, same, err = run_cli("glue", "score", out, "--data-dir", FIX, "--suite", "ko", capsys=capsys)
    assert code == 0 and run_cli("ko", "score", out, "--data-dir", FIX, capsys=capsys)[1] == same
