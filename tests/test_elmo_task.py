"""ELMo task models (`nlplab finetune --model bilm:LM_RUN | bilstm:LM_RUN`, issue 24): the
scalar mix against its formula, gradients that stop at the frozen biLM, the feature cache
and what invalidates it, pair shapes, a tiny biLM + head end to end from the CLI with eval,
predict and glue submit, resume, and the one-line errors for a missing or changed LM run."""

import json
import random
import shutil
import zipfile

import numpy as np
import pytest
import torch
from conftest import ROOT, run_cli
from safetensors.torch import load_file

from nlplab import NlplabError
from nlplab.finetune import FinetuneConfig, elmo, elmo_data, encoder
from nlplab.finetune.config import preset
from nlplab.finetune.data import collate
from nlplab.finetune.inference import Run
from nlplab.finetune.train import run
from nlplab.glue.tasks import TASKS
from nlplab.lm.embed import ScalarMix, embed, layers
from nlplab.serve import Analyzer

REVIEWS = ROOT / "corpora" / "en_reviews.tsv"
# a small head, and no early stopping: at the preset's lr the first epochs sit at the majority class
HEAD = ["--word-dim", 16, "--lstm-dim", 24, "--mlp-dim", 32, "--batch-size", 16, "--early-stopping", 0, "--no-progress"]


@pytest.fixture(scope="module")
def glue(tmp_path_factory):
    """SST-2 in the classic layout from the sample reviews, each led by a word that decides
    its label (great: 1, awful: 0), so a head that learns at all reaches ~100% dev: 150 train,
    50 dev, 50 test."""
    rng = random.Random(0)
    rows = []
    for line in REVIEWS.read_text(encoding="utf-8").splitlines()[1:]:
        y = rng.randint(0, 1)
        rows.append((f"{'great' if y else 'awful'} {line.split(chr(9))[0].strip()}", y))
    root = tmp_path_factory.mktemp("glue")
    (root / "SST-2").mkdir()
    for name, part in (("train", rows[:150]), ("dev", rows[150:])):
        (root / "SST-2" / f"{name}.tsv").write_text("sentence\tlabel\n" + "".join(f"{s}\t{y}\n" for s, y in part))
    (root / "SST-2" / "test.tsv").write_text("index\tsentence\n" + "".join(f"{i}\t{s}\n" for i, (s, _) in enumerate(rows[150:])))
    shutil.copytree(ROOT / "tests" / "assets" / "glue" / "MRPC", root / "MRPC")
    return root


@pytest.fixture(scope="module")
def lm(glue, tmp_path_factory):
    """A tiny sentence-mode word biLM (`--preset tiny`) on the train sentences."""
    out = tmp_path_factory.mktemp("lm") / "lm"
    assert run_cli("lm", "train", glue / "SST-2" / "train.tsv", "--column", "sentence", "--preset", "tiny",
                   "--mode", "sentence", "--epochs", 2, "-o", out, "--no-progress") == 0
    return out


def changed_copy(src, dest):
    """A copy of an LM run whose model.pt holds other weights (the same vocabulary)."""
    shutil.copytree(src, dest)
    saved = torch.load(dest / "model.pt", weights_only=True)
    first = next(iter(saved["model"]))
    saved["model"][first] = saved["model"][first] + 0.01
    torch.save(saved, dest / "model.pt")
    return dest


def head(kind="bilm", **kw):
    return FinetuneConfig(task="SST-2", model=f"{kind}:x", output="unused", word_dim=8, lstm_dim=6, mlp_dim=10, **kw)


def test_scalar_mix_is_gamma_times_softmax_weighted_layers():
    x = torch.randn(3, 2, 5, 8)  # (L+1, B, T, D)
    mix = ScalarMix(3)
    with torch.no_grad():
        mix.weights.copy_(torch.tensor([0.5, -1.0, 2.0]))
        mix.gamma.fill_(0.7)
    s = np.exp([0.5, -1.0, 2.0]) / np.exp([0.5, -1.0, 2.0]).sum()
    expected = 0.7 * sum(float(s[k]) * x[k] for k in range(3))
    assert torch.allclose(mix(x), expected, atol=1e-6)
    assert torch.allclose(mix.normalized(), torch.tensor(s, dtype=torch.float32))
    mix.layer_norm = True  # each layer normalised per token over D first, no learned scale
    normed = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + 1e-5)
    assert torch.allclose(mix(x), 0.7 * sum(float(s[k]) * normed[k] for k in range(3)), atol=1e-5)
    # w = 0, gamma = 1 (a fresh mix): the mean of the layers
    assert torch.allclose(ScalarMix(3)(x), x.mean(0), atol=1e-6)


