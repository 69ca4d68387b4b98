"""GLUE harness: the task table, every reader (real CoLA/SST-2/MRPC, synthetic classic
folders for the rest, the hub, custom sets), metric parity with scikit-learn/scipy, the
submission round-trip and each corruption `check` must catch, and the CLI end to end."""

import json
import zipfile

import numpy as np
import pytest
from conftest import ROOT, run_cli
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nlplab import NlplabError
from nlplab.glue import BOARDS, SCORED_TASKS, TASKS, Custom, Glue
from nlplab.glue import metrics as M
from nlplab.glue.submission import HEADER, check, submit, validate
from nlplab.glue.tasks import GLUE

FIX = ROOT / "tests" / "assets" / "glue"
NLI3 = {"entailment", "neutral", "contradiction"}


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- the task table ---------------------------------------------------------------------


def test_table_has_every_task_and_the_leaderboard_files_in_order():
    assert list(GLUE) == ["CoLA", "SST-2", "MRPC", "STS-B", "QQP", "MNLI", "QNLI", "RTE", "WNLI", "AX"]
    assert list(TASKS) == [*GLUE, "NSMC", "KorSTS", "KorNLI", "KLUE-NLI", "KLUE-STS", "KorHate", "IMDB"]
    assert list(BOARDS) == ["CoLA", "SST-2", "MRPC", "STS-B", "QQP", "MNLI-m", "MNLI-mm", "QNLI", "RTE", "WNLI", "AX"]
    assert SCORED_TASKS == ("CoLA", "SST-2", "MRPC", "STS-B", "QQP", "MNLI", "QNLI", "RTE", "WNLI")
    assert TASKS["STS-B"].regression and not TASKS["CoLA"].regression
    assert TASKS["MNLI"].labels == ("entailment", "neutral", "contradiction") == TASKS["AX"].labels
    assert TASKS["QNLI"].labels == TASKS["RTE"].labels == ("entailment", "not_entailment")
    assert TASKS["WNLI"].label_names == ("not_entailment", "entailment")  # file 1 = entailment = HF class 1
    assert TASKS["MRPC"].metrics == TASKS["QQP"].metrics == ("f1", "accuracy")
    assert TASKS["STS-B"].metrics == ("pearson", "spearman") and TASKS["CoLA"].metrics == ("mcc",)
    assert len(TASKS["MNLI"].columns["train"].header) == 12 and len(TASKS["MNLI"].columns["dev_matched"].header) == 16
    assert len(TASKS["STS-B"].columns["train"].header) == 10 and TASKS["STS-B"].columns["train"].text_a == "sentence1"
    sizes = {n: b.test_size for n, (_, b) in BOARDS.items()}
    assert sizes == {"CoLA": 1063, "SST-2": 1821, "MRPC": 1725, "STS-B": 1379, "QQP": 390965, "MNLI-m": 9796,
                     "MNLI-mm": 9847, "QNLI": 5463, "RTE": 3000, "WNLI": 146, "AX": 1104}


# --- readers: the real files ------------------------------------------------------------

REAL = {"CoLA": (8551, 1043, 1063), "SST-2": (67349, 872, 1821), "MRPC": (3668, 408, 1725)}


@pytest.mark.parametrize("name", REAL)
def test_real_glue_files_read_with_exact_row_counts(shared, name):
    glue = Glue(shared / "glue")
    assert [t.name for t in glue.tasks()] == ["CoLA", "SST-2", "MRPC"]
    for split, n in zip(("train", "dev", "test"), REAL[name]):
        s = glue.load(name, split)
        assert len(s) == len(s.texts_a) == n and not s.skipped, (name, split)
        assert s.ids[:2] == ["0", "1"] and s.ids[-1] == str(n - 1)
        assert (s.labels is None) == (split == "test")
        if s.labels:
            assert set(s.labels) == {"0", "1"}


