"""`nlplab sweep`: grid and random expansion, aggregation over seeds, the best config either
way round, the one-line errors before anything runs, and end-to-end sweeps of a 2-layer
scratch BERT on SST-2 subsets (in process, resumed, and the GPU worker pool on CPU)."""

import json
import statistics

import numpy as np
import pytest
import yaml
from conftest import run_cli
from test_finetune import vocab  # noqa: F401  (the module-scoped 400-piece WordPiece fixture)

from nlplab import NlplabError
from nlplab.finetune.config import FinetuneConfig
from nlplab.sweep import results, run, spec


def write(tmp_path, data: dict, name: str = "s.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


BASE = {"task": "SST-2", "data_dir": "glue", "max_train_samples": 64}


def test_grid_expands_every_combination_in_file_order_then_seeds(tmp_path):
    path = write(tmp_path, {"base": BASE, "grid": {"lr": ["1e-4", 3.0e-4], "batch_size": [16, 32]}, "seeds": [1, 2]})
    s = spec.load(str(path))
    trials = spec.trials(s, tmp_path / "out")
    assert s.params == ["lr", "batch_size"] and s.name == "s"
    assert [(t.id, t.params, t.seed) for t in trials] == [
        ("t000", {"lr": 1e-4, "batch_size": 16}, 1), ("t001", {"lr": 1e-4, "batch_size": 16}, 2),
        ("t002", {"lr": 1e-4, "batch_size": 32}, 1), ("t003", {"lr": 1e-4, "batch_size": 32}, 2),
        ("t004", {"lr": 3e-4, "batch_size": 16}, 1), ("t005", {"lr": 3e-4, "batch_size": 16}, 2),
        ("t006", {"lr": 3e-4, "batch_size": 32}, 1), ("t007", {"lr": 3e-4, "batch_size": 32}, 2)]
    cfg = trials[5].cfg  # preset < base < swept value, seed and run folder from the sweep
    assert (cfg.lr, cfg.batch_size, cfg.seed, cfg.max_train_samples) == (3e-4, 16, 2, 64)
    assert cfg.max_length == 64 and cfg.epochs == 3  # SST-2's entry in configs/finetune.yaml
    assert cfg.output == str(tmp_path / "out" / "trials" / "t005")


def test_random_search_is_reproducible_distinct_and_within_bounds(tmp_path):
    space = {"lr": {"loguniform": ["1e-5", "1e-3"]}, "warmup_ratio": {"uniform": [0.0, 0.2]},
             "batch_size": {"loguniform": [8, 64]}, "scheduler": {"choice": ["linear", "cosine"]}}
    a = spec.load(str(write(tmp_path, {"base": BASE, "random": space, "trials": 12, "sweep_seed": 3}, "a.yaml")))
    b = spec.load(str(write(tmp_path, {"base": BASE, "random": space, "trials": 12, "sweep_seed": 3}, "b.yaml")))
    c = spec.load(str(write(tmp_path, {"base": BASE, "random": space, "trials": 12, "sweep_seed": 4}, "c.yaml")))
    assert a.points == b.points and a.points != c.points and len(a.points) == 12
    assert len({json.dumps(p, sort_keys=True) for p in a.points}) == 12
    for p in a.points:
        assert 1e-5 <= p["lr"] <= 1e-3 and 0.0 <= p["warmup_ratio"] <= 0.2
        assert isinstance(p["batch_size"], int) and 8 <= p["batch_size"] <= 64
        assert p["scheduler"] in ("linear", "cosine")
    assert a.params == ["lr", "warmup_ratio", "batch_size", "scheduler"]
    assert len(spec.trials(a, tmp_path)) == 12  # seeds default to [42]: one trial per configuration
    with pytest.raises(NlplabError, match=r"only 2 distinct configurations"):
        spec.load(str(write(tmp_path, {"base": BASE, "random": {"scheduler": {"choice": ["linear", "cosine"]}},
                                       "trials": 3}, "d.yaml")))


def trial(i, params, seed, metric, status="done"):
    return {"id": f"t{i:03d}", "params": params, "seed": seed, "run": f"trials/t{i:03d}", "status": status,
            "metric": metric, "train_samples_per_s": None if metric is None else 100.0}


A, B, C = {"lr": 1e-4}, {"lr": 3e-4}, {"lr": 1e-3}
TRIALS = [trial(0, A, 1, 0.80), trial(1, A, 2, 0.84), trial(2, A, 3, 0.83),
          trial(3, B, 1, 0.70), trial(4, B, 2, 0.78), trial(5, B, 3, None, "failed"),
          trial(6, C, 1, None, "failed"), trial(7, C, 2, None, "failed")]


def test_aggregation_over_seeds_matches_numpy_and_statistics():
    configs = results.aggregate(TRIALS)
    assert [c["params"] for c in configs] == [A, B]  # C never finished: no mean, left out
    a, b = configs
    assert a["seeds"] == [1, 2, 3] and a["n"] == 3 and b["seeds"] == [1, 2] and b["n"] == 2
    assert a["mean"] == pytest.approx(np.mean([0.80, 0.84, 0.83])) and a["std"] == pytest.approx(np.std([0.80, 0.84, 0.83], ddof=1))
    assert b["mean"] == pytest.approx(statistics.mean([0.70, 0.78])) and b["std"] == pytest.approx(statistics.stdev([0.70, 0.78]))
    one = results.aggregate([trial(0, A, 1, 0.5)])
    assert one[0]["std"] == 0.0 and one[0]["n"] == 1


def test_best_config_for_higher_and_lower_is_better():
    higher = results.summary("s", "SST-2", "accuracy", True, ["lr"], TRIALS)
    assert [c["params"] for c in higher["configs"]] == [A, B] and [c["best"] for c in higher["configs"]] == [True, False]
    assert higher["best"] == {"params": A, "mean": pytest.approx(0.823333, abs=1e-6), "std": pytest.approx(0.020817, abs=1e-6)}
    lower = results.summary("s", "SST-2", "loss", False, ["lr"], TRIALS)
    assert [c["params"] for c in lower["configs"]] == [B, A] and lower["best"]["params"] == B
    assert set(higher) == {"kind", "name", "task", "metric", "greater_is_better", "params", "trials", "configs", "best"}
    assert results.summary("s", "SST-2", "accuracy", True, ["lr"], TRIALS[6:])["best"] is None
    table = results.table(higher).splitlines()
    assert table[1].split() == ["*", "0.0001", "3", "82.33", "±", "2.08"]
    assert table[-1] == "failed: t005, t006, t007 (see sweep.log)"


HEAD = "base: {task: SST-2, data_dir: glue}\n"


@pytest.mark.parametrize("text, where", [
    (HEAD + "grid:\n  lr: [1.0e-4]\n  lrr: [1]\n", "s.yaml:4: grid.lrr: unknown option (did you mean lr?)"),
    (HEAD + "sedes: [1]\n", "s.yaml: unknown key(s) sedes; known keys: base, grid, metric,"),
    ("base: {task: SST-2, seed: 3}\n", "s.yaml:1: base.seed: not set in a sweep file: list the seeds under seeds:"),
    (HEAD + "grid:\n  batch_size: [16, big]\n", "s.yaml:3: grid.batch_size: 'big' is not an int (e.g. 32)"),
    (HEAD + "grid: {lr: [1.0e-4]}\nrandom: {lr: {uniform: [0, 1]}}\ntrials: 2\n", "s.yaml:3: random: give grid: or random:, not both"),
    (HEAD + "random:\n  lr: {gauss: [0, 1]}\ntrials: 2\n", "s.yaml:3: random.lr: give one of {choice: [v, ...]}"),
    (HEAD + "grid: {task: [CoLA, SST-2]}\n", "s.yaml:2: grid.task: one task per sweep"),
    (HEAD + "seeds: []\n", "s.yaml:2: seeds: needs a list of whole numbers"),
    (HEAD + "grid: {lr: [1.0e-4]}\nmetric: f1\n", "s.yaml:3: metric: 'f1' is not a SST-2 dev metric; use one of accuracy, score"),
    ("- lr\n", "s.yaml: a sweep file is a YAML mapping of option: value"),
    ("grid: {lr: [1.0e-4]}\n", "s.yaml: trial t000 (lr=0.0001, seed 42): give task: TASK (a GLUE task) or a custom "
                              "dataset (train: FILE text: COL label: COL)"),  # the file's keys, not finetune's flags
])
def test_bad_sweep_file_is_one_line_error_and_nothing_is_written(tmp_path, capsys, monkeypatch, text, where):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "glue" / "SST-2").mkdir(parents=True)
    (tmp_path / "glue" / "SST-2" / "train.tsv").write_text("sentence\tlabel\n")
    (tmp_path / "s.yaml").write_text(text)
    code, out, err = run_cli("sweep", "s.yaml", "-o", "out", capsys=capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"nlplab sweep: error: {where}") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_missing_sweep_file_is_named(tmp_path, capsys):
    code, _, err = run_cli("sweep", tmp_path / "nope.yaml", "-o", tmp_path / "out", capsys=capsys)
    assert code == 2 and err == f"nlplab sweep: error: {tmp_path / 'nope.yaml'}: sweep file not found; check the path\n"
    assert not (tmp_path / "out").exists()