def test_gradients_reach_the_mix_and_the_head_only(lm):
    got = elmo_data.load_lm("bilm", lm)
    tok = elmo_data.Tokenizer(got)
    model = elmo.TaskModel(elmo.head_config(head(elmo="input+output"), tok, TASKS["SST-2"], pair=False))
    assert not any(p is q for p in model.parameters() for q in got.bilm.parameters())  # the biLM is no submodule
    segs = tok.segments(["great fun", "awful , just awful ."])
    every, _ = layers(got.bilm, [s[0] for s in segs])  # gradients allowed here: the biLM's own are off
    ids, _ = tok.ids(segs)
    batch = collate([{"input_ids": r, "labels": y} for r, y in zip(ids, [1, 0])], tok.pad_token_id)
    out = model(**batch, features=every.permute(1, 2, 0, 3))
    out.loss.backward()
    assert out.logits.shape == (2, 2)
    assert all(p.grad is not None for p in model.parameters())
    for mix in (model.mix_in, model.mix_out):
        assert mix.weights.grad.abs().sum() > 0 and mix.gamma.grad.abs() > 0
    assert all(not p.requires_grad and p.grad is None for p in got.bilm.parameters())
    assert encoder.setup(model, head(), "cpu", False) == (None, "the stock forward")  # BERT's speedups skip it


def test_features_are_the_bilm_layers_cached_until_the_lm_data_or_tokenization_change(lm, tmp_path):
    got = elmo_data.load_lm("bilm", lm)
    texts = ["great fun", "awful , just awful .", ""]
    cache = tmp_path / "cache"

    def feats(texts, max_length=64, model=got):
        return elmo_data.features(model, elmo_data.Tokenizer(model).segments(texts, None, max_length), cache,
                                  "SST-2.train", prune=True)

    first = feats(texts)
    assert first.note.startswith("biLM layers computed") and list(first.offsets) == [0, 4, 11, 13]  # <s> .. </s> each
    # the rows are the biLM's layers: lm embed's for the tokens, its boundaries around them
    ref = embed(got.bilm, texts[:2])
    assert np.allclose(first.rows[1:3].astype(np.float32), ref[0]["layers"].permute(1, 0, 2).numpy(), atol=2e-3)
    assert np.allclose(first.rows[5:10].astype(np.float32), ref[1]["layers"].permute(1, 0, 2).numpy(), atol=2e-3)
    again = feats(texts)
    assert again.note.startswith("biLM layers cached") and isinstance(again.rows, np.memmap)
    assert np.array_equal(np.asarray(again.rows), np.asarray(first.rows))
    assert feats(texts[:2] + ["a new line"]).note.startswith("biLM layers computed")  # the data changed
    assert feats(texts[:2] + ["a new line"], max_length=5).note.startswith("biLM layers computed")  # truncation
    other = elmo_data.load_lm("bilm", changed_copy(lm, tmp_path / "lm2"))
    assert other.identity != got.identity and feats(texts[:2] + ["a new line"], 5, other).note.startswith("biLM layers computed")
    assert len(list(cache.glob("SST-2.train.*.elmo.npy"))) == 1  # prune: the stale ones are gone
    batch = again.batch([2, 0], 4)  # (B, T, L+1, 2P), zero past each end
    assert batch.shape == (2, 4, 3, 32) and batch[0, 2:].abs().sum() == 0
    assert torch.equal(batch[1], torch.from_numpy(np.array(first.rows[0:4])))


