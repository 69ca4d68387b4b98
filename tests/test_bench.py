"""`nlplab bench`: a GLUE suite of tiny tasks built here (MNLI with its AX, QQP with a
malformed row, STS-B, RTE from MNLI, WNLI's majority class) end to end on a 2-layer scratch
BERT, every number checked against scikit-learn/scipy on the prediction files; the zip's
files and rows; resume after a killed run; a failing run beside finished ones (the GPU
worker pool on CPU, Korean tasks); --dry-run; missing tasks and the bad inputs."""

import json
import statistics
import zipfile
from collections import Counter

import numpy as np
import pytest
import torch
import yaml
from conftest import ROOT, run_cli
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score
from test_finetune import vocab  # noqa: F401  (the module-scoped 400-piece WordPiece fixture)

from nlplab.glue import metrics

REVIEWS = [r.split("\t")[0].strip() for r in (ROOT / "corpora" / "en_reviews.tsv").read_text().splitlines()[1:]]
N = {"train": 16, "dev": 8, "test": 6}
AX_ROWS = 5
NLI3 = ("entailment", "neutral", "contradiction")
NLI2 = ("entailment", "not_entailment")


def s(i: int) -> str:
    return REVIEWS[i % len(REVIEWS)]


def lab(labels, i: int):
    """The first label a third of the time and otherwise in turn: a clear train majority."""
    return labels[0] if i % 3 == 0 else labels[i % len(labels)]