def test_real_quirks(shared):
    glue = Glue(shared / "glue")
    cola = glue.load("CoLA", "dev")  # no header, no final newline
    assert cola.texts_a[0] == "The sailors rode the breeze clear of the rocks."
    assert cola.texts_a[-1] == "John talked to Bill about himself." and cola.labels[-1] == "1"
    mrpc = glue.load("MRPC", "dev")  # BOM header; quotes are data
    assert mrpc.labels[:2] == ["1", "0"] and mrpc.texts_b[0].startswith('"The foodservice pie')
    assert glue.load("MRPC", "test").texts_a[0].startswith("PCCW's chief operating officer")
    assert glue.load("SST-2", "train").labels.count("1") == 37569


# --- readers: synthetic classic folders --------------------------------------------------


def test_fixture_reads_every_task_and_split(capsys):
    glue = Glue(FIX)
    assert [t.name for t in glue.tasks()] == list(GLUE)
    for t in GLUE.values():
        for split in t.files:
            s = glue.load(t, split)
            want = 5 if split.startswith("test") else 6 if split.startswith("dev") else 12
            assert len(s) == want, (t.name, split)
            assert (s.texts_b is None) == (t.name in ("CoLA", "SST-2")), t.name
            assert (s.labels is None) == split.startswith("test")
    assert "QQP/train.tsv: skipped 2 malformed row(s)" in capsys.readouterr().err


def test_fixture_quirks_and_ids():
    glue = Glue(FIX)
    qqp = glue.load("QQP", "train")
    assert [line for line, _ in qqp.skipped] == [6, 7]
    assert qqp.ids[:5] == ["0", "1", "2", "3", "6"]  # row numbers: skipped rows keep theirs
    assert glue.load("QQP", "test").ids == ["0", "1", "2", "3", "4"]  # the test `id` column
    assert glue.load("QQP", "dev").ids == [str(i) for i in range(6)]
    mnli = glue.load("MNLI", "dev_mismatched")
    assert mnli.labels[:3] == ["entailment", "neutral", "contradiction"]
    assert mnli.texts_b[1] == "Someone was there."
    assert all(0 <= v <= 5 for v in glue.load("STS-B", "train").labels)
    assert glue.load("CoLA", "dev").texts_a[0] == 'He said "hello" to the dog.'
    assert glue.load("MRPC", "train").texts_b[0].startswith('"')  # an unbalanced quote is data
    assert glue.load("WNLI", "train").labels[:2] == ["1", "0"]
    assert glue.load("AX", "test").ids == ["0", "1", "2", "3", "4"]


def test_reader_errors_name_the_file_line_and_fix(tmp_path):
    with pytest.raises(NlplabError, match=r"QQP/train.tsv: no such file.*download_glue_data.py --tasks QQP"):
        Glue(tmp_path).load("QQP", "train")
    with pytest.raises(NlplabError, match="no such folder"):
        Glue(tmp_path / "nope")
    write(tmp_path / "SST-2/train.tsv", "text\tlabel\nfine\t1\n")
    with pytest.raises(NlplabError, match=r"SST-2/train.tsv:1: no column 'sentence'.*columns: text, label"):
        Glue(tmp_path).load("SST-2", "train")
    write(tmp_path / "RTE/dev.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tentailment\n")
    with pytest.raises(NlplabError, match=r"RTE/dev.tsv:3: 3 tab-separated fields, header has 4; RTE's files"):
        Glue(tmp_path).load("RTE", "dev")
    write(tmp_path / "RTE/train.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailed\n")
    with pytest.raises(NlplabError, match=r"RTE/train.tsv:2: unknown RTE label 'entailed'; labels are entailment, not_entailment"):
        Glue(tmp_path).load("RTE", "train")
    write(tmp_path / "STS-B/train.tsv", "\t".join(TASKS["STS-B"].columns["train"].header) + "\n" + "x\t" * 9 + "high\n")
    with pytest.raises(NlplabError, match=r"STS-B/train.tsv:2: label 'high' is not a number"):
        Glue(tmp_path).load("STS-B", "train")
    write(tmp_path / "CoLA/train.tsv", "")
    with pytest.raises(NlplabError, match="CoLA/train.tsv: empty file"):
        Glue(tmp_path).load("CoLA", "train")
    write(tmp_path / "CoLA/dev.tsv", "gj04\t1\n")
    with pytest.raises(NlplabError, match=r"CoLA/dev.tsv:1: 2 tab-separated fields, the text is field 4"):
        Glue(tmp_path).load("CoLA", "dev")
    with pytest.raises(NlplabError, match="AX has no 'train' split"):
        Glue(tmp_path).load("AX", "train")