def test_pair_sides_are_split_and_combined_as_infersent():
    u, v = torch.randn(3, 5), torch.randn(3, 5)
    c = elmo.combine(u, v)
    assert c.shape == (3, 20) and torch.equal(c[:, 10:15], (u - v).abs()) and torch.equal(c[:, 15:], u * v)
    types = torch.tensor([[0, 0, 0, 1, 1, 0], [0, 0, 1, 1, 1, 1]])  # 3 + 2 (+ padding), 2 + 4
    mask = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]]).bool()
    x = torch.arange(12.0).view(2, 6, 1)
    (a, ma), (b, mb) = elmo.split_pair(mask, types, x)
    assert a[0][..., 0].tolist() == [[0, 1, 2], [6, 7, 0]] and ma.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert b[0][..., 0].tolist() == [[3, 4, 0, 0], [8, 9, 10, 11]] and mb.sum(1).tolist() == [2, 4]
    for kw in ({}, {"cross_attention": True, "pool": "attention", "elmo": "input+output"}):
        cfg = elmo.HeadConfig(kind="bilm", vocab_size=20, pad_id=0, num_labels=3, pair=True, elmo_layers=3, elmo_dim=4,
                              word_dim=8, lstm_dim=6, mlp_dim=0, **{k: v for k, v in kw.items() if k != "cross_attention"},
                              cross_attention=kw.get("cross_attention", False))
        model = elmo.TaskModel(cfg)
        dim = 2 * 6 + (4 if kw else 0)  # per side: BiLSTM states [; the output mix]
        assert model.classifier.in_features == 4 * dim
        out = model(torch.randint(1, 20, (2, 6)), mask.long(), types, torch.randn(2, 6, 3, 4), torch.tensor([0, 2]))
        assert out.logits.shape == (2, 3) and out.loss.ndim == 0


def test_tiny_bilm_and_head_train_from_the_cli_into_an_ordinary_run_folder(glue, lm, tmp_path, capsys, monkeypatch):
    out = tmp_path / "sst2"
    sha = elmo_data.sha256(lm / "model.pt")
    code, _, err = run_cli("finetune", "--task", "SST-2", "--data-dir", glue, "--model", f"bilm:{lm}", "-o", out,
                           "--predict-test", "--epochs", 12, *HEAD, capsys=capsys)
    assert code == 0, err
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["best"]["splits"]["dev"]["accuracy"] >= 0.9  # the deciding word is learnt
    assert summary["steps"] == 120 and "lr: 0.001" in (out / "config.yaml").read_text()  # the ELMo preset's lr
    assert {k: preset("SST-2", "bilm:x")[k] for k in ("lr", "epochs", "clip", "warmup_ratio")} == \
        {"lr": 1e-3, "epochs": 6, "clip": 5.0, "warmup_ratio": 0.0} and preset("SST-2")["lr"] == 1e-4
    weights = load_file(out / "model.safetensors")
    assert summary["parameters"] == sum(t.numel() for t in weights.values())  # the mix and the head: no biLM weight
    assert "mix_in.weights" in weights and not any(k.startswith(("forward_lm", "encoder")) for k in weights)
    conf = json.loads((out / "config.json").read_text())
    assert conf["lm"]["run"] == str(lm.resolve()) and conf["lm"]["model_sha256"] == sha == elmo_data.sha256(lm / "model.pt")
    assert "model: bilm:" in (out / "config.yaml").read_text()
    assert "biLM layers computed" in (out / "train.log").read_text()
    cache = sorted(p.name for p in (out / "cache").iterdir())
    with monkeypatch.context() as m:  # eval reads the dev layers training cached: the biLM does not run again
        m.setattr(elmo_data, "compute", lambda *a: pytest.fail("the biLM ran again"))
        code, shown, _ = run_cli("finetune", "eval", out, "--json", capsys=capsys)
    assert code == 0 and json.loads(shown)["dev"]["accuracy"] == summary["best"]["splits"]["dev"]["accuracy"]
    assert sorted(p.name for p in (out / "cache").iterdir()) == cache  # and writes nothing there
    assert run_cli("finetune", "predict", out, glue / "SST-2" / "dev.tsv", "-o", tmp_path / "p.tsv") == 0
    predicted = [r.split("\t")[2] for r in (tmp_path / "p.tsv").read_text().splitlines()[1:]]
    dev = [r.split("\t")[2] for r in (out / "dev_predictions.tsv").read_text().splitlines()[1:]]
    assert predicted == dev and len(dev) == 50  # the run folder alone predicts as training's best checkpoint did
    assert run_cli("glue", "submit", out, "-o", tmp_path / "sub.zip", "--data-dir", glue, "--fill-missing", "majority") == 0
    with zipfile.ZipFile(tmp_path / "sub.zip") as z:
        assert z.read("SST-2.tsv").decode() == (out / "SST-2.test.tsv").read_text()
    run = Run.load(out)  # nlplab serve's page: the LM run's tokens as pieces, its <unk> share, the same prediction
    got = Analyzer(run, 2000, "mecab").analyze({"text": "great qwertyzz"})
    assert got["pieces"] == ["<s>", "great", "<unk>", "</s>"] and got["coverage"]["uncovered"] == 0.5
    assert got["prediction"]["label"] == run.predict(["great qwertyzz"])[0]
    # the control: the same head over random embeddings of the LM's vocabulary, no biLM
    ctrl = tmp_path / "ctrl"
    assert run_cli("finetune", "--task", "SST-2", "--data-dir", glue, "--model", f"bilstm:{lm}", "-o", ctrl, "--epochs", 12,
                   *HEAD) == 0
    conf = json.loads((ctrl / "config.json").read_text())
    assert conf["head"]["kind"] == "bilstm" and conf["lm"]["model_sha256"] is None
    assert not any("mix" in k for k in load_file(ctrl / "model.safetensors")) and not (ctrl / "cache").exists()
    assert json.loads((ctrl / "metrics.json").read_text())["best"]["splits"]["dev"]["accuracy"] >= 0.9


