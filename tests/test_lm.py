"""`nlplab lm`: the biLM sees no token it predicts, perplexity is exp(mean NLL), the
batching, exact resume, NaN stop, the run folder, eval/embed, and one-line errors."""

import json
import math
import random
import shutil

import numpy as np
import pytest
import torch
import yaml
from conftest import ROOT, run_cli

from nlplab import NlplabError, dist
from nlplab.lm import data
from nlplab.lm.config import PRESET_NAMES, LMConfig, preset
from nlplab.lm.evaluate import evaluate
from nlplab.lm.model import BiLM, BiLMConfig
from nlplab.lm.train import run
from nlplab.lm.vocab import BOS_CHAR, BOW, EOW, Vocab, char_ids
from nlplab.training.optim import make_optimizer, make_schedule

# PyTorch's CPU notice that LSTMP does not use oneDNN (nlplab.lm.model silences it outside pytest)
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # the machine is shared; small ops with several threads mostly wait for each other
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def ptb(shared, tmp_path_factory):
    """Slices of PTB valid: 1000 lines to train on, 200 to validate, 60 for quick runs."""
    lines = (shared / "ptb" / "valid.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    d = tmp_path_factory.mktemp("ptb")
    for name, part in (("train", lines[:1000]), ("valid", lines[1000:1200]), ("small", lines[1200:1260]),
                       ("small_valid", lines[1260:1290])):
        (d / f"{name}.txt").write_text("".join(part), encoding="utf-8")
    return d


def tiny_cfg(ptb, out, **kw):
    values = {**preset("tiny"), "train": str(ptb / "small.txt"), "valid": str(ptb / "small_valid.txt"), "output": str(out)}
    return LMConfig(**{**values, **kw})


def tiny_model(encoder="embedding", vocab_size=40, dropout=0.0, **kw):
    cfg = BiLMConfig(vocab_size=vocab_size, encoder=encoder, proj_dim=8, hidden_dim=16, dropout=dropout,
                     char_filters=[[1, 4], [2, 4], [3, 8]], max_chars=12, **kw)
    torch.manual_seed(0)
    return BiLM(cfg).eval()


# ---- vocabulary and batching

def test_word_vocab_is_frequency_ordered_with_specials():
    v = Vocab.build({"b": 1, "a": 3, "c": 2, "<unk>": 5, "d": 1}, min_count=2)
    assert v.itos == ["<pad>", "<unk>", "<s>", "</s>", "a", "c"]
    assert (v.pad, v.unk, v.bos, v.eos) == (0, 1, 2, 3)
    assert v.id("b") == v.unk and v.id("a") == 4
    assert Vocab.build({"a": 3, "b": 2, "c": 1}, max_size=5).itos == ["<pad>", "<unk>", "<s>", "</s>", "a"]


def test_char_ids_are_elmo_bytes_with_word_boundaries():
    v = Vocab.build({"ab": 1})
    ids = char_ids(["ab", "<s>", "<pad>", "한"], v, max_chars=6)
    assert ids[0].tolist() == [BOW, ord("a") + 1, ord("b") + 1, EOW, 0, 0]
    assert ids[1].tolist() == [BOW, BOS_CHAR, EOW, 0, 0, 0]
    assert ids[2].tolist() == [0] * 6
    assert ids[3].tolist() == [BOW, 0xED + 1, 0x95 + 1, 0x9C + 1, EOW, 0]  # UTF-8 bytes of 한


def corpus_of(lines: list[str], char=False):
    tokens = data.Tokens("mem", [], np.zeros(0, np.int64), np.zeros(0, np.int64))
    types, ids = {}, []
    for line in lines:
        ids += [types.setdefault(t, len(types)) for t in line.split()]
    tokens = data.Tokens("mem", list(types), np.array(ids), np.array([len(line.split()) for line in lines]))
    vocab = Vocab.build(tokens.counts())
    return data.Corpus(tokens, vocab, char, max_chars=12), vocab


def test_stream_batches_predict_next_and_previous_token_of_one_stream():
    corpus, vocab = corpus_of(["a b c d e f g", "h i j k l m n o p"])  # 18 ids with </s>
    b = data.StreamBatches(corpus, batch_size=2, bptt=3, device="cpu")
    inputs, _ = corpus.stream()
    grid = inputs.view(2, 9)
    assert len(b) == 3 and b.tokens == 2 * 8
    fwd_in = torch.cat([b.batch(i)["fwd_in"] for i in range(3)], 1)
    fwd_tgt = torch.cat([b.batch(i)["fwd_tgt"] for i in range(3)], 1)
    bwd_in = torch.cat([b.batch(i)["bwd_in"] for i in range(3)], 1)
    bwd_tgt = torch.cat([b.batch(i)["bwd_tgt"] for i in range(3)], 1)
    assert torch.equal(fwd_in, grid[:, :-1]) and torch.equal(fwd_tgt, grid[:, 1:])
    assert torch.equal(bwd_in, grid.flip(1)[:, :-1]) and torch.equal(bwd_tgt, grid.flip(1)[:, 1:])
    assert [vocab.itos[i] for i in grid[0].tolist()] == ["a", "b", "c", "d", "e", "f", "g", "</s>", "h"]


def test_sentence_batches_pad_reverse_within_length_and_cut_long_lines():
    corpus, vocab = corpus_of(["a b", "c d e f g"])
    b = data.SentenceBatches(corpus, batch_size=2, bptt=4, device="cpu")
    words = lambda row: [vocab.itos[i] if i >= 0 else "_" for i in row]  # noqa: E731
    x = b.batch(0)
    assert [words(r) for r in x["fwd_in"].tolist()] == [["<s>", "a", "b", "</s>"], ["<s>", "c", "d", "e"]]
    assert [words(r) for r in x["fwd_tgt"].tolist()] == [["a", "b", "</s>", "_"], ["c", "d", "e", "f"]]
    assert [words(r) for r in x["bwd_tgt"].tolist()] == [["b", "a", "<s>", "_"], ["e", "d", "c", "<s>"]]
    last = b.batch(1)  # the second piece of the long line: f g </s>, overlapping by one token
    assert words(last["fwd_in"][0].tolist()) == ["f", "g"] and words(last["fwd_tgt"][0].tolist()) == ["g", "</s>"]
    assert words(last["bwd_tgt"][0].tolist()) == ["g", "f"]
    assert b.tokens == 3 + 6  # every token predicted once per direction


def test_training_sentence_batches_group_similar_lengths_and_cover_every_sentence():
    rng = random.Random(3)
    lines = [" ".join(["w"] * rng.randint(1, 30)) for _ in range(500)]
    corpus, _ = corpus_of(lines)
    b = data.SentenceBatches(corpus, batch_size=8, bptt=40, device="cpu", shuffle=True, seed=5)
    order = b.order(0)
    assert sorted(j for batch in order for j in batch) == list(range(500)) and len(order) == len(b) == 63
    assert order == data.SentenceBatches(corpus, 8, 40, "cpu", shuffle=True, seed=5).order(0)  # resumable
    assert order != b.order(1)
    real = sum(x["tokens"] for x in (b.batch(i) for i in range(len(b))))
    padded = sum(x["fwd_tgt"].numel() for x in (b.batch(i) for i in range(len(b))))
    assert real / padded > 0.9  # random batches of 8 from 1-30 words would be ~60% real
    evals = data.SentenceBatches(corpus, 8, 40, "cpu").order(0)
    assert evals[0] == list(range(8)) and evals[-1] == list(range(496, 500))  # evaluation: file order


# ---- the model

@pytest.mark.parametrize("encoder", ["embedding", "char"])
def test_no_direction_sees_the_token_it_predicts(encoder):
    """Changing x[t] changes neither the forward prediction of x[t] (from position t-1)
    nor the backward one (from t+1), while later forward predictions do change."""
    model = tiny_model(encoder)
    T, t = 9, 4
    if encoder == "char":
        x = torch.randint(1, 257, (2, T, 12))
        x[:, :, 0] = BOW
        y = x.clone()
        y[0, t, 1:4] = torch.tensor([ord("q"), ord("z"), ord("x")])
    else:
        x = torch.randint(4, 40, (2, T))
        y = x.clone()
        y[0, t] = 4 if x[0, t] != 4 else 5
    lengths = torch.tensor([7, T])  # row 0 is padded: the backward LM must reverse within the length
    with torch.no_grad():
        out_x, out_y = model.contextual(x, lengths), model.contextual(y, lengths)
        fx, bx = model.log_probs(out_x[1][-1][0]), model.log_probs(out_x[2][-1][0])  # (T, V)
        fy, by = model.log_probs(out_y[1][-1][0]), model.log_probs(out_y[2][-1][0])
    assert torch.allclose(fx[t - 1], fy[t - 1], atol=1e-6)  # forward prediction of x[t]
    assert torch.allclose(bx[t + 1], by[t + 1], atol=1e-6)  # backward prediction of x[t]
    assert torch.allclose(fx[:t], fy[:t], atol=1e-6) and torch.allclose(bx[t + 1:7], by[t + 1:7], atol=1e-6)
    assert (fx[t] - fy[t]).abs().max() > 1e-4 and (bx[t - 1] - by[t - 1]).abs().max() > 1e-4


def test_perplexity_is_exp_mean_nll_for_both_directions_of_one_stream():
    corpus, vocab = corpus_of(["a b c a b d e", "f a b c", "c b a e d f b a"])
    model = tiny_model(vocab_size=len(vocab))
    inputs, targets = corpus.stream()
    with torch.no_grad():  # by hand: the whole stream in one piece, no windows
        hf, _ = model.forward_lm(model.encoder(inputs[None]))
        hb, _ = model.backward_lm(model.encoder(inputs.flip(0)[None]))
        nll_f = -model.log_probs(hf[-1][0, :-1]).gather(1, targets[1:, None]).mean()
        nll_b = -model.log_probs(hb[-1][0, :-1]).gather(1, targets.flip(0)[1:, None]).mean()
    r = evaluate(model, data.StreamBatches(corpus, batch_size=1, bptt=4, device="cpu"))  # 5 windows, state carried
    assert r["tokens"] == r["backward_tokens"] == len(inputs) - 1
    assert r["forward_ppl"] == pytest.approx(math.exp(nll_f), rel=1e-5)
    assert r["backward_ppl"] == pytest.approx(math.exp(nll_b), rel=1e-5)
    assert r["mean_ppl"] == pytest.approx(math.exp((nll_f + nll_b) / 2), rel=1e-5)
    assert r["forward_ppl"] != pytest.approx(r["backward_ppl"], rel=1e-3)


def test_tied_softmax_is_the_embedding_parameter():
    model = tiny_model(tie=True)
    assert model.softmax.weight is model.encoder.weight
    untied = tiny_model()
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(untied) - n(model) == 40 * 8


def test_adaptive_softmax_nll_agrees_with_its_log_probs():
    model = tiny_model(softmax="adaptive", cutoffs=[10, 20])
    h = torch.randn(2, 5, 8)
    tgt = torch.randint(0, 40, (2, 5))
    tgt[1, 4] = data.IGNORE
    with torch.no_grad():
        nll = model.nll(h, tgt)
        lp = model.log_probs(h)
    keep = tgt != data.IGNORE
    assert torch.allclose(nll[keep], -lp[keep].gather(1, tgt[keep][:, None])[:, 0], atol=1e-5)
    assert nll[1, 4] == 0


def test_warmup_schedules_and_presets():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    cfg = LMConfig(train="x", output="y", scheduler="warmup-linear", warmup_steps=4, lr=1.0, min_lr=0.1)
    sched, lrs = make_schedule(cfg, opt, total=14), []
    for _ in range(14):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:5] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0]) and lrs[-1] == pytest.approx(0.1 + 0.9 * 0.1)
    for name in PRESET_NAMES:
        LMConfig(**{**preset(name), "train": "x", "output": "y"})
    assert preset("elmo-original")["hidden_dim"] == 4096 and preset("elmo-original")["highway"] == 2