def test_hub_offline_is_one_line_naming_data_dir(monkeypatch):
    import datasets

    def offline(*a, **k):
        raise ConnectionError("Couldn't reach 'nyu-mll/glue' on the Hub\n(LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(NlplabError) as e:
        Glue().load("CoLA", "dev")
    assert "\n" not in str(e.value) and "pass --data-dir" in str(e.value) and "ConnectionError" in str(e.value)


def test_hub_rows_map_class_ids_to_glue_labels(monkeypatch):
    import datasets

    seen = {}

    def fake(path, name, split):
        seen.update(path=path, name=name, split=split)
        label = [0, 2, 1] if split != "test_matched" else [-1, -1, -1]
        return datasets.Dataset.from_dict({"premise": ["a", "b", "c"], "hypothesis": ["x", "y", "z"],
                                           "label": label, "idx": [0, 1, 2]})

    monkeypatch.setattr(datasets, "load_dataset", fake)
    s = Glue().load("MNLI", "dev_mismatched")
    assert seen == {"path": "nyu-mll/glue", "name": "mnli", "split": "validation_mismatched"}
    assert s.labels == ["entailment", "contradiction", "neutral"] and s.texts_b == ["x", "y", "z"]
    assert Glue().load("MNLI", "test_matched").labels is None


def test_custom_dataset_real_nsmc_and_small_files(shared, tmp_path):
    nsmc = Custom("NSMC", {"train": str(shared / "nsmc/ratings_test.txt")}, text="document", label="label", id="id")
    s = nsmc.load("NSMC", "train")
    assert len(s) == 50000 and nsmc.task().labels == ("0", "1") and s.labels.count("1") == 25173
    assert s.ids[0].isdigit() and s.texts_b is None
    write(tmp_path / "train.jsonl", '{"q": "밥 먹었어?", "a": "네", "y": "yes"}\n{"q": "춥다", "a": "응", "y": "no"}\n')
    write(tmp_path / "dev.csv", 'q,a,y\n"밥, 먹었어?",네,yes\n춥다,응,maybe\n')
    c = Custom("chat", {"train": str(tmp_path / "train.jsonl"), "dev": str(tmp_path / "dev.csv")},
               text="q", text_pair="a", label="y")
    assert c.task().labels == ("no", "yes") and c.load(None, "train").texts_b == ["네", "응"]
    with pytest.raises(NlplabError, match=r"dev.csv:3: unknown label 'maybe'; labels \(from train\) are no, yes"):
        c.load(None, "dev")
    with pytest.raises(NlplabError, match="no column 'label'"):
        Custom("x", {"train": str(tmp_path / "dev.csv")}, text="q", label="label").task()


# --- metrics ------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:A single label was found")  # sklearn's, on one-class draws
@settings(max_examples=200, deadline=None)
@given(st.data())
def test_classification_metrics_match_sklearn(data):
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    n = data.draw(st.integers(1, 60))
    k = data.draw(st.sampled_from([2, 3]))
    y = data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    p = data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    assert M.mcc(y, p) == pytest.approx(matthews_corrcoef(y, p), abs=1e-12)
    assert M.accuracy(y, p) == pytest.approx(accuracy_score(y, p))
    assert M.f1(y, p) == pytest.approx(f1_score(y, p, labels=[1], average="macro", zero_division=0.0), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), min_size=2, max_size=60))
def test_correlations_match_scipy(pairs):
    from scipy.stats import pearsonr, rankdata, spearmanr

    x = np.array([a / 10 for a, _ in pairs])
    y = np.array([b / 10 for _, b in pairs])
    assert M.rankdata(x) == pytest.approx(rankdata(x))
    assume(np.ptp(x) > 0 and np.ptp(y) > 0)
    assert M.pearson(x, y) == pytest.approx(pearsonr(x, y)[0], abs=1e-9)
    assert M.spearman(x, y) == pytest.approx(spearmanr(x, y)[0], abs=1e-9)


