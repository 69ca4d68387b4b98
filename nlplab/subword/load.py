"""How a model stage (fine-tuning, pretraining, serving) loads a tokenizer folder: the fast
HF tokenizer, the text preparation an nlplab subword folder was trained with, and both
saved beside the model so the run folder tokenizes as training did.

    tokenizer, prepare = load_tokenizer(folder), text_prep(folder)
    ids = tokenizer(prepare(text) if prepare else text)
    save_tokenizer(tokenizer, folder, run, prepare)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from nlplab import NlplabError


def text_prep(folder: str | Path):
    """The cleaning + morpheme pre-split an nlplab subword folder was trained with (its
    nlplab_subword.json), as text -> text; None for any other tokenizer. A tokenizer.json
    cannot call Mecab, so a morpheme-aware Korean vocabulary needs this before tokenizing,
    at fine-tuning time as at training time."""
    from nlplab.subword.train import META_FILE

    meta_path = Path(folder) / META_FILE
    if not meta_path.is_file():
        return None
    from types import SimpleNamespace

    from nlplab.subword.train import prepare_fn

    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    fn = prepare_fn(SimpleNamespace(lang=meta["lang"], pretokenize=meta["pretokenize"], clean=meta["clean"]))
    if fn is not None:
        fn.key = f"{meta['lang']}/{meta['pretokenize']}/{meta['clean']}"
    return fn


def load_tokenizer(path: str):
    """The fast tokenizer of a model or subword folder; anything else is a one-line error."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except Exception as e:
        raise NlplabError(f"{path}: could not load its tokenizer ({type(e).__name__}: {str(e)[:120]})") from None
    if not tokenizer.is_fast:
        raise NlplabError(f"{path}: only a slow tokenizer loads from it; fine-tuning needs a fast one (tokenizer.json)")
    if tokenizer.pad_token_id is None:
        raise NlplabError(f"{path}: the tokenizer has no pad token")
    return tokenizer


def save_tokenizer(tokenizer, path: str, out: Path, prepare) -> None:
    """The tokenizer into the run folder, with the subword folder's metadata when it pre-splits
    (text_prep's `prepare`): eval/predict from the run folder pre-split the text the same way."""
    from nlplab.subword.train import META_FILE

    tokenizer.save_pretrained(out)
    if prepare is not None:
        shutil.copy(Path(path) / META_FILE, out / META_FILE)