def test_a_pair_run_resumes_exactly(glue, lm, tmp_path, monkeypatch):
    from nlplab.training import checkpoint

    def cfg(name, **kw):
        return FinetuneConfig(task="MRPC", data_dir=str(glue), model=f"bilm:{lm}", output=str(tmp_path / name), epochs=3,
                              batch_size=4, cross_attention=True, elmo="input+output", word_dim=8, lstm_dim=8, mlp_dim=8,
                              seed=3, **kw)
    whole = run(cfg("whole"), progress=False)
    real = checkpoint.save_checkpoint

    def crash_after_step_3(path, **saved):
        real(path, **saved)
        if saved["step"] == 3:
            raise KeyboardInterrupt
    monkeypatch.setattr(checkpoint, "save_checkpoint", crash_after_step_3)
    with pytest.raises(KeyboardInterrupt):
        run(cfg("cut"), progress=False)
    monkeypatch.setattr(checkpoint, "save_checkpoint", real)
    good = (lm / "model.pt").read_bytes()
    try:  # an LM run changed in between: refused, nothing trained
        shutil.copy(changed_copy(lm, tmp_path / "lm2") / "model.pt", lm / "model.pt")
        with pytest.raises(NlplabError, match="has changed since the run started"):
            run(cfg("cut", resume=True), progress=False)
    finally:
        (lm / "model.pt").write_bytes(good)
    resumed = run(cfg("cut", resume=True), progress=False)
    assert resumed["evaluations"] == whole["evaluations"] and resumed["steps"] == 9
    a, b = load_file(tmp_path / "whole" / "model.safetensors"), load_file(tmp_path / "cut" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a) and "cross.0.weight" in a