@pytest.mark.filterwarnings("ignore:A single label was found")
def test_metrics_on_hand_computed_and_degenerate_cases():
    from sklearn.metrics import matthews_corrcoef

    assert M.mcc([1, 1, 0, 0], [1, 0, 0, 0]) == pytest.approx(2 / 12 ** 0.5)  # tp1 tn2 fp0 fn1
    assert M.mcc([1, 0, 1, 0], [0, 1, 0, 1]) == pytest.approx(-1.0)
    assert M.mcc([1, 1, 1], [1, 1, 1]) == 0.0 == matthews_corrcoef([1, 1, 1], [1, 1, 1])  # one class
    assert M.mcc([0, 1, 0, 1], [1, 1, 1, 1]) == 0.0 == matthews_corrcoef([0, 1, 0, 1], [1, 1, 1, 1])
    assert M.f1([1, 0, 1, 1], [1, 1, 0, 1]) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert M.f1([0, 0], [0, 0]) == 0.0  # nothing positive anywhere
    assert M.accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    assert M.pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert M.spearman([1, 2, 3, 4], [1, 8, 27, 64]) == pytest.approx(1.0)  # monotone, not linear
    assert M.pearson([1, 2, 3], [2, 2, 2]) == 0.0 and M.spearman([2, 2, 2], [1, 2, 3]) == 0.0  # scipy: nan
    assert list(M.rankdata([10, 20, 10, 30])) == [1.5, 3.0, 1.5, 4.0]


def test_glue_score_averages_mnli_halves_and_leaves_ax_out():
    def e(score):
        return {"score": score}

    entries = {name: e(0.5) for name in BOARDS}
    entries.update({"MNLI-m": e(0.8), "MNLI-mm": e(0.6), "AX": e(0.0), "CoLA": e(0.2)})
    s = M.summarize(entries)
    assert s["tasks"]["MNLI"] == pytest.approx(0.7) and "MNLI-m" not in s["tasks"]
    assert s["glue"] == pytest.approx((0.2 + 0.5 * 7 + 0.7) / 9)  # AX's 0 is not in it
    partial = M.summarize({"CoLA": e(0.2), "SST-2": e(0.8), "MNLI-m": e(0.9)})
    assert partial["glue"] is None and partial["average"] == pytest.approx(0.5)  # half of MNLI is left out
    assert M.entry_score({"f1": 0.8, "accuracy": 0.6}, ("f1", "accuracy")) == pytest.approx(0.7)


# --- submission -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def majority_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("glue") / "majority"
    assert run_cli("glue", "baseline", "--kind", "majority", "--data-dir", FIX, "-o", out) == 0
    return out


def zip_of(majority_run, tmp_path, edit=None):
    """A valid submission from the fixture's majority run, then `edit(files)` on its texts."""
    z = tmp_path / "sub.zip"
    submit([str(majority_run)], str(z), Glue(FIX))
    with zipfile.ZipFile(z) as f:
        files = {n: f.read(n).decode() for n in f.namelist()}
    if edit:
        edit(files)
        with zipfile.ZipFile(z, "w") as f:
            for n, text in files.items():
                f.writestr(n, text)
    return z


def test_submit_then_check_round_trip(majority_run, tmp_path, capsys):
    out = tmp_path / "submission.zip"
    code, _, err = run_cli("glue", "submit", majority_run, "-o", out, "--data-dir", FIX, capsys=capsys)
    assert code == 0, err
    assert "11 files, checked" in err
    with zipfile.ZipFile(out) as z:
        files = {n: z.read(n).decode().split("\n") for n in z.namelist()}
    assert sorted(files) == sorted(f"{n}.tsv" for n in BOARDS)
    for name, lines in files.items():
        assert lines[0] == HEADER and lines[-1] == "" and len(lines) == 5 + 2, name
        assert [r.split("\t")[0] for r in lines[1:-1]] == ["0", "1", "2", "3", "4"]
    preds = {n: {r.split("\t")[1] for r in lines[1:-1]} for n, lines in files.items()}
    assert preds["MNLI-m.tsv"] <= NLI3 and preds["AX.tsv"] <= NLI3
    assert preds["QNLI.tsv"] <= {"entailment", "not_entailment"} and preds["CoLA.tsv"] == {"1"}
    (stsb,) = preds["STS-B.tsv"]
    assert len(stsb.split(".")[1]) == 3 and 0 <= float(stsb) <= 5
    code, out_, err = run_cli("glue", "check", out, "--data-dir", FIX, capsys=capsys)
    assert code == 0 and out_ == "" and "ok (11 files)" in err


