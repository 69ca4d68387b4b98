"""The run folder of `nlplab lm train` and how it is read back.

    RUN/config.yaml     the full LMConfig           RUN/vocab.json   tokens in id order, roles, fingerprint
    RUN/checkpoint.pt   latest state, for --resume  RUN/model.pt     best weights (by valid perplexity)
    RUN/tokenizer/      the subword folder (--encoder subword), so the run is self-contained
    RUN/metrics.jsonl   one record per log/eval     RUN/metrics.json final summary
    RUN/train.log       RUN/tb/ (TensorBoard)       RUN/environment.json  versions, git, device
    RUN/mlruns/, RUN/tracking.json  with --tracking mlflow (nlplab/runlog.py)

Both .pt files hold only tensors and plain Python values, so they load with
torch.load(weights_only=True); checkpoint.pt is the format of every training command
(nlplab/training/checkpoint.py), with the vocabulary's fingerprint and the carried LSTM
states of stream mode as the biLM's own keys.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import torch
import yaml

from nlplab import NlplabError
from nlplab.lm.config import LMConfig
from nlplab.lm.model import BiLM, BiLMConfig
from nlplab.lm.vocab import TextTokenizer, Vocab
from nlplab.training.checkpoint import save_atomic

CHECKPOINT, MODEL, VOCAB, TOKENIZER = "checkpoint.pt", "model.pt", "vocab.json", "tokenizer"


def load_pt(path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise NlplabError(f"{path}: not found; is this a run folder from `nlplab lm train`?") from None
    except Exception as e:
        raise NlplabError(f"{path}: cannot be read ({type(e).__name__}: {str(e)[:120]}); the file is damaged") from None


def check_vocab(where, expected: str, vocab: Vocab, fix: str) -> None:
    if vocab.fingerprint() != expected:
        raise NlplabError(f"{where}: the vocabulary ({vocab.kind}, {len(vocab):,} entries, fingerprint {vocab.fingerprint()}) "
                          f"does not match the checkpoint's (fingerprint {expected}); {fix}")


def save_model(run: Path, model: BiLM, vocab: Vocab, step: int) -> None:
    save_atomic({"bilm": dataclasses.asdict(model.cfg), "model": model.state_dict(), "vocab": vocab.fingerprint(),
             "step": step}, run / MODEL)


def load_text(run) -> tuple[LMConfig, Vocab, TextTokenizer]:
    """The config, vocabulary and tokenizer of a run folder (no weights), checked against each other."""
    run = Path(run)
    if not (run / "config.yaml").is_file():
        raise NlplabError(f"{run}: not a run folder of `nlplab lm train` (no config.yaml)")
    cfg = LMConfig(**yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8")))
    vocab = Vocab.load(run / VOCAB)
    subword = run / TOKENIZER if cfg.encoder == "subword" else None
    tokenizer = TextTokenizer(cfg.clean, cfg.pretokenize, subword)
    if subword is not None:
        check_vocab(subword, vocab.fingerprint(), Vocab.from_subword(tokenizer.subword),
                    f"{run}/{TOKENIZER} was changed; copy back the folder the run was trained with")
    return cfg, vocab, tokenizer


def load_run(run, device=None) -> SimpleNamespace:
    """config, vocabulary, tokenizer and best model of a run folder, checked against each other."""
    run = Path(run)
    cfg, vocab, tokenizer = load_text(run)
    if not (run / MODEL).is_file() and (run / CHECKPOINT).is_file():
        raise NlplabError(f"{run}: no {MODEL} yet (best weights come with the first validation, or at the end "
                          "without --valid); "
                          f"continue it with `nlplab lm train -o {run} --resume`")
    saved = load_pt(run / MODEL)
    check_vocab(run / VOCAB, saved["vocab"], vocab, f"{run}/{VOCAB} was changed; restore it from the training run")
    model = BiLM(BiLMConfig(**saved["bilm"]))
    model.load_state_dict(saved["model"])
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(device).eval()
    model.vocab, model.tokenizer, model.lm_config, model.run = vocab, tokenizer, cfg, run
    return SimpleNamespace(cfg=cfg, vocab=vocab, tokenizer=tokenizer, model=model, device=device, step=saved["step"])
