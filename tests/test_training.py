"""nlplab/training/: the plumbing `nlplab finetune` and `nlplab lm train` share. The
checkpoint round trip (weights, optimizer, schedule, loss scale, every RNG) through a
weights_only=True load, checkpoints from before the format, the run-folder rules, the
optimizer's parameter groups, one schedule vocabulary, and the shared config fields with
one validation and the older spellings kept for a release."""

import dataclasses
import pickle
import random

import numpy as np
import pytest
import torch

from nlplab import NlplabError, dist
from nlplab.config import save
from nlplab.finetune import FinetuneConfig
from nlplab.lm.config import LMConfig
from nlplab.training import checkpoint, logs, optim
from nlplab.training.config import RESUME_FREE, config_diff


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(4, 3)
        self.LayerNorm = torch.nn.LayerNorm(3)

    def forward(self, x):
        return self.LayerNorm(self.proj(x)).sum()


def parts(cfg):
    torch.manual_seed(0)
    model = Tiny()
    opt = optim.make_optimizer(cfg, model, torch.device("cpu"))
    return model, opt, optim.make_schedule(cfg, opt, total=10), optim.make_scaler(cfg.precision)


def train_steps(model, opt, sched, scaler, n):
    for _ in range(n):
        scaler.scale(model(torch.randn(2, 4))).backward()
        optim.clip_gradients(model, opt, scaler, 1.0)
        optim.update(opt, sched, scaler, plateau=False)


def draws():
    return random.random(), float(np.random.rand()), torch.rand(1).item()


def test_checkpoint_round_trip_resumes_exactly(tmp_path):
    cfg = LMConfig(train="x", output=str(tmp_path), optimizer="adamw", lr=0.1, scheduler="cosine", warmup_steps=2)
    model, opt, sched, scaler = parts(cfg)
    train_steps(model, opt, sched, scaler, 3)
    evals = logs.new_evals()
    evals["history"].append({"step": 3, "best": logs.improved(evals, 2.5, higher_is_better=False)})
    path = tmp_path / "checkpoint" / "last.pt"
    checkpoint.save_checkpoint(path, step=3, position={"epoch": 0, "batch": 3}, global_batch=8, model=model, optimizer=opt,
                               scheduler=sched, scaler=scaler, evals=evals, state=None, vocab="abc")
    after_save = draws()
    train_steps(model, opt, sched, scaler, 2)
    whole = {k: v.clone() for k, v in model.state_dict().items()}

    ckpt = torch.load(path, weights_only=True)  # tensors and plain values only
    assert set(ckpt) == {"format", "step", "position", "global_batch", "model", "optimizer", "scheduler", "scaler", "rng",
                         "evals", "state", "vocab"}
    assert (ckpt["format"], ckpt["step"], ckpt["global_batch"], ckpt["vocab"]) == (checkpoint.FORMAT, 3, 8, "abc")
    assert ckpt["evals"] == {"history": [{"step": 3, "best": True}], "best": 2.5, "stale": 0}
    model2, opt2, sched2, scaler2 = parts(cfg)
    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    checkpoint.restore(checkpoint.load_checkpoint(path), model2, opt2, sched2, scaler2, cfg.seed, dist.Dist())
    assert draws() == after_save  # python, numpy and torch RNGs as they were at the save
    assert sched2.last_epoch == 3
    train_steps(model2, opt2, sched2, scaler2, 2)  # the same two steps, the same batches: the same weights
    assert all(torch.equal(whole[k], v) for k, v in model2.state_dict().items())


def test_checkpoints_from_before_the_format_are_one_line(tmp_path):
    old_finetune = tmp_path / "last.pt"  # RNG state pickled with numpy arrays: weights_only refuses it
    torch.save({"model": {}, "rng": {"numpy": np.random.get_state()}, "position": {"step": 2}}, old_finetune)
    old_lm = tmp_path / "checkpoint.pt"  # tensors only, but no format key
    torch.save({"step": 4, "position": (0, 4), "model": {}}, old_lm)
    for path in (old_finetune, old_lm):
        with pytest.raises(NlplabError, match="from before its checkpoint format 1; finish the run") as e:
            checkpoint.load_checkpoint(path)
        assert "\n" not in str(e.value)
    (tmp_path / "cut.pt").write_bytes(old_lm.read_bytes()[:40])
    with pytest.raises(NlplabError, match="the file is damaged"):
        checkpoint.load_checkpoint(tmp_path / "cut.pt")


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    cfg = FinetuneConfig(task="SST-2", output=str(tmp_path))
    model, opt, sched, scaler = parts(cfg)
    path = tmp_path / "checkpoint" / "last.pt"
    kw = dict(position={"epoch": 0, "batch": 1}, global_batch=4, model=model, optimizer=opt, scheduler=sched,
              scaler=scaler, evals=logs.new_evals())
    checkpoint.save_checkpoint(path, step=1, **kw)
    real = torch.save

    def crash(obj, f, *a, **k):
        f.write(b"partial")
        raise KeyboardInterrupt
    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_checkpoint(path, step=2, **kw)
    monkeypatch.setattr(torch, "save", real)
    assert checkpoint.load_checkpoint(path)["step"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]
    checkpoint.remove_checkpoint(path)
    assert not path.parent.exists()