def test_submit_converts_ids_and_names_and_clips_stsb(majority_run, tmp_path):
    preds = tmp_path / "preds"
    for name in ("MNLI-m", "MNLI-mm"):
        write(preds / f"{name}.test.tsv", HEADER + "\n0\t0\n1\t1\n2\t2\n3\tneutral\n4\tcontradiction\n")
    write(preds / "STS-B.test.tsv", HEADER + "\n0\t5.7\n1\t-0.2\n2\t2.34567\n3\t1\n4\t0\n")
    write(preds / "QNLI.test.tsv", HEADER + "\n0\t1\n1\t0\n2\tnot_entailment\n3\t0\n4\t0\n")
    write(preds / "CoLA.test.tsv", HEADER + "\n4\tacceptable\n3\tunacceptable\n2\t1\n1\t0\n0\t1\n")  # any order
    z = tmp_path / "s.zip"
    submit([str(preds)], str(z), Glue(FIX), fill_missing="majority")
    with zipfile.ZipFile(z) as f:
        col = {n: [r.split("\t")[1] for r in f.read(n).decode().splitlines()[1:]] for n in f.namelist()}
    assert col["MNLI-m.tsv"] == ["entailment", "neutral", "contradiction", "neutral", "contradiction"]
    assert col["STS-B.tsv"] == ["5.000", "0.000", "2.346", "1.000", "0.000"]
    assert col["QNLI.tsv"] == ["not_entailment", "entailment", "not_entailment", "entailment", "entailment"]
    assert col["CoLA.tsv"] == ["1", "0", "1", "0", "1"]  # written in test order
    assert check(str(z), Glue(FIX)) == []


def test_missing_tasks_fail_or_get_the_majority_with_a_warning(majority_run, tmp_path, capsys):
    preds = tmp_path / "preds"
    write(preds / "CoLA.test.tsv", (majority_run / "CoLA.test.tsv").read_text())
    out = tmp_path / "s.zip"
    code, _, err = run_cli("glue", "submit", preds, "-o", out, "--data-dir", FIX, capsys=capsys)
    assert code == 2 and not out.exists()
    assert "no test predictions for SST-2, MRPC, STS-B, QQP, MNLI-m, MNLI-mm, QNLI, RTE, WNLI, AX" in err
    assert "--fill-missing majority" in err and err.count("\n") == 1
    code, _, err = run_cli("glue", "submit", preds, "-o", out, "--data-dir", FIX, "--fill-missing", "majority",
                           capsys=capsys)
    assert code == 0, err
    assert "warning: filled with the majority-class baseline (a constant where the train file is missing): " \
        "SST-2 (majority baseline), MRPC (majority baseline), STS-B (majority baseline)" in err
    with zipfile.ZipFile(out) as z:
        sst = z.read("SST-2.tsv").decode().splitlines()
        stsb = z.read("STS-B.tsv").decode().splitlines()
    train = Glue(FIX).load("STS-B", "train").labels
    assert {r.split("\t")[1] for r in sst[1:]} == {"0"}  # fixture train: 6 x 0, 6 x 1 -> the lower class id
    assert {r.split("\t")[1] for r in stsb[1:]} == {f"{sum(train) / len(train):.3f}"}


def test_bad_predictions_leave_no_zip_and_duplicates_across_dirs_fail(majority_run, tmp_path, capsys):
    bad = tmp_path / "bad"
    write(bad / "RTE.test.tsv", HEADER + "\n0\tyes\n")
    out = tmp_path / "s.zip"
    code, _, err = run_cli("glue", "submit", bad, "-o", out, "--data-dir", FIX, "--fill-missing", "majority",
                           capsys=capsys)
    assert code == 2 and not out.exists() and not list(tmp_path.glob(".s.zip*"))
    assert "RTE.test.tsv:2: unknown RTE label 'yes'" in err and "(and 1 more problems)" in err
    code, _, err = run_cli("glue", "submit", majority_run, majority_run, "-o", out, capsys=capsys)
    assert code == 2 and "test predictions in both" in err


