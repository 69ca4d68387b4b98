"""nlplab/dist.py: several processes (CPU, gloo, 2 of them) train what one process trains.

Each multi-process run is a real torchrun job (`--nproc 2`, or two torchrun invocations as
two "nodes" on loopback). A one-process run with the global batch is the reference:
(a) weights after K steps agree to ~1e-5, (b) dev metrics and prediction files on a
101-example dev set are identical, (c) a run interrupted under one world size resumes under
the other, (d) two nodes, (e) a crashing rank (the NLPLAB_TEST_CRASH_RANK hook) ends the job
within seconds with its error.
"""

import json
import os
import socket
import subprocess
import sys
import time

import pytest
import torch
from conftest import ROOT, run_cli
from safetensors.torch import load_file

from nlplab import NlplabError, dist
from nlplab.finetune.data import LengthGroupedSampler
from nlplab.finetune.train import merge
from nlplab.subword import SubwordConfig
from nlplab.subword import train as train_subword

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections")
REVIEWS = ROOT / "corpora" / "en_reviews.tsv"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}


def nlplab(*args, env=None, timeout=240):
    """`python -m nlplab ARGS` in a fresh process: (exit code, stderr, seconds)."""
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "nlplab", *map(str, args)], cwd=ROOT, env={**ENV, **(env or {})},
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stderr, time.perf_counter() - t0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def close(a: dict, b: dict, atol=1e-5) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k].float(), b[k].float(), atol=atol, rtol=0) for k in a)


# ---- pieces that need no process group

def test_sampler_shares_are_the_global_batches_of_one_process():
    lengths = [(7 * i) % 23 + 1 for i in range(101)]
    one = LengthGroupedSampler(lengths, 16, seed=3)
    ranks = [LengthGroupedSampler(lengths, 8, seed=3, rank=r, world=2) for r in (0, 1)]
    for epoch in (0, 1):
        for s in (one, *ranks):
            s.set_epoch(epoch)
        glob, parts = list(one), [list(s) for s in ranks]
        assert len(parts[0]) == len(parts[1]) == len(glob) == len(one) == len(ranks[0])
        for g, a, b in zip(glob, *parts):
            assert sorted(a + b) == sorted(g)
        assert [sum(s.shares()[i][0] for s in ranks) for i in range(len(glob))] == [len(g) for g in glob]
    # a global batch smaller than the world: the empty share gets one example with weight 0
    tiny = LengthGroupedSampler([3, 4, 5], 1, rank=1, world=2)
    assert [len(b) for b in tiny] == [1, 1] and sorted(m for m, _ in tiny.shares()) == [0, 1]
    # evaluation: whole batches round-robin
    ev = [list(LengthGroupedSampler(lengths, 16, shuffle=False, rank=r, world=2)) for r in (0, 1)]
    assert [len(e) for e in ev] == [4, 3] and ev[1][0] == list(range(16, 32))


def test_merge_puts_rows_back_in_order_and_drops_padding_repeats():
    import numpy as np

    parts = [([0, 2, 4], np.array([[0.0], [2.0], [4.0]])), ([1, 3, 0], np.array([[1.0], [3.0], [9.0]]))]
    assert merge(parts, 5)[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]  # index 0 padded twice: counted once
    with pytest.raises(RuntimeError, match="lost 1 of 6"):
        merge(parts, 6)