def test_run_state_from_the_run_folder(tmp_path):
    assert run.state(tmp_path / "t000") == "new"
    (tmp_path / "t000" / "checkpoint").mkdir(parents=True)
    assert run.state(tmp_path / "t000") == "started"
    (tmp_path / "t000" / "checkpoint" / "last.pt").write_bytes(b"")
    assert run.state(tmp_path / "t000") == "checkpoint"
    (tmp_path / "t000" / "metrics.json").write_text(json.dumps({"best": None}))
    assert run.state(tmp_path / "t000") == "checkpoint"  # evaluated, not finished
    (tmp_path / "t000" / "metrics.json").write_text(json.dumps({"best": {"step": 3}}))
    assert run.state(tmp_path / "t000") == "done"


def tiny(shared, tokenizer, **extra) -> dict:
    """A 2-layer scratch BERT for 3 steps on the first 64 SST-2 train and 32 dev examples."""
    return {"base": {"task": "SST-2", "data_dir": str(shared / "glue"), "model": "scratch", "tokenizer": str(tokenizer),
                     "size": "tiny", "max_train_samples": 64, "max_eval_samples": 32, "max_steps": 3,
                     "batch_size": 16}, **extra}


@pytest.mark.slow
def test_sweep_end_to_end_then_resume(shared, vocab, tmp_path, capsys):  # noqa: F811
    path = write(tmp_path, tiny(shared, vocab, grid={"lr": [5.0e-4, 2.0e-3]}, seeds=[1, 2], name="lr"))
    out = tmp_path / "sw"
    code, table, err = run_cli("sweep", path, "-o", out, "--no-progress", capsys=capsys)
    assert code == 0, err
    assert "trial 1/4 t000: lr=0.0005 seed=1" in err and "4/4 finished" in err
    s = json.loads((out / "sweep.json").read_text())
    assert (s["kind"], s["name"], s["task"], s["metric"], s["greater_is_better"], s["params"]) == \
        ("sweep", "lr", "SST-2", "accuracy", True, ["lr"])
    assert [(t["id"], t["params"], t["seed"], t["run"], t["status"]) for t in s["trials"]] == [
        ("t000", {"lr": 5e-4}, 1, "trials/t000", "done"), ("t001", {"lr": 5e-4}, 2, "trials/t001", "done"),
        ("t002", {"lr": 2e-3}, 1, "trials/t002", "done"), ("t003", {"lr": 2e-3}, 2, "trials/t003", "done")]
    for t in s["trials"]:  # every number comes from the trial's own metrics.json
        m = json.loads((out / t["run"] / "metrics.json").read_text())
        assert t["metric"] == m["best"]["splits"]["dev"]["accuracy"] and t["train_samples_per_s"] == m["samples_per_s"]
        assert m["steps"] == 3 and (out / t["run"] / "model.safetensors").is_file()
    by_lr = {lr: [t["metric"] for t in s["trials"] if t["params"]["lr"] == lr] for lr in (5e-4, 2e-3)}
    for c in s["configs"]:
        assert c["seeds"] == [1, 2] and c["n"] == 2
        assert c["mean"] == pytest.approx(np.mean(by_lr[c["params"]["lr"]]))
        assert c["std"] == pytest.approx(np.std(by_lr[c["params"]["lr"]], ddof=1))
    assert s["configs"][0]["best"] and s["best"]["mean"] == max(c["mean"] for c in s["configs"])
    assert (out / "sweep.yaml").read_text() == path.read_text()
    tsv = (out / "sweep.tsv").read_text().splitlines()
    assert tsv[0].split("\t") == ["best", "lr", "n", "seeds", "accuracy_mean", "accuracy_std"] and len(tsv) == 3
    assert table.splitlines()[1].startswith("*") and "±" in table

    # a second sweep into the same folder is refused; --resume runs only what is not finished
    assert run_cli("sweep", path, "-o", out, capsys=capsys)[0] == 2
    mtime = (out / "trials" / "t000" / "metrics.json").stat().st_mtime_ns
    (out / "trials" / "t003" / "metrics.json").unlink()
    code, _, err = run_cli("sweep", path, "-o", out, "--resume", "--no-progress", capsys=capsys)
    assert code == 0, err
    assert [f"t00{i}: finished earlier, skipped" in err for i in range(4)] == [True, True, True, False]
    assert "trial 4/4 t003" in err and "trial 1/4" not in err
    assert (out / "trials" / "t000" / "metrics.json").stat().st_mtime_ns == mtime
    again = json.loads((out / "sweep.json").read_text())
    assert [t["metric"] for t in again["trials"]] == [t["metric"] for t in s["trials"]]  # same seed, same run
    assert "(resumed)" in (out / "sweep.log").read_text()


