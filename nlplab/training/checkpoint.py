"""The run folder and its checkpoint, one format for every training command.

    ckpt = check_run_folder(cfg, inputs, "lm", CHECKPOINT)   # every rank, before any write
    global_batch = check_global_batch(ckpt, cfg.batch_size, d, out)
    start_run_folder(cfg, d, fresh=ckpt is None)            # rank 0: empty it (but cache/), config.yaml
    ...
    save_checkpoint(out / CHECKPOINT, step=..., position={"epoch": e, "batch": i}, ...)
    restore(ckpt, model, optimizer, scheduler, scaler, cfg.seed, d)

A checkpoint is a dict of named keys, tensors and plain Python values only, so it loads
with torch.load(weights_only=True): format, step, position {epoch, batch: batches of the
epoch consumed}, global_batch, model, optimizer, scheduler, scaler, rng (python, numpy as
a tensor, torch, cuda), evals {history, best, stale}, and the command's own keys (the
biLM: vocab fingerprint and carried LSTM states; fine-tuning: its counters). It is
written to a temporary file and renamed over the last one, so a crash keeps the previous
checkpoint. The run's config is RUN/config.yaml, written once when the run starts.
"""

from __future__ import annotations

import json
import pickle
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from nlplab import NlplabError, dist, io
from nlplab.config import load_yaml, save
from nlplab.training.config import config_diff

FORMAT = 1  # bumped when the keys above change
KEEP = ("cache",)  # what a fresh run keeps of a reused folder: the token cache, still valid if the data is


def check_run_folder(cfg, inputs, what: str, checkpoint) -> dict | None:
    """The checkpoint to resume from (None for a fresh run). A fresh run never writes over
    another run without --force, and --force only ever clears a run folder; --resume needs
    the run's config (config.yaml) and refuses options that differ from it."""
    out = Path(cfg.output)
    io.check_folder(str(out), inputs)
    if cfg.resume:
        saved = out / "config.yaml"
        if not saved.is_file():
            raise NlplabError(f"{out}: no config.yaml, nothing to resume; start the run without --resume")
        diff = config_diff(load_yaml(str(saved), type(cfg)), cfg)
        if diff:
            raise NlplabError(f"{out}: the config differs from the run's in {', '.join(diff)}; resume with the run's "
                              f"options ({saved}) or start a new run")
        if not (out / checkpoint).is_file():
            done = (out / "metrics.json").is_file() and "steps" in json.loads((out / "metrics.json").read_text())
            raise NlplabError(f"{out}: {'the run already finished' if done else 'no checkpoint to resume from'} "
                              f"({out / checkpoint} missing); start a new run with a new -o folder")
        return load_checkpoint(out / checkpoint)
    if out.exists() and any(out.iterdir()):
        if not cfg.force:
            raise NlplabError(f"{out}: already exists; choose a new -o folder, --resume it, or pass --force to start over")
        if not (out / "config.yaml").exists():
            raise NlplabError(f"{out}: not {what} run folder (no config.yaml); choose a new -o folder")
    return None


def start_run_folder(cfg, d: dist.Dist, fresh: bool) -> Path:
    """Once every rank has checked the folder as it was, rank 0 makes it; a fresh run empties
    a reused one (so no stale file of an earlier run, a test prediction say, is taken for
    this run's) but for its cache, and writes config.yaml."""
    out = Path(cfg.output)
    dist.barrier()
    if d.is_main:
        out.mkdir(parents=True, exist_ok=True)
        if fresh:
            for old in out.iterdir():
                if old.name not in KEEP:
                    shutil.rmtree(old) if old.is_dir() else old.unlink()
            save(cfg, out / "config.yaml")
    return out


def check_global_batch(ckpt: dict | None, batch_size: int, d: dist.Dist, out) -> int:
    """The global batch: --batch-size per process x processes, or the checkpoint's (kept on
    any number of processes that divides it)."""
    global_batch = ckpt["global_batch"] if ckpt is not None else batch_size * d.world
    if global_batch % d.world:
        raise NlplabError(f"{out}: the run's global batch of {global_batch} does not split over {d.world} processes; "
                          f"resume with a number of processes that divides {global_batch}")
    return global_batch


# ---- the checkpoint

def rng_state() -> dict:
    """Every RNG's state as tensors and plain values (numpy's key array as a tensor)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": random.getstate(), "numpy": (kind, torch.from_numpy(keys.copy()), pos, has_gauss, gauss),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy(), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_atomic(obj, path) -> None:
    with io.atomic_output(str(path), "wb") as f:  # a crash mid-write keeps the previous file
        torch.save(obj, f)


def save_checkpoint(path, *, step: int, position: dict, global_batch: int, model, optimizer, scheduler, scaler,
                    evals: dict, **own) -> None:
    """Everything --resume needs to go on exactly (see the module docstring); `own`: the
    command's keys."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_atomic({"format": FORMAT, "step": step, "position": position, "global_batch": global_batch,
                 "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                 "scaler": scaler.state_dict(), "rng": rng_state(), "evals": evals, **own}, path)


def load_checkpoint(path) -> dict:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # fine-tuning's checkpoints before FORMAT 1 pickled numpy arrays
        ckpt = None
    except Exception as e:
        raise NlplabError(f"{path}: cannot be read ({type(e).__name__}: {str(e)[:120]}); the file is damaged") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise NlplabError(f"{path}: written by an nlplab from before its checkpoint format {FORMAT}; finish the run with "
                          "that nlplab (its git commit is in environment.json) or start it again")
    return ckpt


def restore(ckpt: dict, model, optimizer, scheduler, scaler, seed: int, d: dist.Dist) -> None:
    """Weights, optimizer, schedule, loss scale and every RNG as they were saved; several
    processes: dropout seeds of their own from the checkpoint's step on."""
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    scaler.load_state_dict(ckpt["scaler"])
    set_rng_state(ckpt["rng"])
    if d.enabled:
        dist.seed_rank(seed, d, ckpt["step"])


def remove_checkpoint(path) -> None:
    """A finished run's checkpoint (and its folder, once empty)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    if path.parent.is_dir() and not any(path.parent.iterdir()):
        path.parent.rmdir()