@pytest.mark.parametrize("name", ["constant", "step", "cosine", "cosine-restarts", "warmup-cosine"])
def test_every_schedule_follows_its_formula(name):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    cfg = LMConfig(train="x", output="y", scheduler=name, lr=1.0, min_lr=0.1, lr_step=4, lr_gamma=0.5, warmup_steps=2)
    total, lrs = 12, []
    sched = make_schedule(cfg, opt, total=total)
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    cos = lambda t, T: 0.1 + 0.9 * (1 + math.cos(math.pi * t / T)) / 2  # noqa: E731
    # with --warmup-steps, every schedule warms up first (one set of names: warmup-cosine is cosine)
    want = {"constant": [0.5] + [1.0] * (total - 1),
            "step": [0.5, 1.0] + [0.5 ** ((t - 2) // 4) for t in range(2, total)],  # x lr_gamma every lr_step steps
            "cosine": [0.5, 1.0] + [cos(t - 2, total - 2) for t in range(2, total)],  # over the rest, down to min_lr
            "cosine-restarts": [0.5, 1.0] + [cos((t - 2) % 4, 4) for t in range(2, total)],  # to the peak every lr_step
            "warmup-cosine": [0.5, 1.0] + [cos(t - 2, total - 2) for t in range(2, total)]}[name]
    assert lrs == pytest.approx(want)


def test_optimizers_take_the_configured_step():
    """One step from w = 0 with gradient 2 (loss 2w), in closed form; Adagrad starts its
    accumulator at 1 as bilm-tf does, so its first step is lr * g / sqrt(1 + g^2)."""

    lr, g = 0.1, 2.0
    want = {"sgd": -lr * g, "adagrad": -lr * g / math.sqrt(1 + g * g), "adam": -lr, "adamw": -lr}
    for name, step in want.items():
        w = torch.nn.Linear(1, 1, bias=False)
        torch.nn.init.zeros_(w.weight)
        opt = make_optimizer(LMConfig(train="x", output="y", optimizer=name, lr=lr), w, torch.device("cpu"))
        w(torch.ones(1, 1)).sum().mul(g).backward()
        opt.step()
        assert w.weight.item() == pytest.approx(step, rel=1e-5), name
    sgd = make_optimizer(LMConfig(train="x", output="y", optimizer="sgd", momentum=0.9, weight_decay=0.01), w,
                         torch.device("cpu"))
    assert sgd.param_groups[0]["momentum"] == 0.9 and sgd.param_groups[0]["weight_decay"] == 0.01


def test_lstm_stack_adds_each_layer_input_from_the_second_layer_on():
    from nlplab.lm.model import LSTMStack

    stack = LSTMStack(BiLMConfig(vocab_size=10, proj_dim=4, hidden_dim=8, layers=3, dropout=0.0)).eval()
    x = torch.randn(2, 5, 4)
    outs, _ = stack(x)
    y1 = stack.layers[0](x)[0]
    y2 = stack.layers[1](y1)[0] + y1
    y3 = stack.layers[2](y2)[0] + y2
    assert torch.allclose(outs[0], y1) and torch.allclose(outs[1], y2) and torch.allclose(outs[2], y3)


# ---- training runs

def test_resume_is_bit_exact(ptb, tmp_path, monkeypatch):
    for mode in ("stream", "sentence"):
        kw = {"dropout": 0.2, "epochs": 2, "checkpoint_every": 8, "mode": mode, "batch_size": 4}
        whole = run(tiny_cfg(ptb, tmp_path / f"whole-{mode}", **kw), progress=False)
        calls, real = [0], torch.nn.utils.clip_grad_norm_

        def interrupt(*a, **k):
            calls[0] += 1
            if calls[0] == whole["steps"] // 2 + 3:  # past an epoch end and a checkpoint
                raise KeyboardInterrupt
            return real(*a, **k)

        monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", interrupt)
        with pytest.raises(KeyboardInterrupt):
            run(tiny_cfg(ptb, tmp_path / f"cut-{mode}", **kw), progress=False)
        monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", real)
        cut = torch.load(tmp_path / f"cut-{mode}" / "checkpoint.pt", weights_only=True)
        assert 0 < cut["step"] < whole["steps"]
        resumed = run(tiny_cfg(ptb, tmp_path / f"cut-{mode}", resume=True, **kw), progress=False)
        a = torch.load(tmp_path / f"whole-{mode}" / "checkpoint.pt", weights_only=True)
        b = torch.load(tmp_path / f"cut-{mode}" / "checkpoint.pt", weights_only=True)
        assert a["step"] == b["step"] == whole["steps"]
        assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
        assert resumed["valid"]["mean_ppl"] == whole["valid"]["mean_ppl"]
        log = (tmp_path / f"cut-{mode}" / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(r)["step"] for r in log] == [json.loads(r)["step"] for r in
                                                        (tmp_path / f"whole-{mode}" / "metrics.jsonl").read_text().splitlines()]


def test_resume_with_another_config_is_refused(ptb, tmp_path, capsys):
    run(tiny_cfg(ptb, tmp_path / "r", max_steps=3), progress=False)
    with pytest.raises(NlplabError, match=r"differs from the run's in lr \(0\.01 -> 0\.02\), max_steps \(3 -> 4\)"):
        run(tiny_cfg(ptb, tmp_path / "r", max_steps=4, lr=0.02, resume=True), progress=False)
    # from the command line: the run's config.yaml is the base, so -o RUN --resume is enough
    code, _, err = run_cli("lm", "train", "-o", tmp_path / "r", "--resume", "--lr", "0.5", capsys=capsys)
    assert code == 2 and "differs from the run's in lr (0.01 -> 0.5);" in err
    assert run_cli("lm", "train", "-o", tmp_path / "r", "--resume", "--no-progress") == 0  # finished: nothing left to do
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["steps"] == 3
    # same options, but the training file now has other words: another vocabulary
    train = tmp_path / "train.txt"
    shutil.copy(ptb / "small.txt", train)
    run(tiny_cfg(ptb, tmp_path / "r2", max_steps=3, train=str(train)), progress=False)
    train.write_text(train.read_text() + "brand new words\n")
    with pytest.raises(NlplabError, match="does not match the checkpoint"):
        run(tiny_cfg(ptb, tmp_path / "r2", max_steps=3, train=str(train), resume=True), progress=False)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(ptb, tmp_path, monkeypatch):
    real, calls = BiLM.forward, [0]

    def poisoned(self, *a, **k):
        nll_f, nll_b, state = real(self, *a, **k)
        if self.training:
            calls[0] += 1
            if calls[0] == 11:
                nll_f = nll_f * float("nan")
        return nll_f, nll_b, state

    monkeypatch.setattr(BiLM, "forward", poisoned)
    with pytest.raises(NlplabError, match=r"step 11: the loss is not finite .* checkpoint .* step 8\) is kept"):
        run(tiny_cfg(ptb, tmp_path / "nan", checkpoint_every=4), progress=False)
    ckpt = torch.load(tmp_path / "nan" / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 8 and all(torch.isfinite(v).all() for v in ckpt["model"].values())


def test_plateau_halves_the_lr_and_early_stopping_keeps_the_best_weights(ptb, tmp_path):
    s = run(tiny_cfg(ptb, tmp_path / "es", epochs=5, eval_every=5, early_stopping=2, scheduler="plateau", lr=0.05,
                     lr_gamma=0.5), progress=False)
    valid = [json.loads(r) for r in (tmp_path / "es" / "metrics.jsonl").read_text().splitlines()]
    valid = [(r["step"], r["lr"], r["best"]) for r in valid if r["split"] == "valid"]
    # valid ppl improves up to step 15, then gets worse twice: lr cut after the first, stop after the second
    assert valid == [(5, 0.05, True), (10, 0.05, True), (15, 0.05, True), (20, 0.05, False), (25, 0.025, False)]
    assert (s["stopped"], s["steps"], s["best"]["step"]) == ("early_stopping", 25, 15)
    assert torch.load(tmp_path / "es" / "model.pt", weights_only=True)["step"] == 15
    again = run(tiny_cfg(ptb, tmp_path / "es", epochs=5, eval_every=5, early_stopping=2, scheduler="plateau", lr=0.05,
                         lr_gamma=0.5, resume=True), progress=False)
    assert (again["stopped"], again["steps"]) == ("early_stopping", 25)  # resuming a stopped run trains no further


@pytest.fixture(scope="module")
def word_run(ptb, tmp_path_factory):
    """One CLI run: 2 epochs of the tiny preset over 1000 PTB lines, a test file, a --config file."""
    out = tmp_path_factory.mktemp("runs") / "word"
    conf = tmp_path_factory.mktemp("conf") / "lm.yaml"
    conf.write_text("bptt: 16\nlr: 0.5\n")  # lr is overridden by the flag below
    code = run_cli("lm", "train", ptb / "train.txt", "--valid", ptb / "valid.txt", "--test", ptb / "small.txt", "-o", out,
                   "--preset", "tiny", "--config", conf, "--epochs", 2, "--batch-size", 16, "--lr", "0.01", "--no-progress")
    assert code == 0
    return out


def test_tiny_run_beats_the_uniform_baseline_and_fills_the_run_folder(word_run):
    for name in ("config.yaml", "vocab.json", "checkpoint.pt", "model.pt", "metrics.json", "metrics.jsonl", "train.log"):
        assert (word_run / name).is_file(), name
    assert any((word_run / "tb").iterdir())
    cfg = yaml.safe_load((word_run / "config.yaml").read_text())
    assert (cfg["preset"], cfg["bptt"], cfg["lr"], cfg["hidden_dim"]) == ("tiny", 16, 0.01, 32)  # preset < config < flags
    m = json.loads((word_run / "metrics.json").read_text())
    V = m["vocab_size"]
    assert V > 3000 and m["epochs"] == 2 and m["stopped"] == "epochs"
    assert m["best"]["forward_ppl"] < V / 8 and m["best"]["backward_ppl"] < V / 8  # uniform guessing: ppl = V
    assert m["test"]["forward_ppl"] < V / 8
    records = [json.loads(r) for r in (word_run / "metrics.jsonl").read_text().splitlines()]
    assert {r["split"] for r in records} == {"train", "valid", "test"}
    assert all({"loss", "forward_ppl", "tokens_per_s", "lr"} <= set(r) for r in records if r["split"] == "train")


def test_tensorboard_holds_the_metrics_jsonl_numbers(word_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = EventAccumulator(str(word_run / "tb"))
    tb.Reload()
    records = [json.loads(line) for line in (word_run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    valid = [r for r in records if r["split"] == "valid"]
    assert train and len(valid) == 2  # 2 epochs: one validation each
    assert {"train/loss", "train/tokens_per_s", "train/lr", "valid/forward_ppl", "valid/backward_ppl"} <= set(tb.Tags()["scalars"])
    for split, key, recs in (("train", "loss", train), ("train", "lr", train), ("valid", "forward_ppl", valid)):
        events = tb.Scalars(f"{split}/{key}")
        assert [e.step for e in events] == [r["step"] for r in recs]
        assert [e.value for e in events] == pytest.approx([r[key] for r in recs], rel=1e-6)


def test_eval_json_matches_the_training_runs_numbers(word_run, ptb, capsys):
    code, out, _ = run_cli("lm", "eval", word_run, "--data", ptb / "small.txt", "--json", capsys=capsys)
    assert code == 0
    r = json.loads(out)
    assert {"forward_ppl", "backward_ppl", "mean_ppl"} <= set(r)
    test = json.loads((word_run / "metrics.json").read_text())["test"]
    assert r["forward_ppl"] == pytest.approx(test["forward_ppl"], rel=1e-6)
    assert r["mean_ppl"] == pytest.approx(math.sqrt(r["forward_ppl"] * r["backward_ppl"]), rel=1e-9)
    code, out, _ = run_cli("lm", "eval", word_run, "--data", ptb / "small.txt", capsys=capsys)
    assert code == 0 and "forward ppl" in out and "backward ppl" in out and "mean ppl" in out


def test_embed_layers_mix_and_alignment(word_run, tmp_path, capsys):
    bilm = BiLM.from_run(word_run, device="cpu")
    sents = ["the company said", "N years ago <unk> rose"]
    out = bilm.embed(sents)
    assert [o["tokens"] for o in out] == [s.split() for s in sents]
    assert out[0]["layers"].shape == (3, 3, 2 * 16) and out[1]["mix"].shape == (5, 32)
    assert torch.equal(out[0]["layers"][0, :, :16], out[0]["layers"][0, :, 16:])  # layer 0 duplicated
    assert bilm.scalar_mix.normalized().sum().item() == pytest.approx(1.0)
    assert torch.allclose(out[0]["mix"], out[0]["layers"].mean(0), atol=1e-6)  # w = 0, gamma = 1: the mean
    alone = bilm.embed([sents[0]])[0]["layers"]  # no dependence on the batch it was in
    assert torch.allclose(alone, out[0]["layers"], atol=1e-5)
    (tmp_path / "in.txt").write_text("\n".join(sents) + "\n")
    assert run_cli("lm", "embed", word_run, tmp_path / "in.txt", "-o", tmp_path / "e.npy") == 0
    arr, meta = np.load(tmp_path / "e.npy"), json.loads((tmp_path / "e.json").read_text())
    assert arr.shape == (8, 3, 32) and meta["tokens"] == [s.split() for s in sents] and meta["offsets"] == [0, 3]
    assert np.allclose(arr[3:], out[1]["layers"].permute(1, 0, 2).numpy(), atol=1e-5)
    mix = np.load(tmp_path / "e.mix.npy")  # the scalar mix, row for row
    assert meta["mix_file"] == "e.mix.npy" and mix.shape == (8, 32)
    assert np.allclose(mix[3:], out[1]["mix"].numpy(), atol=1e-5)


def test_stream_run_embeds_between_the_boundary_it_was_trained_with(word_run):
    """A stream-mode LM never reads <s> (</s> ends every line, and starts the next one in both
    directions), so embed reads </s> tokens </s>: the untrained <s> vector cannot reach the output."""
    bilm = BiLM.from_run(word_run, device="cpu")
    assert bilm.lm_config.mode == "stream"
    before = bilm.embed(["the company said"])[0]["layers"]
    with torch.no_grad():
        bilm.encoder.weight[bilm.vocab.bos] += 1.0
    assert torch.equal(bilm.embed(["the company said"])[0]["layers"], before)
    with torch.no_grad():
        bilm.encoder.weight[bilm.vocab.eos] += 1.0
    after = bilm.embed(["the company said"])[0]["layers"]
    assert torch.equal(after[0], before[0]) and not torch.allclose(after[1:], before[1:])  # context only


def test_char_encoder_run_embeds_unseen_words(ptb, tmp_path):
    out = tmp_path / "char"
    assert run_cli("lm", "train", ptb / "small.txt", "-o", out, "--preset", "tiny", "--encoder", "char",
                   "--char-filters", "1:8,2:8,3:16", "--max-steps", 6, "--no-progress") == 0
    assert run_cli("lm", "embed", out, ptb / "small_valid.txt", "-o", tmp_path / "e.pt") == 0
    saved = torch.load(tmp_path / "e.pt", weights_only=True)
    lines = (ptb / "small_valid.txt").read_text().splitlines()
    assert saved["tokens"] == [line.split() for line in lines] and saved["layer_names"] == ["token", "lstm1", "lstm2"]
    assert [t.shape for t in saved["layers"][:2]] == [(3, len(lines[0].split()), 32), (3, len(lines[1].split()), 32)]
    assert saved["scalar_mix_weights"].sum().item() == pytest.approx(1.0)
    bilm = BiLM.from_run(out, device="cpu")
    a, b = bilm.embed([["zyzzyva", "qwxj"]])[0]["layers"][0]  # unseen words: different spellings, different vectors
    assert not torch.allclose(a, b)


def test_subword_and_mecab_tokenization(tmp_path):
    from nlplab.subword import SubwordConfig, SubwordTokenizer
    from nlplab.subword import train as train_subword

    ko = ROOT / "corpora" / "ko_sample.txt"
    train_subword(SubwordConfig(corpus=[str(ko)], output=str(tmp_path / "sp"), lang="ko", model="unigram",
                                vocab_size=1000), progress=False)
    out = tmp_path / "sub"
    assert run_cli("lm", "train", ko, "-o", out, "--preset", "tiny", "--encoder", "subword", "--tokenizer",
                   tmp_path / "sp", "--tie", "--max-steps", 4, "--no-progress") == 0
    assert (out / "tokenizer" / "tokenizer.json").is_file()
    assert json.loads((out / "metrics.json").read_text())["vocab_size"] == SubwordTokenizer(tmp_path / "sp").vocab_size
    bilm = BiLM.from_run(out, device="cpu")
    assert bilm.embed(["재밌어요"])[0]["tokens"] == bilm.tokenizer.subword.pieces("재밌어요")
    # another subword folder in place of the run's own: refused
    train_subword(SubwordConfig(corpus=[str(ko)], output=str(tmp_path / "sp2"), lang="ko", model="unigram",
                                vocab_size=1100), progress=False)
    shutil.rmtree(out / "tokenizer")
    shutil.copytree(tmp_path / "sp2", out / "tokenizer")
    with pytest.raises(NlplabError, match=r"tokenizer: the vocabulary .* does not match the checkpoint"):
        BiLM.from_run(out, device="cpu")
    out = tmp_path / "mecab"
    assert run_cli("lm", "train", ko, "-o", out, "--preset", "tiny", "--pretokenize", "mecab", "--max-steps", 2,
                   "--no-progress") == 0
    tokens = json.loads((out / "vocab.json").read_text())["tokens"]
    assert {"아버지", "가"} <= set(tokens) or {"재밌", "어요"} <= set(tokens)


# ---- bad input: one line, exit 2

def error_of(capsys, *args):
    code, _, err = run_cli(*args, capsys=capsys)
    assert code == 2
    assert err.count("\n") == 1, err
    return err


def test_bf16_on_a_cpu(tmp_path, ptb, capsys, monkeypatch):
    """--precision bf16 trains on a CPU with bfloat16 instructions, to within a few percent of
    float32's perplexity, and is a one-line error on one without them."""
    train = ("lm", "train", ptb / "small.txt", "--preset", "tiny", "--device", "cpu", "--max-steps", 20, "--no-progress")
    with monkeypatch.context() as m:
        m.setattr(dist, "bf16_ok", lambda dev: False)
        err = error_of(capsys, *train, "--precision", "bf16", "-o", tmp_path / "r0")
        assert "--precision bf16: this CPU has no bfloat16 instructions" in err and not (tmp_path / "r0").exists()
    if not dist.bf16_ok(torch.device("cpu")):
        pytest.skip("this CPU has no bfloat16 instructions")
    ppl = {}
    for precision in ("fp32", "bf16"):
        assert run_cli(*train, "--precision", precision, "-o", tmp_path / precision, capsys=capsys)[0] == 0
        code, out, _ = run_cli("lm", "eval", tmp_path / precision, "--data", ptb / "small.txt", "--json", capsys=capsys)
        ppl[precision] = json.loads(out)["mean_ppl"]
    assert abs(ppl["bf16"] / ppl["fp32"] - 1) < 0.05, ppl


def test_bad_corpora_and_sizes(tmp_path, ptb, capsys):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("  \n\t\n")
    (tmp_path / "urls.txt").write_text("http://a.example.com\nwww.b.example.org\n")
    (tmp_path / "few.txt").write_text("a b c\nd e\n")
    train = ("lm", "train", "--preset", "tiny", "--no-progress")
    assert "empty corpus" in error_of(capsys, *train, tmp_path / "empty.txt", "-o", tmp_path / "r1")
    assert "no tokens left" in error_of(capsys, *train, tmp_path / "blank.txt", "-o", tmp_path / "r2")
    assert "no tokens left" in error_of(capsys, *train, tmp_path / "urls.txt", "--clean", "url,whitespace", "-o", tmp_path / "r3")
    err = error_of(capsys, *train, tmp_path / "few.txt", "--bptt", 50, "-o", tmp_path / "r4")
    assert "7 tokens make 4 streams of 1" in err and "--bptt 50" in err
    err = error_of(capsys, *train, tmp_path / "few.txt", "--mode", "sentence", "--batch-size", 8, "-o", tmp_path / "r5")
    assert "2 sentences, fewer than --batch-size 8" in err
    (tmp_path / "one.txt").write_text("a\n")  # 2 tokens with </s>: 2 eval streams of 1 token predict nothing
    err = error_of(capsys, *train, ptb / "small.txt", "--valid", tmp_path / "one.txt", "-o", tmp_path / "r6")
    assert "one.txt: 2 tokens make 2 streams of 1, too short to predict a token; lower --eval-batch-size" in err
    assert not (tmp_path / "r6").exists()  # nothing written before the inputs are checked
    assert "--tie needs an embedding table" in error_of(capsys, *train, ptb / "small.txt", "--encoder", "char", "--tie",
                                                        "-o", tmp_path / "r7")
    assert "--max-steps must be 0 or more, got -1" in error_of(capsys, *train, ptb / "small.txt", "--max-steps", -1,
                                                               "-o", tmp_path / "r8")
    assert not (tmp_path / "r8").exists()
    (tmp_path / "bad.txt").write_bytes(b"the cat\nthe \xff dog\n")
    err = error_of(capsys, *train, tmp_path / "bad.txt", "-o", tmp_path / "r9")
    assert "bad.txt:2:5: byte 0xff is not UTF-8; re-encode the file" in err and "--on-error" not in err  # lm has no such flag


def test_eval_reads_short_files_and_names_its_own_flags(word_run, ptb, tmp_path, capsys):
    """lm eval scores a file shorter than one training window (the last window of a stream is
    short anyway), and its errors name lm eval's own options."""
    (tmp_path / "five.txt").write_text("the company said it\n")  # 5 tokens with </s>; the run's bptt is 16
    code, out, _ = run_cli("lm", "eval", word_run, "--data", tmp_path / "five.txt", "--batch-size", 1, "--json", capsys=capsys)
    assert code == 0 and json.loads(out)["tokens"] == 4 and json.loads(out)["backward_tokens"] == 4
    (tmp_path / "one.txt").write_text("the\n")
    err = error_of(capsys, "lm", "eval", word_run, "--data", tmp_path / "one.txt")  # the run's --eval-batch-size 2
    assert "2 tokens make 2 streams of 1, too short to predict a token; lower --batch-size" in err
    (tmp_path / "blank.txt").write_text("\n \n")
    err = error_of(capsys, "lm", "eval", word_run, "--data", tmp_path / "blank.txt")
    assert "no tokens left" in err and "config.yaml" in err and "--pretokenize" not in err
    assert "--batch-size must be at least 1, got 0" in error_of(capsys, "lm", "eval", word_run, "--data",
                                                               tmp_path / "five.txt", "--batch-size", 0)
    sent = tmp_path / "sent"  # sentence mode: one sentence against the run's --eval-batch-size 2
    assert run_cli("lm", "train", ptb / "small.txt", "-o", sent, "--preset", "tiny", "--mode", "sentence", "--max-steps", 2,
                   "--no-progress") == 0
    code, out, _ = run_cli("lm", "eval", sent, "--data", tmp_path / "five.txt", "--json", capsys=capsys)
    assert code == 0 and json.loads(out)["tokens"] == 5  # the 4 words and </s>, each predicted once per direction
    unfinished = tmp_path / "unfinished"
    shutil.copytree(word_run, unfinished)
    (unfinished / "model.pt").unlink()
    err = error_of(capsys, "lm", "eval", unfinished, "--data", tmp_path / "five.txt")
    assert "no model.pt yet" in err and f"nlplab lm train -o {unfinished} --resume" in err


def test_embed_output_paths_are_checked_before_any_work(word_run, tmp_path, capsys):
    inp = tmp_path / "in.txt"
    inp.write_text("the company\n\nsaid it\n")
    embed = ("lm", "embed", word_run, inp, "-o")
    (tmp_path / "adir.pt").mkdir()
    assert "adir.pt: is a folder; give a file name" in error_of(capsys, *embed, tmp_path / "adir.pt")
    (tmp_path / "afile").write_text("x")
    assert "afile is a file, not a folder" in error_of(capsys, *embed, tmp_path / "afile" / "e.pt")
    (tmp_path / "j.json").mkdir()  # the .npy's alignment file cannot be written: nothing is
    assert "j.json: is a folder" in error_of(capsys, *embed, tmp_path / "j.npy")
    assert not (tmp_path / "j.npy").exists() and not (tmp_path / "j.mix.npy").exists()
    assert "write .pt (a torch dict) or .npy" in error_of(capsys, *embed, tmp_path / "e.txt")
    assert "--batch-size must be at least 1, got 0" in error_of(capsys, *embed, tmp_path / "e.pt", "--batch-size", 0)
    assert run_cli(*embed, tmp_path / "new" / "E.NPY") == 0  # any case; missing folders are made
    meta = json.loads((tmp_path / "new" / "E.json").read_text())
    assert meta["tokens"] == [["the", "company"], [], ["said", "it"]] and meta["offsets"] == [0, 2, 2]  # row in, row out
    assert np.load(tmp_path / "new" / "E.NPY").shape == (4, 3, 32) == (*np.load(tmp_path / "new" / "E.mix.NPY").shape[:1], 3, 32)
    assert sorted(f.name for f in (tmp_path / "new").iterdir()) == ["E.NPY", "E.json", "E.mix.NPY"]  # no temp files left


def test_run_folder_mismatches(word_run, ptb, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(word_run, broken)
    v = json.loads((broken / "vocab.json").read_text())
    v["tokens"][5], v["tokens"][6] = v["tokens"][6], v["tokens"][5]
    (broken / "vocab.json").write_text(json.dumps(v))
    assert "does not match the checkpoint" in error_of(capsys, "lm", "eval", broken, "--data", ptb / "small.txt")
    assert "does not match the checkpoint" in error_of(capsys, "lm", "embed", broken, ptb / "small.txt", "-o", tmp_path / "e.pt")
    assert "already exists" in error_of(capsys, "lm", "train", ptb / "small.txt", "-o", word_run, "--preset", "tiny")
    assert "not a run folder" in error_of(capsys, "lm", "eval", tmp_path, "--data", ptb / "small.txt")


# ---- variational dropout, the time budget, the forward LM's size (session 7)

def test_variational_dropout_keeps_one_mask_along_the_sequence():
    from nlplab.lm.model import LockedDropout

    drop = LockedDropout(0.25).train()
    torch.manual_seed(0)
    x = torch.ones(64, 30, 40)
    y = drop(x)
    # a (sequence, feature) is dropped at every position or at none; kept ones scale by 1 / (1 - p)
    assert torch.equal(y, y[:, :1].expand_as(y))
    assert y.unique().tolist() == pytest.approx([0.0, 1 / 0.75])
    assert abs((y[:, 0] == 0).float().mean().item() - 0.25) < 0.03
    assert torch.equal(drop.eval()(x), x)
    model = BiLM(BiLMConfig(vocab_size=40, encoder="embedding", proj_dim=8, hidden_dim=16, dropout=0.5, variational=True))
    assert {type(m).__name__ for m in model.modules() if "Dropout" in type(m).__name__} == {"LockedDropout"}
    assert not any(isinstance(m, torch.nn.Dropout) for m in model.modules())


def test_no_direction_sees_the_token_it_predicts_in_training_with_variational_dropout():
    """The masks are drawn per sequence, not from the tokens: with the same seed, changing
    x[t] in training mode still leaves both predictions of x[t] alone."""
    model = tiny_model(dropout=0.3, variational=True).train()
    T, t = 9, 4
    x = torch.randint(4, 40, (2, T))
    y = x.clone()
    y[:, t] = torch.where(x[:, t] == 4, 5, 4)
    fwd_tgt, bwd_tgt = x[:, 1:], x.flip(1)[:, 1:]  # the same targets: only what the LMs read changes
    outs = []
    for inp in (x, y):
        torch.manual_seed(3)
        nll_f, nll_b, _ = model(inp[:, :-1], fwd_tgt, inp.flip(1)[:, :-1], bwd_tgt)
        outs.append((nll_f.detach(), nll_b.detach()))
    (fx, bx), (fy, by) = outs
    # forward: the prediction of x[t] reads x[:t]; backward (reversed, position T-1-t reads x[t+1:])
    assert torch.allclose(fx[:, :t], fy[:, :t]) and torch.allclose(bx[:, :T - 1 - t], by[:, :T - 1 - t])
    assert not torch.allclose(fx[:, t:], fy[:, t:]) and not torch.allclose(bx[:, T - 1 - t:], by[:, T - 1 - t:])


def test_max_minutes_ends_the_run_like_an_epoch_end(ptb, tmp_path):
    kw = {"max_steps": 6, "test": str(ptb / "small_valid.txt")}
    s = run(tiny_cfg(ptb, tmp_path / "r", max_minutes=1e-6, **kw), progress=False)
    assert s["stopped"] == "max_minutes" and s["steps"] == 1  # the clock is read after each step
    assert s["valid"]["step"] == 1 and s["best"]["step"] == 1 and s["test"]["forward_ppl"] > 1
    assert (tmp_path / "r" / "model.pt").is_file()
    # the budget may change on --resume (it counts from each start); the run goes on from step 1
    s = run(tiny_cfg(ptb, tmp_path / "r", max_minutes=0.0, resume=True, **kw), progress=False)
    assert s["steps"] == 6 and s["stopped"] == "max_steps"
    with pytest.raises(NlplabError, match="--max-minutes must be 0"):
        tiny_cfg(ptb, tmp_path / "x", max_minutes=-1)


def test_forward_parameters_count_the_forward_lm_alone(ptb, tmp_path):
    s = run(tiny_cfg(ptb, tmp_path / "r", max_steps=1), progress=False)
    model = BiLM.from_run(tmp_path / "r", "cpu")
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert s["forward_parameters"] == count(model.encoder) + count(model.forward_lm) + count(model.softmax)  # untied
    assert s["parameters"] == s["forward_parameters"] + count(model.backward_lm)


def test_ptb_preset_forward_lm_is_under_20m_parameters_on_ptb_vocabulary():
    p = preset("ptb")
    cfg = BiLMConfig(vocab_size=10002, encoder="embedding", proj_dim=p["proj_dim"], hidden_dim=p["hidden_dim"],
                     layers=p["layers"], dropout=p["dropout"], variational=p["variational"], tie=p["tie"])
    model = BiLM(cfg)
    unique = {id(p): p for m in (model.encoder, model.forward_lm, model.softmax) for p in m.parameters()}  # tied: once
    forward = sum(p.numel() for p in unique.values())
    assert 15e6 < forward < 20e6  # 17.09M, as the GPU run logged
    assert forward == 17_086_786


def test_char_cnn_runs_once_per_distinct_token_with_the_same_outputs_and_gradients():
    model = tiny_model("char").train()
    pool = torch.randint(1, 257, (5, 12))
    pool[:, 0] = BOW
    x = pool[torch.randint(0, 5, (3, 10))]  # (3, 10, 12): 30 positions, at most 5 distinct tokens
    fwd_in, bwd_in = x[:, :-1], x.flip(1)[:, :-1]
    fwd_tgt, bwd_tgt = torch.randint(4, 40, (3, 9)), torch.randint(4, 40, (3, 9))
    seen = []
    model.encoder.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[:2].numel()))
    results = {}
    for unique in (True, False):
        model.unique_tokens = unique
        model.zero_grad()
        nll_f, nll_b, _ = model(fwd_in, fwd_tgt, bwd_in, bwd_tgt)
        (nll_f.mean() + nll_b.mean()).backward()
        results[unique] = (nll_f.detach(), nll_b.detach(), {n: p.grad.clone() for n, p in model.named_parameters()})
    distinct = torch.unique(torch.cat([fwd_in, bwd_in]).reshape(-1, 12), dim=0).size(0)
    assert seen == [distinct, 2 * 3 * 9] and distinct <= 5
    (f1, b1, g1), (f2, b2, g2) = results[True], results[False]
    assert torch.allclose(f1, f2, atol=1e-6) and torch.allclose(b1, b2, atol=1e-6)
    for name in g2:
        assert torch.allclose(g1[name], g2[name], atol=1e-6, rtol=1e-4), name


def test_a_preset_s_true_switches_can_be_turned_off_from_the_command_line(ptb, tmp_path):
    args = ("lm", "train", ptb / "small.txt", "--preset", "ptb", "--hidden-dim", "32", "--proj-dim", "16",
            "--batch-size", "4", "--max-steps", "1", "--no-progress")
    assert run_cli(*args, "-o", tmp_path / "on") == 0
    assert run_cli(*args, "--no-variational", "--no-tie", "-o", tmp_path / "off") == 0
    on, off = (yaml.safe_load((tmp_path / r / "config.yaml").read_text()) for r in ("on", "off"))
    assert (on["variational"], on["tie"]) == (True, True) and (off["variational"], off["tie"]) == (False, False)
    assert {type(m).__name__ for m in BiLM.from_run(tmp_path / "off", "cpu").modules()} >= {"Dropout"}


def corpus_folder(d, train_shards, valid):
    """A corpus folder as `nlplab corpus build` writes it (manifest.json, train/, valid/)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for split, shards in (("train", train_shards), ("valid", [valid] if valid else [])):
        (d / split).mkdir(parents=True)
        for i, texts in enumerate(shards):
            pq.write_table(pa.table({"text": texts, "source": ["ptb"] * len(texts)}), d / split / f"{split}-{i:05d}.parquet")
    (d / "manifest.json").write_text("{}")
    return d


def test_a_corpus_folder_trains_on_its_train_split_and_validates_on_its_valid_split(ptb, tmp_path, capsys):
    train = (ptb / "small.txt").read_text(encoding="utf-8").splitlines()
    valid = (ptb / "small_valid.txt").read_text(encoding="utf-8").splitlines()
    d = corpus_folder(tmp_path / "corpus", [train[:25], train[25:]], valid)
    out = tmp_path / "r"
    code, _, err = run_cli("lm", "train", d, "-o", out, "--preset", "tiny", "--max-steps", 3, "--no-progress", capsys=capsys)
    assert code == 0, err
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert (cfg["train"], cfg["valid"]) == (str(d), str(d / "valid"))  # recorded, so --resume reads the same split
    log = (out / "train.log").read_text(encoding="utf-8")
    assert f"valid: {d / 'valid'}, the corpus folder's valid split (30 rows; --valid not given)" in log
    m = json.loads((out / "metrics.json").read_text())
    assert m["train_tokens"] == sum(len(line.split()) for line in train)  # both shards, every row
    assert m["valid"]["step"] == 3
    # the same run from the txt files: the same vocabulary, the same valid tokens and perplexity
    s = run(tiny_cfg(ptb, tmp_path / "txt", max_steps=3), progress=False)
    assert (s["vocab_size"], s["valid"]["tokens"]) == (m["vocab_size"], m["valid"]["tokens"])
    assert s["valid"]["mean_ppl"] == pytest.approx(m["valid"]["mean_ppl"])
    # --valid given wins; an empty valid split means no validation, and the log says why
    run(tiny_cfg(ptb, tmp_path / "given", train=str(d), valid=str(ptb / "valid.txt"), max_steps=1), progress=False)
    assert yaml.safe_load((tmp_path / "given" / "config.yaml").read_text())["valid"] == str(ptb / "valid.txt")
    assert "corpus folder's valid split" not in (tmp_path / "given" / "train.log").read_text(encoding="utf-8")
    empty = corpus_folder(tmp_path / "empty", [train], None)
    s = run(tiny_cfg(ptb, tmp_path / "nov", train=str(empty), valid=None, max_steps=1), progress=False)
    assert s["valid"] is None and s["best"] is None
    assert f"valid: none; {empty / 'valid'} (the corpus folder's valid split) has no rows" in (
        tmp_path / "nov" / "train.log").read_text(encoding="utf-8")