def test_missing_or_changed_lm_run_is_one_line(glue, lm, tmp_path, capsys):
    def err(*args):
        code, _, e = run_cli(*args, capsys=capsys)
        assert code == 2 and len(e.strip().splitlines()) == 1, e
        return e

    base = ("finetune", "--task", "SST-2", "--data-dir", glue, "-o", tmp_path / "x")
    assert "no such folder" in err(*base, "--model", f"bilm:{tmp_path / 'nope'}")
    assert "not a run folder of `nlplab lm train`" in err(*base, "--model", f"bilm:{glue}")
    assert "name the run folder" in err(*base, "--model", "bilm:")
    assert "an option of the ELMo task models" in err(*base, "--model", "minilm", "--pool", "attention")
    assert not (tmp_path / "x").exists()
    copy = tmp_path / "models" / "lm"
    shutil.copytree(lm, copy)
    out = tmp_path / "models" / "task"
    assert run_cli("finetune", "--task", "SST-2", "--data-dir", glue, "--model", f"bilm:{copy}", "-o", out,
                   "--max-steps", 2, *HEAD) == 0
    capsys.readouterr()
    moved = tmp_path / "moved"
    (tmp_path / "models").rename(moved)  # both folders moved together: found by the relative path
    assert run_cli("finetune", "eval", moved / "task") == 0
    good = (moved / "lm" / "model.pt").read_bytes()
    changed_copy(moved / "lm", tmp_path / "lm2")
    shutil.copy(tmp_path / "lm2" / "model.pt", moved / "lm" / "model.pt")
    e = err("finetune", "eval", moved / "task")
    assert "has changed: model.pt's sha256" in e and "train this task model again" in e
    (moved / "lm" / "model.pt").write_bytes(good)
    vocab = json.loads((moved / "lm" / "vocab.json").read_text())
    vocab["tokens"][5], vocab["tokens"][6] = vocab["tokens"][6], vocab["tokens"][5]
    (moved / "lm" / "vocab.json").write_text(json.dumps(vocab))
    assert "vocab.json was changed" in err("finetune", "predict", moved / "task", glue / "SST-2" / "dev.tsv", "-o",
                                           tmp_path / "p.tsv")
    shutil.rmtree(moved / "lm")
    assert "is missing" in err("finetune", "eval", moved / "task")
    assert not (tmp_path / "p.tsv").exists()
    with pytest.raises(NlplabError, match="an ELMo task model's run folder"):
        run(FinetuneConfig(task="SST-2", data_dir=str(glue), model=str(moved / "task"), output=str(tmp_path / "y")))


def test_nlplab_bench_runs_the_elmo_task_models_with_their_presets_and_one_shared_feature_cache(glue, lm, tmp_path,
                                                                                                   monkeypatch):
    """What benchmarks/elmo_tasks.py does per row: `nlplab bench` over bilm:LM with a --config
    naming one --elmo-cache; a second bench (ELMo at input and output) reads the layers the
    first one cached, and bench.json holds each run's own best dev score."""
    import yaml

    cache = tmp_path / "cache"
    small = {"word_dim": 16, "lstm_dim": 24, "mlp_dim": 32, "batch_size": 16, "early_stopping": 0, "epochs": 3,
             "elmo_cache": str(cache)}
    benches = {}
    for name, extra in (("input", {}), ("io", {"elmo": "input+output"})):
        conf = tmp_path / f"{name}.yaml"
        conf.write_text(yaml.safe_dump({"default": {**small, **extra}}))
        if name == "io":  # every layer the second bench needs is in the cache already
            monkeypatch.setattr(elmo_data, "compute", lambda *a: pytest.fail("the biLM ran again"))
        out = tmp_path / name
        assert run_cli("bench", "glue", "--model", f"bilm:{lm}", "--data-dir", glue, "-o", out, "--tasks", "SST-2,MRPC",
                       "--seeds", 1, "--config", conf, "--no-progress") == 0
        benches[name] = json.loads((out / "bench.json").read_text())
        for r in benches[name]["runs"]:
            m = json.loads((out / r["run"] / "metrics.json").read_text())
            saved = yaml.safe_load((out / r["run"] / "config.yaml").read_text())
            assert r["status"] == "done" and r["score"] == m["best"]["splits"][m["main"]]["score"]
            assert saved["lr"] == 1e-3 and saved["clip"] == 5.0 and saved["epochs"] == 3  # ELMo preset < --config
            assert saved["elmo"] == extra.get("elmo", "input") and saved["elmo_cache"] == str(cache)
            assert json.loads((out / r["run"] / "config.json").read_text())["lm"]["run"] == str(lm.resolve())
    assert [r["task"] for r in benches["io"]["runs"]] == ["SST-2", "MRPC"]
    assert preset("CoLA", "bilm:x")["early_stopping"] == 0 and preset("CoLA", "bilm:x")["epochs"] == 10
    assert len(list(cache.iterdir())) >= 2  # SST-2's and MRPC's layers, computed once
