"""`nlplab pretrain fill RUN TEXT`: the top-k fillers of each [MASK], from a pretraining run's
masked LM (ELECTRA: its generator; the discriminator only tells replaced from original).

    nlplab pretrain fill runs/ko-mlm "이 영화 정말 [MASK]" --top-k 5

The text is prepared as at training (the subword folder's cleaning and Mecab pre-split),
around the masks, so "[MASK]" itself is never split.
"""

from __future__ import annotations

from pathlib import Path

import torch

from nlplab import NlplabError
from nlplab.subword.load import load_tokenizer, text_prep


def fill(run: str, text: str, top_k: int = 5) -> dict:
    """{"text": the model's input, "masks": [[{token, piece, id, p}, ...] per mask]}."""
    from transformers import AutoModelForMaskedLM
    from transformers.utils import logging as hf_logging

    from nlplab.pretrain.train import GENERATOR

    hf_logging.disable_progress_bar()  # "Loading weights" would come before the answer

    folder = Path(run) / GENERATOR if (Path(run) / GENERATOR / "config.json").is_file() else Path(run)
    if not (folder / "config.json").is_file():
        raise NlplabError(f"{run}: no config.json; give a finished `nlplab pretrain` run folder")
    if top_k < 1:
        raise NlplabError(f"--top-k must be at least 1, got {top_k}")
    tokenizer, prepare = load_tokenizer(str(folder)), text_prep(folder)
    mask = tokenizer.mask_token
    if mask is None or mask not in text:
        raise NlplabError(f"the text has no {mask or '[MASK]'}; put one where a token should be filled in")
    if prepare is not None:  # prepare the pieces between the masks, never the mask token itself
        text = f" {mask} ".join(prepare(piece) for piece in text.split(mask)).strip()
    model = AutoModelForMaskedLM.from_pretrained(str(folder)).eval()
    enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=model.config.max_position_embeddings)
    with torch.no_grad():
        logits = model(**enc).logits[0]  # (T, V)
    where = (enc["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten().tolist()
    masks = []
    for pos in where:
        p = torch.softmax(logits[pos].float(), -1)
        top = torch.topk(p, min(top_k, len(p)))
        masks.append([{"token": tokenizer.decode([i]).strip(), "piece": tokenizer.convert_ids_to_tokens(i), "id": i,
                       "p": float(v)} for v, i in zip(top.values.tolist(), top.indices.tolist())])
    return {"text": text, "masks": masks}