def test_run_folder_rules(tmp_path):
    out = tmp_path / "run"
    cfg = LMConfig(train="t.txt", output=str(out), lr=0.01)
    assert checkpoint.check_run_folder(cfg, [], "an lm", "checkpoint.pt") is None  # new folder
    out.mkdir()
    (out / "stray.txt").write_text("x")
    with pytest.raises(NlplabError, match="already exists; choose a new -o folder, --resume it, or pass --force"):
        checkpoint.check_run_folder(cfg, [], "an lm", "checkpoint.pt")
    with pytest.raises(NlplabError, match="not an lm run folder"):
        checkpoint.check_run_folder(dataclasses.replace(cfg, force=True), [], "an lm", "checkpoint.pt")
    (out / "cache").mkdir()
    (out / "cache" / "ids.npy").write_text("kept")
    save(cfg, out / "config.yaml")
    checkpoint.start_run_folder(dataclasses.replace(cfg, force=True), dist.Dist(), fresh=True)
    assert sorted(p.name for p in out.iterdir()) == ["cache", "config.yaml"]  # the cache stays, the rest goes
    resume = dataclasses.replace(cfg, resume=True)
    with pytest.raises(NlplabError, match=r"differs from the run's in lr \(0\.01 -> 0\.02\), seed \(1234 -> 1\);"):
        checkpoint.check_run_folder(dataclasses.replace(resume, lr=0.02, seed=1), [], "an lm", "checkpoint.pt")
    with pytest.raises(NlplabError, match="no checkpoint to resume from"):
        checkpoint.check_run_folder(dataclasses.replace(resume, log_every=7, max_minutes=1.0), [], "an lm", "checkpoint.pt")
    (out / "metrics.json").write_text('{"steps": 5}')
    with pytest.raises(NlplabError, match="the run already finished"):
        checkpoint.check_run_folder(resume, [], "an lm", "checkpoint.pt")


def test_global_batch_is_the_checkpoints_on_any_number_of_processes():
    two = dist.Dist(rank=0, world=2)
    assert checkpoint.check_global_batch(None, 8, two, "r") == 16
    assert checkpoint.check_global_batch({"global_batch": 16}, 3, dist.Dist(), "r") == 16
    with pytest.raises(NlplabError, match="global batch of 15 does not split over 2 processes"):
        checkpoint.check_global_batch({"global_batch": 15}, 8, two, "r")


def test_optimizer_groups_schedules_and_precision(tmp_path):
    cfg = FinetuneConfig(task="SST-2", output=str(tmp_path), weight_decay=0.1)
    model = Tiny()
    opt = optim.make_optimizer(cfg, model, torch.device("cpu"))
    decayed, plain = opt.param_groups
    assert decayed["weight_decay"] == 0.1 and [p.shape for p in decayed["params"]] == [(3, 4)]
    assert plain["weight_decay"] == 0.0 and len(plain["params"]) == 3  # the bias and both LayerNorm tensors
    assert decayed["fused"] is (True if "cpu" in optim.FUSED_DEVICES else None)
    sgd = optim.make_optimizer(dataclasses.replace(cfg, optimizer="sgd", momentum=0.9), model, torch.device("cpu"))
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.9
    # fine-tuning's linear decay: warmup_ratio of the steps, then down to 0 (or --min-lr)
    p = torch.nn.Parameter(torch.zeros(1))
    for min_lr, last in ((0.0, 1 / 8), (0.5, 0.5 + 0.5 / 8)):  # the last step: 7 of the 8 after the warmup
        o = torch.optim.SGD([p], lr=1.0)
        s = optim.make_schedule(dataclasses.replace(cfg, lr=1.0, min_lr=min_lr, warmup_ratio=0.2), o, total=10)
        lrs = []
        for _ in range(10):
            lrs.append(o.param_groups[0]["lr"])
            o.step()
            s.step()
        assert lrs[:3] == pytest.approx([0.5, 1.0, 1.0]) and lrs[-1] == pytest.approx(last)
    with pytest.raises(NlplabError, match="plateau has no warmup"):
        FinetuneConfig(task="SST-2", output="r", scheduler="plateau")  # fine-tuning warms up 10% by default
    assert FinetuneConfig(task="SST-2", output="r", scheduler="plateau", warmup_ratio=0).scheduler == "plateau"
    with pytest.raises(NlplabError, match="--precision fp16 needs a GPU"):
        optim.check_precision("fp16", torch.device("cpu"))
    assert optim.autocast_for(torch.device("cpu"), "fp16") is optim.autocast_for(torch.device("cpu"), "fp32")