@pytest.mark.slow
def test_failed_trial_is_recorded_and_the_exit_code_says_so(shared, vocab, tmp_path, capsys):  # noqa: F811
    # --fp16 passes the file check but fails in training on a machine without GPU
    path = write(tmp_path, tiny(shared, vocab, grid={"fp16": [True]}))
    code, table, err = run_cli("sweep", path, "-o", tmp_path / "sw", "--no-progress", capsys=capsys)
    assert code == 1 and "t000 failed" in err and "--precision fp16 needs a GPU" in err
    s = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert s["trials"][0]["status"] == "failed" and s["trials"][0]["metric"] is None
    assert s["configs"] == [] and s["best"] is None and "failed: t000" in table


@pytest.mark.slow
def test_gpu_worker_pool_on_cpu(shared, vocab, tmp_path, capsys, monkeypatch):  # noqa: F811
    """--cpu-workers 2: the same pool a GPU machine uses, each worker a `python -m nlplab finetune`
    subprocess on the CPU; one trial succeeds, one fails."""
    path = write(tmp_path, tiny(shared, vocab, grid={"fp16": [False, True]}))
    code, _, err = run_cli("sweep", path, "-o", tmp_path / "sw", "--cpu-workers", "2", capsys=capsys)
    assert code == 1, err
    assert "2 CPU workers, " in err
    assert "on worker 0 (CUDA_VISIBLE_DEVICES=\"\" (CPU))" in err and "on worker 1 (CUDA_VISIBLE_DEVICES=\"\" (CPU))" in err
    s = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert [(t["id"], t["status"]) for t in s["trials"]] == [("t000", "done"), ("t001", "failed")]
    m = json.loads((tmp_path / "sw" / "trials" / "t000" / "metrics.json").read_text())
    assert s["trials"][0]["metric"] == m["best"]["splits"]["dev"]["accuracy"]
    assert s["best"]["params"] == {"fp16": False}
    assert "needs a GPU" in (tmp_path / "sw" / "sweep.log").read_text()
    assert (tmp_path / "sw" / "trials" / "t001.out").read_text().strip().endswith("or --precision bf16 on a CPU that has it)")