def test_one_process_needs_no_group_and_a_busy_port_is_one_line(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    with dist.session() as d:
        assert (d.rank, d.world, d.is_main) == (0, 1, True) and not dist.active()
        assert dist.all_gather_object(5) == [5] and dist.all_reduce_sum(torch.ones(2)).tolist() == [1.0, 1.0]
    assert dist.strip_flag(["lm", "train", "--nproc", "2", "x", "--nproc=3"], "--nproc") == ["lm", "train", "x"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        monkeypatch.setenv("MASTER_PORT", str(s.getsockname()[1]))
        with pytest.raises(NlplabError, match="already in use"):
            dist.launch(2, ["lm", "train"])


# ---- fine-tuning: 99 train and 101 dev examples (not divisible by 2)

@pytest.fixture(scope="module")
def sst2(tmp_path_factory):
    rows = REVIEWS.read_text(encoding="utf-8").splitlines()[1:]
    root = tmp_path_factory.mktemp("glue")
    (root / "SST-2").mkdir()
    (root / "SST-2" / "train.tsv").write_text("sentence\tlabel\n" + "\n".join(rows[:99]) + "\n", encoding="utf-8")
    (root / "SST-2" / "dev.tsv").write_text("sentence\tlabel\n" + "\n".join(rows[99:200]) + "\n", encoding="utf-8")
    vocab = root / "wp"
    train_subword(SubwordConfig(corpus=[str(REVIEWS)], output=str(vocab), column="sentence", lang="en",
                                model="wordpiece", vocab_size=400), progress=False)
    return root, vocab


def ft_args(sst2, out, batch):
    glue, vocab = sst2
    return ["finetune", "--task", "SST-2", "--data-dir", glue, "--model", "scratch", "--tokenizer", vocab, "--size", "tiny",
            "-o", out, "--batch-size", batch, "--lr", "5e-4", "--seed", 7, "--dropout", 0, "--max-steps", 6,
            "--eval-every", 3, "--save-every", 2, "--no-progress"]


@pytest.fixture(scope="module")
def ft_one(sst2, tmp_path_factory):
    """The reference: one process, batch 16."""
    out = tmp_path_factory.mktemp("ft") / "one"
    assert run_cli(*ft_args(sst2, out, 16)) == 0
    return out


def assert_same_finetune_run(a, b):
    assert close(load_file(a / "model.safetensors"), load_file(b / "model.safetensors"))
    ma, mb = json.loads((a / "metrics.json").read_text()), json.loads((b / "metrics.json").read_text())
    assert ma["evaluations"] == mb["evaluations"] and ma["best"] == mb["best"]  # every metric of every evaluation
    for name in ("dev_predictions.tsv", "SST-2.dev.tsv"):
        assert (a / name).read_text() == (b / name).read_text(), name


@pytest.mark.slow
def test_finetune_two_processes_train_and_score_like_one(sst2, ft_one, tmp_path):
    out = tmp_path / "two"
    code, err, _ = nlplab(*ft_args(sst2, out, 8), "--nproc", 2)
    assert code == 0, err
    assert_same_finetune_run(ft_one, out)
    assert len((out / "SST-2.dev.tsv").read_text().splitlines()) == 102  # 101 examples, each once
    log = (out / "train.log").read_text()
    assert "global batch 16 = 8 per device x 2 processes x 1 accumulation" in log
    assert json.loads((out / "metrics.json").read_text())["processes"] == 2
    assert not list(out.glob("checkpoint/*")) and sum(1 for _ in out.glob("tb/*")) == 1  # rank 0 alone wrote


@pytest.mark.slow
def test_finetune_crashing_rank_ends_the_job_and_resumes_with_one_process(sst2, ft_one, tmp_path):
    out = tmp_path / "cut"
    code, err, seconds = nlplab(*ft_args(sst2, out, 8), "--nproc", 2,
                                env={"NLPLAB_TEST_CRASH_RANK": "1", "NLPLAB_TEST_CRASH_STEP": "3"})
    assert code != 0 and "rank 1 fails on purpose at step 3" in err and seconds < 60
    ckpt = torch.load(out / "checkpoint" / "last.pt", weights_only=True)
    assert ckpt["step"] == 2 and ckpt["global_batch"] == 16
    assert run_cli("finetune", "--resume", "-o", out, "--no-progress") == 0  # one process, batch 16
    assert "resumed at step 2" in (out / "train.log").read_text()
    assert_same_finetune_run(ft_one, out)


@pytest.mark.slow
def test_finetune_one_process_run_resumes_with_two(sst2, ft_one, tmp_path, monkeypatch):
    out = tmp_path / "cut1"
    monkeypatch.setenv("NLPLAB_TEST_CRASH_RANK", "0")
    monkeypatch.setenv("NLPLAB_TEST_CRASH_STEP", "5")
    with pytest.raises(RuntimeError, match="fails on purpose"):
        run_cli(*ft_args(sst2, out, 16))
    monkeypatch.delenv("NLPLAB_TEST_CRASH_RANK")
    code, err, _ = nlplab("finetune", "--resume", "-o", out, "--no-progress", "--nproc", 2)
    assert code == 0, err
    assert "resumed at step 4" in (out / "train.log").read_text()
    assert_same_finetune_run(ft_one, out)


# ---- the biLM: stream mode (states carried per stream) and sentence mode

@pytest.fixture(scope="module")
def ptb(shared, tmp_path_factory):
    lines = (shared / "ptb" / "valid.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    d = tmp_path_factory.mktemp("ptb")
    (d / "train.txt").write_text("".join(lines[1200:1260]), encoding="utf-8")
    (d / "valid.txt").write_text("".join(lines[1260:1290]), encoding="utf-8")
    return d


def lm_args(ptb, out, batch, *extra):
    return ["lm", "train", ptb / "train.txt", "--valid", ptb / "valid.txt", "-o", out, "--preset", "tiny",
            "--batch-size", batch, "--max-steps", 10, "--checkpoint-every", 4, "--no-progress", *extra]


@pytest.fixture(scope="module")
def lm_one(ptb, tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    for mode in ("stream", "sentence"):
        assert run_cli(*lm_args(ptb, root / mode, 4, "--mode", mode)) == 0
    return root


def assert_same_lm_run(a, b, rel=1e-5):
    ca, cb = (torch.load(x / "checkpoint.pt", weights_only=True) for x in (a, b))
    assert ca["step"] == cb["step"] and close(ca["model"], cb["model"])
    va, vb = (json.loads((x / "metrics.json").read_text())["valid"] for x in (a, b))
    assert va["mean_ppl"] == pytest.approx(vb["mean_ppl"], rel=rel) and va["tokens"] == vb["tokens"]


@pytest.mark.slow
def test_lm_stream_two_processes_train_like_one_and_resume_with_one(ptb, lm_one, tmp_path):
    out = tmp_path / "two"
    code, err, _ = nlplab(*lm_args(ptb, out, 2), "--nproc", 2)
    assert code == 0, err
    assert_same_lm_run(lm_one / "stream", out)
    assert "global batch 4 = 2 per process x 2 processes" in (out / "train.log").read_text()
    # (c) 2 processes, interrupted after the step-4 checkpoint, resumed by one
    cut = tmp_path / "cut"
    code, err, seconds = nlplab(*lm_args(ptb, cut, 2), "--nproc", 2,
                                env={"NLPLAB_TEST_CRASH_RANK": "1", "NLPLAB_TEST_CRASH_STEP": "6"})
    assert code != 0 and "rank 1 fails on purpose at step 6" in err and seconds < 60
    ckpt = torch.load(cut / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 4 and ckpt["state"][0][0][0].shape[1] == 4  # the states of all 4 streams
    assert run_cli("lm", "train", "-o", cut, "--resume", "--no-progress") == 0
    assert_same_lm_run(lm_one / "stream", cut)


def test_lm_time_budget_stops_every_rank_at_the_same_step(ptb, tmp_path):
    """Each rank has its own clock; a rank that stopped alone would leave the other waiting
    in DDP's all-reduce until the timeout. Rank 1's budget ends 1 s early here: the ranks
    still agree on the step to stop after."""
    out = tmp_path / "budget"
    code, err, seconds = nlplab(*lm_args(ptb, out, 2, "--epochs", 50, "--max-minutes", 0.04), "--max-steps", 10**6,
                                "--nproc", 2, timeout=120,
                                env={"NLPLAB_TEST_EARLY_RANK": "1", "NLPLAB_DIST_TIMEOUT": "30"})
    assert code == 0, err
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["stopped"] == "max_minutes" and 1 < summary["steps"] < 10**6 and seconds < 90
    valid = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r for r in valid if r["split"] == "valid"][-1]["step"] == summary["steps"]  # the last step was validated


@pytest.mark.slow
def test_lm_sentence_mode_on_two_nodes_and_a_one_process_run_resumed_by_two(ptb, lm_one, tmp_path, monkeypatch):
    out, port = tmp_path / "nodes", free_port()
    jobs = []
    for rank in (0, 1):  # two "nodes" of one process each, static rendezvous on loopback
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node_rank", str(rank),
               "--nproc_per_node", "1", "--master_addr", "127.0.0.1", "--master_port", str(port),
               "-m", "nlplab", *map(str, lm_args(ptb, out, 2, "--mode", "sentence"))]
        jobs.append(subprocess.Popen(cmd, cwd=ROOT, env=ENV, stderr=subprocess.PIPE, text=True))
    errs = [j.communicate(timeout=240)[1] for j in jobs]
    assert [j.returncode for j in jobs] == [0, 0], errs
    assert_same_lm_run(lm_one / "sentence", out)
    # (c) the other way: one process interrupted, two resume
    cut = tmp_path / "cut"
    monkeypatch.setenv("NLPLAB_TEST_CRASH_RANK", "0")
    monkeypatch.setenv("NLPLAB_TEST_CRASH_STEP", "6")
    with pytest.raises(RuntimeError, match="fails on purpose"):
        run_cli(*lm_args(ptb, cut, 4, "--mode", "sentence"))
    monkeypatch.delenv("NLPLAB_TEST_CRASH_RANK")
    code, err, _ = nlplab("lm", "train", "-o", cut, "--resume", "--no-progress", "--nproc", 2)
    assert code == 0, err
    assert_same_lm_run(lm_one / "sentence", cut)