def _replace(name, old, new):
    def edit(files):
        files[name] = files[name].replace(old, new, 1)
    return edit


CORRUPTIONS = {
    "wrong header": (_replace("CoLA.tsv", HEADER, "id\tlabel"), r"CoLA.tsv:1: header is 'id\\tlabel'"),
    "wrong label vocabulary": (_replace("MNLI-m.tsv", "\tentailment", "\t0"), r"MNLI-m.tsv:2: unknown MNLI label '0'"),
    "cola label names": (_replace("CoLA.tsv", "0\t1", "0\tacceptable"), r"CoLA.tsv:2: unknown CoLA label 'acceptable'"),
    "missing rows": (_replace("SST-2.tsv", "4\t0\n", ""), r"SST-2.tsv: 1 of 5 test indices have no row \(first: 4\)"),
    "duplicate index": (_replace("QQP.tsv", "1\t0", "0\t0"), r"QQP.tsv:3: index 0 appears twice"),
    "index not in the test set": (_replace("WNLI.tsv", "4\t", "7\t"), r"WNLI.tsv:6: index '7' is not in the test set"),
    "missing file": (lambda f: f.pop("AX.tsv"), r"missing AX.tsv"),
    "nested file": (lambda f: f.update({"glue/RTE.tsv": f.pop("RTE.tsv")}), r"unexpected file 'glue/RTE.tsv' \(files go at the root"),
    "wrong field count": (_replace("RTE.tsv", "2\t", "2\tx\t"), r"RTE.tsv:4: 3 tab-separated fields"),
}


def _stsb_out_of_range(files):
    lines = files["STS-B.tsv"].split("\n")
    lines[1] = "0\t7.500"
    files["STS-B.tsv"] = "\n".join(lines)


CORRUPTIONS["STS-B out of range"] = (_stsb_out_of_range, r"STS-B.tsv:2: score 7.500 is outside \[0, 5\]")


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_check_names_each_corruption(kind, majority_run, tmp_path, capsys):
    import re

    edit, pattern = CORRUPTIONS[kind]
    z = zip_of(majority_run, tmp_path, edit)
    code, out, err = run_cli("glue", "check", z, "--data-dir", FIX, capsys=capsys)
    assert code == 1 and "problem(s)" in err
    assert any(re.search(pattern, line) for line in out.splitlines()), out
    assert all(str(z) in line for line in out.splitlines())


def test_check_lists_every_problem_and_caps_a_flood(majority_run, tmp_path):
    def edit(files):
        files["CoLA.tsv"] = files["CoLA.tsv"].replace(HEADER, "index\tlabel")
        files["MNLI-mm.tsv"] = files["MNLI-mm.tsv"].replace("\tentailment", "\t2", 1)
        files.pop("AX.tsv")

    problems = check(str(zip_of(majority_run, tmp_path, edit)), Glue(FIX))
    assert len(problems) == 3
    flood = HEADER + "\n" + "".join(f"{i}\tmaybe\n" for i in range(50))
    _, many = validate(flood, TASKS["RTE"], "RTE.tsv", [str(i) for i in range(50)], strict=True)
    assert len(many) == 21 and many[-1] == "RTE.tsv: ... and 30 more problems"


def test_check_without_data_dir_uses_official_sizes_and_rejects_non_zips(majority_run, tmp_path, capsys):
    problems = check(str(zip_of(majority_run, tmp_path)))
    assert len(problems) == 11 and "QQP.tsv: 390960 of 390965 test indices have no row" in problems[4]
    write(tmp_path / "x.zip", "not a zip")
    code, _, err = run_cli("glue", "check", tmp_path / "x.zip", capsys=capsys)
    assert code == 2 and "not a zip file" in err


# --- scores, reports, baselines ------------------------------------------------------------