def test_cpu_workers_share_the_cores_out_and_set_each_subprocess_threads(tmp_path, monkeypatch):
    """--cpu-workers N: N CPU subprocess workers, each with cores // N torch threads
    (OMP_NUM_THREADS), unless the user set OMP_NUM_THREADS; the head line says so."""
    monkeypatch.setattr(run.os, "cpu_count", lambda: 8)
    assert run.devices("0", 2) == ["", ""] and run.devices("0", 0) == []
    assert run.threads_each(["", ""]) == 4 and run.threads_each([""] * 16) == 1
    assert run.describe_workers(["", ""], "trial") == "2 CPU workers, 4 torch thread(s) each"
    assert run.describe_workers(["0", "1"], "run") == "2 workers, one run per GPU"
    assert run.describe_workers([], "run") == "one after another in this process"
    with pytest.raises(NlplabError, match=r"^--gpus 2 and --cpu-workers 3: give one of them$"):
        run.devices("2", 3)
    seen = []

    class Popen:
        def __init__(self, cmd, stdout, stderr, env):
            seen.append((env["CUDA_VISIBLE_DEVICES"], env.get("OMP_NUM_THREADS")))

        def wait(self):
            return 0

    monkeypatch.setattr(run.subprocess, "Popen", Popen)
    trial = run.Job("t0", FinetuneConfig(task="SST-2", output=str(tmp_path / "t0")))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    run.in_subprocess(trial, "", False, {}, 4)
    run.in_subprocess(trial, "1", False, {}, 4)  # a GPU worker: torch's own thread count
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    run.in_subprocess(trial, "", False, {}, 4)  # the user's setting wins
    assert seen == [("", "4"), ("1", None), ("", "3")]