def write(path, header, rows, bom=False) -> list:
    path.parent.mkdir(parents=True, exist_ok=True)
    head = ("\ufeff" if bom else "") + ("\t".join(header) + "\n" if header else "")
    path.write_text(head + "".join("\t".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    return rows


def glue_folder(root, only=None) -> dict:
    """Classic download_glue_data.py files of every GLUE task (or `only` these): train 16, dev 8,
    test 6 rows (AX 5). Returns {task: {split: gold labels}} as written."""
    gold = {}

    def want(t):
        return only is None or t in only

    def pairs(task, labels, header, test_header, start=0):
        gold[task] = {}
        for split in ("train", "dev"):
            rows = [(i, s(start + i), s(start + 50 + i), lab(labels, i + (split == "dev"))) for i in range(N[split])]
            write(root / task / f"{split}.tsv", header, rows)
            gold[task][split] = [r[-1] for r in rows]
        write(root / task / "test.tsv", test_header, [(i, s(start + 90 + i), s(start + 140 + i)) for i in range(N["test"])])

    if want("CoLA"):  # no header in train/dev
        gold["CoLA"] = {}
        for split in ("train", "dev"):
            rows = write(root / "CoLA" / f"{split}.tsv", None, [("gj04", lab("01", i), "", s(i)) for i in range(N[split])])
            gold["CoLA"][split] = [r[1] for r in rows]
        write(root / "CoLA" / "test.tsv", ("index", "sentence"), [(i, s(100 + i)) for i in range(N["test"])])
    if want("SST-2"):
        gold["SST-2"] = {}
        for split in ("train", "dev"):
            rows = write(root / "SST-2" / f"{split}.tsv", ("sentence", "label"), [(s(i + 3), lab("10", i)) for i in range(N[split])])
            gold["SST-2"][split] = [r[1] for r in rows]
        write(root / "SST-2" / "test.tsv", ("index", "sentence"), [(i, s(120 + i)) for i in range(N["test"])])
    if want("MRPC"):  # headers with a BOM
        gold["MRPC"] = {}
        for split in ("train", "dev"):
            rows = write(root / "MRPC" / f"{split}.tsv", ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"),
                         [(lab("10", i), 100 + i, 200 + i, s(i), s(i + 7)) for i in range(N[split])], bom=True)
            gold["MRPC"][split] = [r[0] for r in rows]
        write(root / "MRPC" / "test.tsv", ("index", "#1 ID", "#2 ID", "#1 String", "#2 String"),
              [(i, 300 + i, 400 + i, s(i + 9), s(i + 11)) for i in range(N["test"])])
    if want("STS-B"):
        head = ("index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2")
        gold["STS-B"] = {}
        for split in ("train", "dev"):
            rows = write(root / "STS-B" / f"{split}.tsv", head + ("score",),
                         [(i, "main", "f", "2012", i, "none", "none", s(i), s(i + 2), f"{(i * 1.37 + (split == 'dev')) % 5:.3f}")
                          for i in range(N[split])])
            gold["STS-B"][split] = [float(r[-1]) for r in rows]
        write(root / "STS-B" / "test.tsv", head, [(i, "main", "f", "2012", i, "none", "none", s(i + 5), s(i + 6))
                                                  for i in range(N["test"])])
    if want("QQP"):  # keyed by id; one malformed train row (QQP's are skipped and counted)
        gold["QQP"] = {}
        head = ("id", "qid1", "qid2", "question1", "question2", "is_duplicate")
        for split in ("train", "dev"):
            rows = [(500 * (split == "dev") + i, 2 * i, 2 * i + 1, s(i + 20), s(i + 21), lab("01", i + 1)) for i in range(N[split])]
            write(root / "QQP" / f"{split}.tsv", head, rows)
            gold["QQP"][split] = [r[-1] for r in rows]
        with open(root / "QQP" / "train.tsv", "a", encoding="utf-8") as f:
            f.write("999\t1\ta question with no pair\n")
        write(root / "QQP" / "test.tsv", ("id", "question1", "question2"), [(i, s(i + 30), s(i + 31)) for i in range(N["test"])])
    if want("MNLI"):
        head = ("index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
                "sentence1_parse", "sentence2_parse", "sentence1", "sentence2")

        def row(i, a, b):
            return (i, 1000 + i, f"{1000 + i}e", "fiction", f"( {a} )", f"( {b} )", f"(ROOT {a})", f"(ROOT {b})", a, b)
        gold["MNLI"] = {}
        rows = [(*row(i, s(i), s(i + 40)), lab(NLI3, i), lab(NLI3, i)) for i in range(N["train"])]
        write(root / "MNLI" / "train.tsv", head + ("label1", "gold_label"), rows)
        gold["MNLI"]["train"] = [r[-1] for r in rows]
        for k, split in enumerate(("dev_matched", "dev_mismatched")):
            rows = [(*row(i, s(i + 60 + k), s(i + 61)), *[lab(NLI3, i + k + 1)] * 6) for i in range(N["dev"])]
            write(root / "MNLI" / f"{split}.tsv", head + ("label1", "label2", "label3", "label4", "label5", "gold_label"), rows)
            gold["MNLI"][split] = [r[-1] for r in rows]
        for k, split in enumerate(("test_matched", "test_mismatched")):
            write(root / "MNLI" / f"{split}.tsv", head, [row(i, s(i + 80 + k), s(i + 81)) for i in range(N["test"])])
        write(root / "diagnostic" / "diagnostic.tsv", ("index", "sentence1", "sentence2"),
              [(i, s(i + 150), s(i + 151)) for i in range(AX_ROWS)])
    if want("QNLI"):
        pairs("QNLI", NLI2, ("index", "question", "sentence", "label"), ("index", "question", "sentence"), start=3)
    if want("RTE"):
        pairs("RTE", NLI2, ("index", "sentence1", "sentence2", "label"), ("index", "sentence1", "sentence2"), start=5)
    if want("WNLI"):
        pairs("WNLI", "01", ("index", "sentence1", "sentence2", "label"), ("index", "sentence1", "sentence2"), start=7)
    return gold


@pytest.fixture(scope="module")
def glue(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-glue")
    return root, glue_folder(root)


TINY = {"max_steps": 1, "batch_size": 8, "max_length": 32, "log_every": 1}


def config_file(tmp_path, data: dict, name="c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def bench(*args, capsys):
    return run_cli("bench", *args, "--no-progress", capsys=capsys)


def predictions(path) -> dict:
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]
    assert rows[0] == ["index", "prediction"]
    return {r[0]: r[1] for r in rows[1:]}


def test_glue_suite_end_to_end(glue, vocab, tmp_path, capsys):  # noqa: F811
    data, gold = glue
    out = tmp_path / "b"
    cfg = config_file(tmp_path, {"default": TINY, "tasks": {"rte": {"init_from": "MNLI"}, "STS-B": {"lr": 1.0e-3}}})
    code, table, err = bench("glue", "--model", "scratch", "--tokenizer", vocab, "--data-dir", data, "-o", out,
                             "--tasks", "MNLI,QQP,stsb,RTE,WNLI,AX", "--seeds", "1,2", "--config", cfg,
                             "--fill-missing", "majority", capsys=capsys)
    assert code == 0, err
    s = json.loads((out / "bench.json").read_text())
    assert [(r["task"], r["seed"], r["run"], r["status"]) for r in s["runs"]] == [
        ("STS-B", 1, "runs/STS-B-s1", "done"), ("STS-B", 2, "runs/STS-B-s2", "done"),
        ("QQP", 1, "runs/QQP-s1", "done"), ("QQP", 2, "runs/QQP-s2", "done"),
        ("MNLI", 1, "runs/MNLI-s1", "done"), ("MNLI", 2, "runs/MNLI-s2", "done"),
        ("RTE", 1, "runs/RTE-s1", "done"), ("RTE", 2, "runs/RTE-s2", "done"), ("WNLI", None, "runs/WNLI", "done")]
    assert s["failed"] == [] and s["missing"] == {} and s["seeds"] == [1, 2]

    # every dev number is the run's own metrics.json, and scikit-learn/scipy on its prediction file
    for r in s["runs"][:-1]:
        run = out / r["run"]
        m = json.loads((run / "metrics.json").read_text())
        assert r["train_samples_per_s"] == m["samples_per_s"] and r["wall_s"] == m["seconds"] and r["steps"] == 1
        for entry, e in r["entries"].items():
            split = {"MNLI-m": "dev_matched", "MNLI-mm": "dev_mismatched"}.get(entry, "dev")
            assert {k: e[k] for k in e if k != "metrics"} == {k: m["best"]["splits"][split][k] for k in (*e["metrics"], "score")}
            p = predictions(run / f"{entry}.dev.tsv")
            y, yhat = gold[r["task"]][split], [p[str(i)] for i in range(N["dev"])]
            if r["task"] == "STS-B":
                y, yhat = np.array(y), np.array(yhat, dtype=float)
                assert e["pearson"] == pytest.approx(pearsonr(y, yhat)[0]) and e["spearman"] == pytest.approx(spearmanr(y, yhat)[0])
            else:
                assert e["accuracy"] == pytest.approx(accuracy_score(y, yhat))
            if r["task"] == "QQP":
                assert e["f1"] == pytest.approx(f1_score(y, yhat, pos_label="1", zero_division=0))
    rte = yaml.safe_load((out / "runs" / "RTE-s2" / "config.yaml").read_text())
    assert rte["model"] == str(out / "runs" / "MNLI-s2") and rte["tokenizer"] is None and rte["lr"] == 5e-5  # RTE's preset
    assert yaml.safe_load((out / "runs" / "STS-B-s1" / "config.yaml").read_text())["lr"] == 1e-3  # the --config entry

    # WNLI: the majority class of train, stated; scored like any prediction file
    majority_wnli = Counter(gold["WNLI"]["train"]).most_common(1)[0][0]
    p = predictions(out / "runs" / "WNLI" / "WNLI.dev.tsv")
    assert set(p.values()) == {majority_wnli} and len(p) == N["dev"]
    wnli = s["tasks"]["WNLI"]
    assert wnli["how"] == "majority" and "majority class" in wnli["why"] and "adversarial" in wnli["why"]
    assert wnli["entries"]["WNLI"]["accuracy"]["mean"] == pytest.approx(accuracy_score(gold["WNLI"]["dev"], list(p.values())))

    # seeds: mean ± sample std, the best dev seed submitted
    for name in ("STS-B", "QQP", "MNLI", "RTE"):
        a, runs = s["tasks"][name], [r for r in s["runs"] if r["task"] == name]
        for entry, v in a["entries"].items():
            for metric in (*v["metrics"], "score"):
                values = [r["entries"][entry][metric] for r in runs]
                assert v[metric]["mean"] == pytest.approx(np.mean(values))
                assert v[metric]["std"] == pytest.approx(np.std(values, ddof=1))
        scores = [r["score"] for r in runs]
        assert a["best"]["seed"] == [1, 2][scores.index(max(scores))] and a["score"]["std"] == pytest.approx(statistics.stdev(scores))
    # the suite score: MNLI-m/-mm averaged into MNLI, then the mean over the tasks (no GLUE score without all 9)
    task_means = [s["tasks"][n]["score"]["mean"] for n in ("STS-B", "QQP", "RTE", "WNLI")]
    mnli = np.mean([s["tasks"]["MNLI"]["entries"][e]["score"]["mean"] for e in ("MNLI-m", "MNLI-mm")])
    assert s["score"]["glue"] is None and s["score"]["average"] == pytest.approx(np.mean(task_means + [mnli]))
    assert "average of 5 task(s) present, mean over seeds" in table and "WNLI acc (majority class)" in table

    # submission.zip: 11 files at the root, one row per test example, the submitted seed's predictions
    z = zipfile.ZipFile(out / "submission.zip")
    files = {n: z.read(n).decode("utf-8").splitlines() for n in z.namelist()}
    rows = {"AX": AX_ROWS, **{n: N["test"] for n in ("CoLA", "SST-2", "MRPC", "STS-B", "QQP", "MNLI-m", "MNLI-mm",
                                                   "QNLI", "RTE", "WNLI")}}
    assert sorted(files) == sorted(f"{n}.tsv" for n in rows)
    for name, n in rows.items():
        assert files[f"{name}.tsv"][0] == "index\tprediction" and len(files[f"{name}.tsv"]) == n + 1, name
    best_mnli = out / s["tasks"]["MNLI"]["best"]["run"]
    for entry in ("MNLI-m", "MNLI-mm", "AX"):  # AX: by the submitted MNLI seed's model
        assert dict(r.split("\t") for r in files[f"{entry}.tsv"][1:]) == predictions(best_mnli / f"{entry}.test.tsv")
    stsb = [float(r.split("\t")[1]) for r in files["STS-B.tsv"][1:]]
    assert all(0.0 <= v <= 5.0 for v in stsb) and all(len(r.split("\t")[1].split(".")[1]) == 3 for r in files["STS-B.tsv"][1:])
    for name, filled in (("CoLA", "CoLA"), ("QNLI", "QNLI"), ("WNLI", "WNLI")):  # --fill-missing, and WNLI's rule
        assert {r.split("\t")[1] for r in files[f"{name}.tsv"][1:]} == {Counter(gold[filled]["train"]).most_common(1)[0][0]}
    assert s["submission"]["written"] and s["submission"]["problems"] == []
    assert s["submission"]["origin"]["CoLA"].startswith("majority baseline") and s["submission"]["origin"]["WNLI"] == "runs/WNLI/WNLI.test.tsv"
    assert run_cli("glue", "check", out / "submission.zip", "--data-dir", data, capsys=capsys)[0] == 0

    # bench.tsv: one row per run and entry; report.html: the bench beside its runs, the rules stated
    tsv = [line.split("\t") for line in (out / "bench.tsv").read_text().splitlines()]
    head = tsv[0]
    assert head[:5] == ["task", "entry", "seed", "status", "how"] and head[-5:] == ["score", "train_samples_per_s", "wall_s", "run", "error"]
    assert [(r[0], r[1], r[2]) for r in tsv[1:]] == [
        ("STS-B", "STS-B", "1"), ("STS-B", "STS-B", "2"), ("QQP", "QQP", "1"), ("QQP", "QQP", "2"),
        ("MNLI", "MNLI-m", "1"), ("MNLI", "MNLI-mm", "1"), ("MNLI", "MNLI-m", "2"), ("MNLI", "MNLI-mm", "2"),
        ("RTE", "RTE", "1"), ("RTE", "RTE", "2"), ("WNLI", "WNLI", "")]
    qqp1 = dict(zip(head, tsv[3]))
    assert float(qqp1["f1"]) == s["runs"][2]["entries"]["QQP"]["f1"] and qqp1["run"] == "runs/QQP-s1"
    html = (out / "report.html").read_text()
    assert 'id="glue"' in html and "bench: mean of 2 seeds" in html and "bench: submitted seeds" in html
    assert html.count('<section class="run">') == 8 and "WNLI predicts the majority class" in html
    assert "RTE starts from the MNLI run of the same seed" in html
    log = (out / "bench.log").read_text()
    assert "run 1/8 MNLI-s1: MNLI seed 1" in log and "run 7/8 RTE-s1: RTE seed 1, from MNLI-s1" in log and "ETA" in log
    assert yaml.safe_load((out / "bench.yaml").read_text())["seeds"] == "1,2"
    assert yaml.safe_load((out / "bench.config.yaml").read_text()) == yaml.safe_load(cfg.read_text())


def test_resume_after_a_killed_run_and_missing_tasks_listed(glue, vocab, tmp_path, capsys, monkeypatch):  # noqa: F811
    from nlplab.training import checkpoint

    data = tmp_path / "glue"
    gold = glue_folder(data, only=("CoLA", "SST-2", "MRPC"))  # the GLUE that shared/data holds
    out = tmp_path / "b"
    cfg = config_file(tmp_path, {"default": {**TINY, "max_steps": 3, "save_every": 1}})
    args = ("glue", "--model", "scratch", "--tokenizer", vocab, "--data-dir", data, "-o", out, "--config", cfg)
    real = checkpoint.save_checkpoint

    def killed_in_sst2(path, **saved):  # Ctrl-C right after SST-2's step-2 checkpoint
        real(path, **saved)
        if "SST-2" in str(path) and saved["step"] == 2:
            raise KeyboardInterrupt
    monkeypatch.setattr(checkpoint, "save_checkpoint", killed_in_sst2)
    code, _, err = bench(*args, capsys=capsys)
    assert code == 130
    assert f"interrupted after 1/3 runs; continue with `nlplab bench glue --model scratch --tokenizer {vocab}" in err
    assert (out / "runs" / "SST-2" / "checkpoint" / "last.pt").is_file() and not (out / "runs" / "MRPC").exists()
    partial = json.loads((out / "bench.json").read_text())
    assert [(r["task"], r["status"]) for r in partial["runs"]] == [("CoLA", "done")]
    monkeypatch.setattr(checkpoint, "save_checkpoint", real)

    assert bench(*args, capsys=capsys)[0] == 2  # a second bench into the folder: refused
    code, _, err = bench(*args, "--seeds", "1,2", "--resume", capsys=capsys)
    assert code == 2 and "--resume with other options than the bench's: seeds ('42' -> '1,2')" in err
    cola = (out / "runs" / "CoLA" / "metrics.json").stat().st_mtime_ns
    code, table, err = bench(*args, "--resume", capsys=capsys)
    assert code == 0, err
    assert "CoLA: finished earlier, skipped (CoLA seed 42)" in err and "run 2/3 SST-2: SST-2 seed 42 (resumed)" in err
    assert "run 3/3 MRPC" in err and "run 1/3" not in err
    assert (out / "runs" / "CoLA" / "metrics.json").stat().st_mtime_ns == cola
    assert "resumed at step 2" in (out / "runs" / "SST-2" / "train.log").read_text()
    s = json.loads((out / "bench.json").read_text())
    assert [(r["task"], r["status"], r["steps"]) for r in s["runs"]] == [("CoLA", "done", 3), ("SST-2", "done", 3),
                                                                         ("MRPC", "done", 3)]
    p = predictions(out / "runs" / "SST-2" / "SST-2.dev.tsv")
    assert s["runs"][1]["entries"]["SST-2"]["accuracy"] == pytest.approx(
        accuracy_score(gold["SST-2"]["dev"], [p[str(i)] for i in range(N["dev"])]))

    # the rest of GLUE is missing: listed with what was looked for, never filled; no zip without --fill-missing
    assert list(s["missing"]) == ["STS-B", "QQP", "MNLI", "QNLI", "RTE", "WNLI", "AX"]
    assert s["missing"]["RTE"] == f"no train file: looked for {data / 'RTE' / 'train.tsv'} or {data / 'glue' / 'RTE' / 'train.tsv'}"
    assert s["missing"]["AX"] == "MNLI does not run (no data), and its model predicts it"
    assert not s["submission"]["written"] and "no test predictions for STS-B, QQP, MNLI-m" in s["submission"]["why"]
    assert "pass --fill-missing majority" in s["submission"]["why"] and not (out / "submission.zip").exists()
    assert "missing (not run, never filled silently): STS-B: no train file" in table
    assert "average of 3 task(s) present" in table
    html = (out / "report.html").read_text()  # beside the baselines of benchmarks/results/glue_baselines.json
    assert all(f"{kind} (baseline)" in html for kind in ("majority", "tfidf-logreg", "tfidf-char"))
    assert "RTE missing, not run and not filled: no train file" in html and "no submission.zip: no test predictions" in html


def test_a_bench_run_is_the_nlplab_finetune_run_of_its_task_preset_and_seed(glue, vocab, tmp_path, capsys):  # noqa: F811
    """What lets BENCHMARKS put a bench row beside the quality table's: a bench run is the plain
    `nlplab finetune --task T --seed S` run with T's preset (and the --config overrides), weights
    and dev scores bit for bit."""
    from safetensors.torch import load_file

    data = tmp_path / "glue"
    glue_folder(data, only=("MRPC",))
    cfg = config_file(tmp_path, {"default": {"max_steps": 3, "batch_size": 8, "max_length": 32}})
    code, _, err = bench("glue", "--model", "scratch", "--tokenizer", vocab, "--data-dir", data, "-o", tmp_path / "b",
                         "--config", cfg, "--seeds", "2", capsys=capsys)
    assert code == 0, err
    code, _, err = run_cli("finetune", "--task", "MRPC", "--model", "scratch", "--tokenizer", vocab, "--data-dir", data,
                           "--seed", "2", "--max-steps", "3", "--batch-size", "8", "--max-length", "32", "--predict-test",
                           "-o", tmp_path / "f", "--no-progress", capsys=capsys)
    assert code == 0, err
    b, f = tmp_path / "b" / "runs" / "MRPC", tmp_path / "f"  # one seed: no -s suffix
    skip = {"output", "resume", "force"}  # where the run is written, and how it may be rerun
    cb, cf = (yaml.safe_load((x / "config.yaml").read_text()) for x in (b, f))
    assert {k: v for k, v in cb.items() if k not in skip} == {k: v for k, v in cf.items() if k not in skip}
    assert cb["seed"] == cf["seed"] == 2 and cb["epochs"] == 5  # MRPC's preset (finetune.yaml)
    wb, wf = load_file(b / "model.safetensors"), load_file(f / "model.safetensors")
    assert wb.keys() == wf.keys() and all(torch.equal(wb[k], wf[k]) for k in wb)
    mb, mf = (json.loads((x / "metrics.json").read_text()) for x in (b, f))
    assert mb["evaluations"] == mf["evaluations"] and mb["best"] == mf["best"]


def ko_folder(root) -> dict:
    """KorNLI (train in two files), KorSTS and a KorHate whose dev file has a label it does not know."""
    gold = {}
    head = ("sentence1", "sentence2", "gold_label")
    write(root / "kornli" / "multinli.train.ko.tsv", head, [(s(i), s(i + 1), lab(NLI3, i)) for i in range(10)])
    write(root / "kornli" / "snli_1.0_train.ko.tsv", head, [(s(i + 10), s(i + 11), lab(NLI3, i)) for i in range(6)])
    gold["KorNLI"] = [r[-1] for r in write(root / "kornli" / "xnli.dev.ko.tsv", head,
                                           [(s(i + 30), s(i + 31), lab(NLI3, i + 1)) for i in range(N["dev"])])]
    write(root / "kornli" / "xnli.test.ko.tsv", head, [(s(i + 40), s(i + 41), lab(NLI3, i)) for i in range(N["test"])])
    head = ("genre", "filename", "year", "id", "score", "sentence1", "sentence2")
    write(root / "korsts" / "sts-train.tsv", head, [("g", "f", "2017", i, f"{i * 0.31 % 5:.2f}", s(i), s(i + 3)) for i in range(16)])
    gold["KorSTS"] = [float(r[4]) for r in write(root / "korsts" / "sts-dev.tsv", head,
                                                 [("g", "f", "2017", i, f"{i * 0.61 % 5:.2f}", s(i + 5), s(i + 9))
                                                  for i in range(N["dev"])])]
    head = ("comments", "contain_gender_bias", "bias", "hate")
    write(root / "korean-hate-speech" / "train.tsv", head, [(s(i), "False", "none", lab(("none", "offensive", "hate"), i))
                                                            for i in range(16)])
    write(root / "korean-hate-speech" / "dev.tsv", head, [(s(i), "False", "none", "spam" if i == 2 else "none") for i in range(8)])
    return gold


def test_a_failed_run_does_not_stop_the_others_in_the_gpu_worker_pool(vocab, tmp_path, capsys, monkeypatch):  # noqa: F811
    """--cpu-workers 2: the sweep's pool, each run a `python -m nlplab finetune` subprocess on CPU; KorHate fails in its run (a dev label it does not know), the others finish."""
    gold = ko_folder(tmp_path / "data")
    out = tmp_path / "b"
    cfg = config_file(tmp_path, {"default": TINY})
    code, table, err = bench("ko", "--model", "scratch", "--tokenizer", vocab, "--data-dir", tmp_path / "data",
                             "-o", out, "--config", cfg, "--cpu-workers", "2", capsys=capsys)
    assert code == 1, err
    assert "2 CPU workers, " in err and 'on worker 1 (CUDA_VISIBLE_DEVICES="" (CPU))' in err
    s = json.loads((out / "bench.json").read_text())
    status = {r["task"]: r["status"] for r in s["runs"]}
    assert status == {"KorNLI": "done", "KorSTS": "done", "KorHate": "failed"} and s["failed"] == ["runs/KorHate"]
    hate = next(r for r in s["runs"] if r["task"] == "KorHate")
    assert "unknown KorHate label 'spam'" in hate["error"] and (out / "runs" / "KorHate.out").is_file()
    log = (out / "bench.log").read_text()
    assert "KorHate failed in" in log and "unknown KorHate label 'spam'" in log and "failed: runs/KorHate" in log
    assert list(s["missing"]) == ["NSMC", "KLUE-NLI", "KLUE-STS"]

    # the Korean score: the mean of the main metrics of the tasks that finished, each from its predictions
    p = predictions(out / "runs" / "KorNLI" / "KorNLI.dev.tsv")
    acc = accuracy_score(gold["KorNLI"], [p[str(i)] for i in range(N["dev"])])
    p = predictions(out / "runs" / "KorSTS" / "KorSTS.dev.tsv")
    rho = spearmanr(gold["KorSTS"], [float(p[str(i)]) for i in range(N["dev"])])[0]
    assert s["score"]["korean"] == pytest.approx(np.mean([acc, rho])) and s["score"]["korean_tasks"] == ["KorSTS", "KorNLI"]
    assert s["score"]["korean"] == pytest.approx(metrics.summarize({e: v for r in s["runs"] for e, v in r["entries"].items()})["korean"])
    assert f"Korean score (2 task(s)), mean over seeds | {100 * s['score']['korean']:.2f}" in table
    assert "submission" not in s and not (out / "submission.zip").exists()  # a leaderboard zip is GLUE's only
    assert (out / "report.html").is_file()


def test_dry_run_lists_tasks_presets_data_and_runs(glue, vocab, tmp_path, capsys):  # noqa: F811
    data = tmp_path / "glue"
    glue_folder(data, only=("CoLA", "MNLI", "RTE", "WNLI"))
    (data / "CoLA" / "test.tsv").unlink()
    cfg = config_file(tmp_path, {"default": {"max_steps": 2}, "tasks": {"RTE": {"init_from": "mnli", "epochs": 4}}})
    code, out, err = bench("glue", "--model", "scratch", "--tokenizer", vocab, "--data-dir", data, "-o", tmp_path / "b",
                           "--seeds", "1,2", "--config", cfg, "--dry-run", capsys=capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == ("bench glue: 4 task(s) of 10 (CoLA, MNLI, RTE, WNLI), seeds 1, 2: 6 fine-tuning run(s), one after "
                        "another in this process; missing: SST-2, MRPC, STS-B, QQP, QNLI")
    b = tmp_path / "b" / "runs"
    assert lines[1:] == [
        f"CoLA: fine-tune; data: train, dev (no test file: not in the submission); options: lr=0.0001 epochs=5 batch_size=32 "
        f"max_length=64 warmup_ratio=0.1 weight_decay=0.01 max_steps=2 tokenizer={vocab}",
        f"  runs: {b / 'CoLA-s1'}, {b / 'CoLA-s2'}",
        f"SST-2: missing: no train file: looked for {data / 'SST-2' / 'train.tsv'} or {data / 'glue' / 'SST-2' / 'train.tsv'}",
        f"MRPC: missing: no train file: looked for {data / 'MRPC' / 'train.tsv'} or {data / 'glue' / 'MRPC' / 'train.tsv'}",
        f"STS-B: missing: no train file: looked for {data / 'STS-B' / 'train.tsv'} or {data / 'glue' / 'STS-B' / 'train.tsv'}",
        f"QQP: missing: no train file: looked for {data / 'QQP' / 'train.tsv'} or {data / 'glue' / 'QQP' / 'train.tsv'}",
        f"MNLI: fine-tune; data: train, dev_matched, dev_mismatched, test_matched, test_mismatched; options: lr=0.0001 "
        f"epochs=3 batch_size=32 max_length=128 warmup_ratio=0.1 weight_decay=0.01 max_steps=2 tokenizer={vocab}",
        f"  runs: {b / 'MNLI-s1'}, {b / 'MNLI-s2'}",
        f"QNLI: missing: no train file: looked for {data / 'QNLI' / 'train.tsv'} or {data / 'glue' / 'QNLI' / 'train.tsv'}",
        f"RTE: fine-tune, starting from the MNLI run of each seed; data: train, dev, test; options: lr=5e-05 epochs=4 "
        f"batch_size=16 max_length=128 warmup_ratio=0.1 weight_decay=0.01 max_steps=2 tokenizer={vocab}",
        f"  runs: {b / 'RTE-s1'}, {b / 'RTE-s2'}",
        "WNLI: majority class of its train set, no training; data: train, dev, test",
        f"  runs: {b / 'WNLI'} (predictions only)",
        "AX: predicted by the MNLI runs' model; data: test"]
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("args, config, error", [
    (("gleu",), None, "unknown suite 'gleu'; suites: glue (CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI, AX); ko ("),
    (("glue", "--tasks", "cola,nsmc"), None, "--tasks nsmc: a ko task, not in the glue suite; the glue suite is CoLA, SST-2,"),
    (("glue", "--tasks", "CoLA,fancy"), None, "--tasks fancy: unknown; the glue suite is CoLA, SST-2, MRPC,"),
    (("glue", "--tasks", "AX"), None, "--tasks AX: it is predicted by the MNLI runs' model; add MNLI to --tasks"),
    (("glue", "--seeds", "1,x"), None, "--seeds 1,x: give whole numbers separated by commas"),
    (("glue", "--gpus", "99"), None, "--gpus 99: only 0 GPU(s) visible here"),
    (("glue", "--gpus", "1", "--cpu-workers", "2"), None, "--gpus 1 and --cpu-workers 2: give one of them"),
    (("glue", "--cpu-workers", "-1"), None, "--cpu-workers -1: give a number of CPU workers, 1 or more"),
    (("glue", "--model", "scratch"), None, "--model scratch needs --tokenizer SUBWORD_DIR"),
    (("glue", "--model", "no/such-model"), None, "--model no/such-model: not a folder and not in the local Hugging Face "
                                                 "cache; available here:"),
    (("glue",), "default:\n  max_steps: 2\n  lrr: 1.0\n", "c.yaml:3: default.lrr: unknown option (did you mean lr?)"),
    (("glue",), "default: {seed: 3}\n", "c.yaml:1: default.seed: not set in a bench config: give the seeds with --seeds"),
    (("glue",), "tasks:\n  cola:\n    epochs: many\n", "c.yaml:3: tasks.cola.epochs: 'many' is not an int"),
    (("glue",), "tasks:\n  CoLA: {init_from: MNLI}\n", "c.yaml:2: tasks.CoLA.init_from: CoLA starts from --model only"),
    (("glue",), "tasks:\n  RTE: {init_from: QNLI}\n", "c.yaml:2: tasks.RTE.init_from: 'QNLI': RTE may start from MNLI only"),
    (("glue", "--tasks", "RTE"), "tasks:\n  RTE: {init_from: MNLI}\n",
     "c.yaml: tasks.RTE.init_from: MNLI, but MNLI is not in --tasks; run MNLI too or drop init_from"),
    (("glue",), "tasks: {SuperGLUE: {}}\n", "c.yaml:1: tasks.SuperGLUE: unknown task; tasks: CoLA, SST-2,"),
])
def test_bad_input_is_one_line_before_anything_runs(glue, vocab, tmp_path, capsys, monkeypatch, args, config, error):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    if config is not None:
        (tmp_path / "c.yaml").write_text(config)
    model = () if "--model" in args else ("--model", "scratch", "--tokenizer", str(vocab))
    code, out, err = bench(*args, *model, "--data-dir", glue[0], "-o", "b",
                           *(("--config", "c.yaml") if config else ()), capsys=capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"nlplab bench: error: {error}") and err.count("\n") == 1, err
    assert not (tmp_path / "b").exists()


def test_a_data_dir_without_the_suite_says_what_was_looked_for(vocab, tmp_path, capsys):  # noqa: F811
    (tmp_path / "empty").mkdir()
    code, _, err = bench("glue", "--model", "scratch", "--tokenizer", vocab, "--data-dir", tmp_path / "empty",
                         "-o", tmp_path / "b", capsys=capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"nlplab bench: error: {tmp_path / 'empty'}: no task of the glue suite found (looked for "
                          f"CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI, AX: no train file: looked for "
                          f"{tmp_path / 'empty' / 'CoLA' / 'train.tsv'} or {tmp_path / 'empty' / 'glue' / 'CoLA' / 'train.tsv'};")
    assert err.rstrip().endswith("point --data-dir at the folder holding them") and not (tmp_path / "b").exists()