def test_majority_on_real_sst2_is_0_5092(shared, tmp_path, capsys):
    out = tmp_path / "maj"
    code, table, err = run_cli("glue", "baseline", "--kind", "majority", "--data-dir", shared / "glue", "-o", out,
                               capsys=capsys)
    assert code == 0, err
    assert "| SST-2 (acc) | 50.9 |" in table and "| MRPC (F1/acc) | 81.2/68.4 |" in table
    assert sorted(p.name for p in out.glob("*.tsv")) == sorted(f"{t}.{s}.tsv" for t in REAL for s in ("dev", "test"))
    code, js, _ = run_cli("glue", "score", out, "--data-dir", shared / "glue", "--json", capsys=capsys)
    result = json.loads(js)
    assert result["entries"]["SST-2"]["accuracy"] == pytest.approx(444 / 872) and round(444 / 872, 4) == 0.5092
    assert result["entries"]["CoLA"]["mcc"] == 0.0 and result["glue"] is None
    assert result == json.loads((out / "metrics.json").read_text())
    lines = (out / "SST-2.test.tsv").read_text().splitlines()
    assert lines[0] == HEADER and len(lines) == 1822 and lines[1] == "0\t1"


@pytest.fixture(scope="module")
def tfidf_real(shared, tmp_path_factory):
    out = tmp_path_factory.mktemp("glue") / "tfidf"
    assert run_cli("glue", "baseline", "--kind", "tfidf-logreg", "--data-dir", shared / "glue", "-o", out) == 0
    return out


def test_tfidf_logreg_beats_majority_on_real_dev(shared, tfidf_real, tmp_path, capsys):
    maj = tmp_path / "majority"
    run_cli("glue", "baseline", "--kind", "majority", "--data-dir", shared / "glue", "-o", maj, capsys=capsys)
    html = tmp_path / "report.html"
    code, table, err = run_cli("glue", "report", maj, tfidf_real, "--data-dir", shared / "glue", "--html", html,
                               capsys=capsys)
    assert code == 0, err
    assert table.splitlines()[0] == "| task (metric) | majority | tfidf |"
    assert "| average of tasks present |" in table
    m, t = (json.loads((d / "metrics.json").read_text())["entries"] for d in (maj, tfidf_real))
    for name in REAL:
        assert t[name]["score"] > m[name]["score"] + 0.01, name
    assert t["SST-2"]["accuracy"] > 0.75 and t["CoLA"]["mcc"] > 0.05
    page = html.read_text()
    assert page.startswith("<!doctype html>") and "<table>" in page and "GLUE score" in page and "<script" not in page


def test_report_reads_score_json_and_needs_data(majority_run, tmp_path, capsys, monkeypatch):
    code, js, _ = run_cli("glue", "score", majority_run, "--data-dir", FIX, "--json", capsys=capsys)
    result = json.loads(js)
    assert result["glue"] == pytest.approx(np.mean(list(result["tasks"][t] for t in SCORED_TASKS)))
    assert set(result["tasks"]) == set(SCORED_TASKS)  # AX has no dev set: never scored
    f = write(tmp_path / "maj.json", js)
    code, table, _ = run_cli("glue", "report", f, capsys=capsys)
    assert code == 0 and f"| GLUE score | {100 * result['glue']:.1f} |" in table

    import datasets

    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    code, _, err = run_cli("glue", "score", majority_run, capsys=capsys)
    assert code == 2 and "pass --data-dir" in err


def test_score_rejects_incomplete_dev_predictions(majority_run, tmp_path, capsys):
    preds = tmp_path / "p"
    write(preds / "RTE.dev.tsv", HEADER + "\n0\tentailment\n1\tentailment\n")
    code, _, err = run_cli("glue", "score", preds, "--data-dir", FIX, capsys=capsys)
    assert code == 2 and "RTE.dev.tsv: 4 of 6 dev indices have no row" in err
    code, _, err = run_cli("glue", "score", tmp_path, "--data-dir", FIX, capsys=capsys)
    assert code == 2 and "no <ENTRY>.dev.tsv predictions" in err


