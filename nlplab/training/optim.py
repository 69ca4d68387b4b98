"""Seeds, precision, optimizer and learning-rate schedule of every training command.

    seed_everything(cfg.seed)
    check_precision(cfg.precision, device)            # before any work: a one-line error
    autocast, scaler = autocast_for(device, cfg.precision), make_scaler(cfg.precision)
    optimizer = make_optimizer(cfg, model, device)
    scheduler = make_schedule(cfg, optimizer, total, mode="max")   # plateau: a higher score is better
"""

from __future__ import annotations

import contextlib
import math
import random

import numpy as np
import torch

from nlplab import NlplabError, dist

# The fused Adam(W) kernel updates every tensor in one pass: CUDA, and CPU since torch 2.4
# (on the 2-core CPU here a step of a 4M-parameter model takes 9 ms fused, 49 ms unfused).
FUSED = ("adam", "adamw")
FUSED_DEVICES = ("cuda", "cpu") if tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 4) else ("cuda",)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ---- precision

def check_precision(precision: str, device: torch.device) -> None:
    if precision == "fp16" and device.type != "cuda":
        raise NlplabError("--precision fp16 needs a GPU; none is visible (train in fp32, or --precision bf16 on a CPU "
                          "that has it)")
    if precision == "bf16" and not dist.bf16_ok(device):
        raise NlplabError(f"--precision bf16: {dist.NO_BF16}; train in fp32")


def autocast_for(device: torch.device, precision: str):
    """A context factory: autocast in the run's precision where the device runs it fast (bf16:
    dist.bf16_ok, fp16: a GPU), else float32 (evaluating a bf16 run elsewhere, say)."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    if dtype is None or (precision == "bf16" and not dist.bf16_ok(device)) or (precision == "fp16" and device.type != "cuda"):
        return contextlib.nullcontext
    return lambda: torch.autocast(device.type, dtype=dtype)


def make_scaler(precision: str) -> torch.amp.GradScaler:
    """fp16's loss scaling; for fp32 and bf16 a disabled scaler whose calls do nothing."""
    return torch.amp.GradScaler(enabled=precision == "fp16")


# ---- optimizer and schedule

def make_optimizer(cfg, model: torch.nn.Module, device: torch.device) -> torch.optim.Optimizer:
    """cfg.optimizer over the model's parameters, with no weight decay on biases and LayerNorm
    weights (the 1-D parameters; BERT's optimization.py does the same)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "layernorm" in name.lower() else decay).append(p)
    groups = [g for g in ({"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0})
              if g["params"]]
    fused = True if cfg.optimizer in FUSED and device.type in FUSED_DEVICES else None
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8, fused=fused)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, fused=fused)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    # bilm-tf trains with Adagrad starting every accumulator at 1.0
    return torch.optim.Adagrad(groups, lr=cfg.lr, initial_accumulator_value=1.0)


def clip_gradients(model, optimizer, scaler, max_norm: float) -> torch.Tensor:
    """The gradient norm (before clipping to max_norm; 0: no clipping), of gradients unscaled
    from fp16's loss scale first."""
    scaler.unscale_(optimizer)
    return torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm or math.inf)


def update(optimizer, scheduler, scaler, plateau: bool) -> None:
    """The optimizer step (skipped by fp16's scaler when a gradient overflowed), and the
    schedule's (plateau's comes with the evaluations)."""
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    if not plateau:
        scheduler.step()


def warmup_steps(cfg, total: int) -> int:
    return cfg.warmup_steps or int(cfg.warmup_ratio * total)


def make_schedule(cfg, optimizer, total: int, mode: str = "min"):
    """Linear warmup to the peak over warmup_steps(cfg, total), then: constant; linear or cosine
    decay to min_lr at step `total`; step (x lr_gamma every lr_step steps); cosine-restarts
    (cosine to min_lr and back to the peak every lr_step steps). Stepped after every optimizer
    step. plateau: ReduceLROnPlateau, stepped by the caller with each evaluation's score
    (mode "min": lower is better, a perplexity; "max": an accuracy)."""
    S = torch.optim.lr_scheduler
    if cfg.scheduler == "plateau":
        return S.ReduceLROnPlateau(optimizer, mode=mode, factor=cfg.lr_gamma, patience=cfg.patience, min_lr=cfg.min_lr)
    kind, warmup, floor = cfg.scheduler, warmup_steps(cfg, total), cfg.min_lr / cfg.lr if cfg.lr else 0.0

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = step - warmup
        if kind == "constant":
            return 1.0
        if kind == "step":
            return cfg.lr_gamma ** (t // cfg.lr_step)
        progress = (t % cfg.lr_step) / cfg.lr_step if kind == "cosine-restarts" else min(1.0, t / max(1, total - warmup))
        if kind == "linear":
            return floor + (1 - floor) * (1 - progress)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))  # cosine, cosine-restarts
    return S.LambdaLR(optimizer, factor)