def test_shared_fields_one_validation_and_the_older_spellings():
    for cls, extra in ((FinetuneConfig, {"task": "SST-2"}), (LMConfig, {"train": "t.txt"})):
        for field, value, message in (("grad_accum", 0, "--grad-accum must be at least 1, got 0"),
                                      ("clip", -1.0, "--clip must be 0 or more, got -1.0"),
                                      ("lr", float("nan"), "--lr must be a finite number, got nan"),
                                      ("warmup_ratio", 2.0, r"--warmup-ratio must be in \[0, 1\], got 2.0"),
                                      ("seed", -1, r"--seed must be in \[0, 2\*\*32\)")):
            with pytest.raises(NlplabError, match=message):
                cls(output="r", **extra, **{field: value})
    # the older spellings, kept for a release: one field says it afterwards
    assert LMConfig(train="t", output="r", scheduler="warmup-linear").scheduler == "linear"
    assert LMConfig(train="t", output="r", scheduler="warmup-cosine").scheduler == "cosine"
    lm = LMConfig(train="t", output="r", checkpoint_every=7)
    assert (lm.save_every, lm.checkpoint_every) == (7, None)
    ft = FinetuneConfig(task="sst2", output="r", bf16=True)
    assert (ft.precision, ft.bf16, ft.fp16, ft.task) == ("bf16", False, False, "SST-2")
    with pytest.raises(NlplabError, match="give one precision"):
        FinetuneConfig(task="SST-2", output="r", fp16=True, precision="bf16")
    # a saved config from before a field existed compares as that field's default
    saved = {k: v for k, v in dataclasses.asdict(lm).items() if k not in ("grad_accum", "warmup_ratio")}
    assert config_diff(saved, lm) == []
    assert config_diff({**saved, "checkpoint_every": 9, "save_every": 500}, lm) == ["save_every (9 -> 7)"]
    assert set(RESUME_FREE) <= {f.name for f in dataclasses.fields(lm)}


def test_the_cli_takes_both_spellings(tmp_path, capsys):
    from nlplab import cli
    from nlplab.finetune.config import preset
    from nlplab.lm.config import preset as lm_preset
    from nlplab.training.config import resolve_config

    parser = cli.build_parser(["finetune"])
    args = parser.parse_args(["finetune", "--task", "SST-2", "-o", str(tmp_path), "--bf16"])
    assert resolve_config(FinetuneConfig, args, "task", preset).precision == "bf16"
    parser = cli.build_parser(["lm"])
    args = parser.parse_args(["lm", "train", "t.txt", "-o", str(tmp_path), "--checkpoint-every", "3",
                              "--scheduler", "warmup-cosine", "--grad-accum", "2"])
    cfg = resolve_config(LMConfig, args, "preset", lm_preset)
    assert (cfg.save_every, cfg.scheduler, cfg.grad_accum) == (3, "cosine", 2)
    with pytest.raises(NlplabError, match="no config.yaml, nothing to resume"):
        resolve_config(LMConfig, parser.parse_args(["lm", "train", "-o", str(tmp_path / "none"), "--resume"]), "preset",
                       lm_preset)


def test_rng_state_is_tensors_and_plain_values(tmp_path):
    state = checkpoint.rng_state()
    assert isinstance(state["numpy"][1], torch.Tensor)
    torch.save(state, tmp_path / "rng.pt")
    assert torch.load(tmp_path / "rng.pt", weights_only=True)["python"] == random.getstate()
    torch.save(np.random.get_state(), tmp_path / "numpy.pt")  # what fine-tuning's checkpoints held before
    with pytest.raises(pickle.UnpicklingError):
        torch.load(tmp_path / "numpy.pt", weights_only=True)