def test_custom_korean_dataset_through_the_same_commands(tmp_path, capsys):
    rows = [("1", "정말 재밌어요 최고", "1"), ("2", "너무 지루하고 별로", "0"), ("3", "최고의 영화 재밌어요", "1"),
            ("4", "별로 지루해요", "0"), ("5", "재밌어요 강추", "1"), ("6", "지루하고 최악", "0")]
    train = write(tmp_path / "train.txt", "id\tdocument\tlabel\n" + "".join("\t".join(r) + "\n" for r in rows))
    dev = write(tmp_path / "dev.txt", "id\tdocument\tlabel\n9\t재밌어요 최고\t1\n8\t지루해요 별로\t0\n")
    out = tmp_path / "run"
    flags = ["--train", train, "--dev", dev, "--text", "document", "--label", "label", "--id", "id", "--name", "NSMC"]
    code, table, err = run_cli("glue", "baseline", "--kind", "tfidf-logreg", "-o", out, *flags, capsys=capsys)
    assert code == 0, err
    assert (out / "NSMC.dev.tsv").read_text().splitlines()[1:] == ["9\t1", "8\t0"]
    assert "| NSMC (acc) | 100.0 |" in table
    code, js, _ = run_cli("glue", "score", out, *flags, "--json", capsys=capsys)
    assert json.loads(js)["entries"]["NSMC"]["accuracy"] == 1.0
    code, _, err = run_cli("glue", "score", out, "--data-dir", FIX, *flags, capsys=capsys)
    assert code == 2 and "not both" in err
    # the name becomes file names: no path in it; the output folder never the data's own
    bad = [*flags[:-1], "../evil"]
    code, _, err = run_cli("glue", "baseline", "--kind", "majority", "-o", tmp_path / "r2", *bad, capsys=capsys)
    assert code == 2 and "--name '../evil': prediction files are named after it" in err
    assert not (tmp_path / "evil.dev.tsv").exists() and not (tmp_path / "r2").exists()
    code, _, err = run_cli("glue", "baseline", "--kind", "majority", "--data-dir", FIX, "-o", FIX, capsys=capsys)
    assert code == 2 and "holds the input" in err
    nolab = write(tmp_path / "nolab.txt", "id\tdocument\tlabel\n1\t재밌어요\t1\n2\t별로\t\n")
    code, _, err = run_cli("glue", "baseline", "--kind", "majority", "-o", tmp_path / "r3",
                           *[nolab if f == train else f for f in flags], capsys=capsys)
    assert code == 2 and "nolab.txt:3: empty label in column 'label'; give every train row its label" in err
    code, _, err = run_cli("glue", "baseline", "--kind", "majority", "-o", tmp_path / "r4", "--train", train, "--text",
                           "document", "--label", "label", capsys=capsys)
    assert code == 2 and "predicts --dev and/or --test; give at least one of them" in err and not (tmp_path / "r4").exists()


def test_tfidf_without_sklearn_says_how_to_install(monkeypatch, tmp_path, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.feature_extraction.text", None)
    code, _, err = run_cli("glue", "baseline", "--kind", "tfidf-logreg", "--data-dir", FIX, "-o", tmp_path / "o",
                           capsys=capsys)
    assert code == 2 and "pip install scikit-learn" in err and err.count("\n") == 1
    code, _, err = run_cli("glue", "baseline", "--kind", "majority", "--data-dir", FIX, "-o", tmp_path / "o",
                           "--tasks", "CoLA,XNLI", capsys=capsys)
    assert code == 2 and "no data for XNLI" in err


def test_fill_missing_uses_a_constant_where_a_task_has_no_train_file(majority_run, tmp_path, capsys):
    """A GLUE folder with only some tasks (like ../shared/data/glue) still makes a complete zip."""
    import shutil

    data = tmp_path / "glue"
    shutil.copytree(FIX, data)
    for task in ("STS-B", "RTE"):
        (data / task / "train.tsv").unlink()
    preds = tmp_path / "preds"
    write(preds / "CoLA.test.tsv", (majority_run / "CoLA.test.tsv").read_text())
    out = tmp_path / "s.zip"
    code, _, err = run_cli("glue", "submit", preds, "-o", out, "--data-dir", data, "--fill-missing", "majority",
                           capsys=capsys)
    assert code == 0 and "STS-B (constant, no train data)" in err and "QQP (majority baseline)" in err
    with zipfile.ZipFile(out) as f:
        col = {n: {r.split("\t")[1] for r in f.read(n).decode().splitlines()[1:]} for n in f.namelist()}
    assert col["STS-B.tsv"] == {"2.500"} and col["RTE.tsv"] == {"entailment"}
    assert check(str(out), Glue(data)) == []
