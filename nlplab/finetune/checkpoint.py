"""A fine-tuning run's checkpoint (RUN/checkpoint/last.pt) and the run-folder rules.

The checkpoint holds everything `nlplab finetune --resume` needs to go on exactly where
it stopped: weights, optimizer, scheduler and grad-scaler states, every RNG state, the
position in the data and the evaluation history. It is written at each evaluation and
every --save-every steps, by rank 0 only, and removed when the run finishes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch

from nlplab import NlplabError, io
from nlplab.finetune.config import FinetuneConfig

CHECKPOINT = Path("checkpoint") / "last.pt"


def save_checkpoint(path: Path, model, optimizer, scheduler, scaler, position: dict, state: dict) -> None:
    """Everything `--resume` needs: weights, optimizer/scheduler/scaler, RNG states, the
    position in the data (epoch, batches of it consumed) and the evaluation history."""
    rng = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
           "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(), "rng": rng, "position": position, "state": state}, tmp)
    tmp.replace(path)


def restore_rng(rng: dict) -> None:
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def check_run_folder(cfg: FinetuneConfig, out: Path, resume: bool) -> dict | None:
    """The checkpoint to resume from (None for a fresh run); a fresh run never overwrites
    another run unless --force, and --force only ever clears a fine-tuning run folder."""
    io.check_folder(str(out), [cfg.data_dir, cfg.train, cfg.dev, cfg.test])
    if resume:
        if not (out / CHECKPOINT).is_file():
            done = (out / "metrics.json").is_file() and json.loads((out / "metrics.json").read_text()).get("best")
            raise NlplabError(f"{out}: {'the run already finished' if done else 'no checkpoint to resume from'} "
                              f"({out / CHECKPOINT} missing); start a new run with a new -o folder")
        return torch.load(out / CHECKPOINT, weights_only=False)
    if out.exists() and any(out.iterdir()):
        if not cfg.force:
            raise NlplabError(f"{out}: already exists; choose a new -o folder, pass --resume to continue it "
                              "or --force to start it again")
        if not (out / "config.yaml").exists():
            raise NlplabError(f"{out}: not a fine-tuning run folder (no config.yaml); choose a new -o folder")
    return None
