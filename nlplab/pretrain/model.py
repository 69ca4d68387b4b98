"""The pretraining models: BERT's masked LM and ELECTRA's replaced-token detection, built on
HF modules so that the folder they save loads with AutoModelForMaskedLM /
AutoModelForPreTraining and fine-tunes with `nlplab finetune --model RUN`.

    from nlplab.pretrain import model
    m = model.build("mlm", model.size("mini"), tokenizer, max_length=128)
    loss_sum, stats = m(inputs, labels)                  # sums over this rank's masked tokens

Masked-only head: HF's BertForMaskedLM projects every position onto the vocabulary, (B, T, V),
though only the ~15% masked positions have a label. Here the encoder's rows at masked
positions are gathered first, (M, H), and only they go through the prediction head: the
same loss and gradients (tested), a sixth of the vocabulary projection's work.

ELECTRA (Clark et al. 2020): a generator (an MLM, hidden size 1/4 of the discriminator's)
fills the masked positions with tokens sampled from its softmax; the discriminator labels
every token original or replaced. Both share the token, position and type embeddings (the
generator's output layer is tied to the shared word embeddings); the loss is generator MLM
+ 50 x discriminator; no gradient flows through the sampling. A sampled token equal to the
original counts as original (sec. 2). The discriminator is what is saved for fine-tuning.

Losses come back as sums, with their counts, so the training loop divides by the global
batch's counts: a loss that does not depend on how a batch is split across ranks.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

PRESETS = Path(__file__).resolve().parent.parent / "configs" / "pretrain.yaml"
OBJECTIVES = ("mlm", "electra")
DISCRIMINATOR_WEIGHT = 50.0  # lambda of the ELECTRA paper (sec. 2)


def sizes() -> dict[str, dict]:
    return yaml.safe_load(PRESETS.read_text(encoding="utf-8"))["sizes"]


def size(name: str) -> dict:
    from nlplab import NlplabError

    known = sizes()
    if name not in known:
        raise NlplabError(f"unknown size {name!r}; sizes: {', '.join(known)} (nlplab/configs/pretrain.yaml)")
    return known[name]


def _common(tokenizer, max_length: int, dropout: float | None) -> dict:
    extra = {} if dropout is None else {"hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout}
    return {"vocab_size": len(tokenizer), "max_position_embeddings": max(512, max_length),
            "pad_token_id": tokenizer.pad_token_id, "type_vocab_size": 2, **extra}


def build(objective: str, spec: dict, tokenizer, max_length: int, checkpoint: str | None = None,
          dropout: float | None = None) -> torch.nn.Module:
    """A fresh model of `spec` (a size preset), or `checkpoint` continued (MLM only: a BERT
    folder, domain-adaptive pretraining)."""
    from transformers import (
        BertConfig,
        BertForMaskedLM,
        ElectraConfig,
        ElectraForMaskedLM,
        ElectraForPreTraining,
    )

    if objective == "mlm":
        if checkpoint is not None:
            return MaskedLM(BertForMaskedLM.from_pretrained(checkpoint))
        h = spec["hidden"]
        cfg = BertConfig(hidden_size=h, num_hidden_layers=spec["layers"], num_attention_heads=max(1, h // 64),
                         intermediate_size=4 * h, **_common(tokenizer, max_length, dropout))
        return MaskedLM(BertForMaskedLM(cfg))
    h, e = spec["hidden"], spec.get("embedding", spec["hidden"])
    g = max(64, h // spec.get("generator_divisor", 4))
    disc = ElectraForPreTraining(ElectraConfig(
        embedding_size=e, hidden_size=h, num_hidden_layers=spec["layers"], num_attention_heads=max(1, h // 64),
        intermediate_size=4 * h, **_common(tokenizer, max_length, dropout)))
    gen = ElectraForMaskedLM(ElectraConfig(
        embedding_size=e, hidden_size=g, num_hidden_layers=spec["layers"], num_attention_heads=max(1, g // 64),
        intermediate_size=4 * g, **_common(tokenizer, max_length, dropout)))
    return Electra(gen, disc)


def masked_ce(head, hidden: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss sum, correct count, logits) over the masked positions only: rows gathered, then the head."""
    sel = labels != -100
    logits = head(hidden[sel])  # (M, V)
    target = labels[sel]
    loss = F.cross_entropy(logits.float(), target, reduction="sum")
    return loss, (logits.argmax(-1) == target).sum(), logits


class MaskedLM(torch.nn.Module):
    def __init__(self, mlm):
        super().__init__()
        self.mlm = mlm

    def forward(self, inputs: torch.Tensor, labels: torch.Tensor, **_) -> tuple[torch.Tensor, dict]:
        hidden = self.mlm.bert(input_ids=inputs).last_hidden_state  # (B, T, H)
        loss, correct, _ = masked_ce(self.mlm.cls, hidden, labels)
        return loss, {"mlm_loss_sum": loss.detach(), "masked": (labels != -100).sum(), "correct": correct}

    def for_finetuning(self):
        """The module whose save_pretrained folder is the run's model."""
        return self.mlm


class Electra(torch.nn.Module):
    def __init__(self, generator, discriminator):
        super().__init__()
        generator.electra.embeddings = discriminator.electra.embeddings  # token, position, type: shared
        generator.generator_lm_head.weight = discriminator.electra.embeddings.word_embeddings.weight
        self.generator, self.discriminator = generator, discriminator

    def forward(self, inputs: torch.Tensor, labels: torch.Tensor, original: torch.Tensor, uniform: torch.Tensor,
                **_) -> tuple[torch.Tensor, dict]:
        """`uniform`: one U(0, 1) draw per masked position of this rank's rows (row-major), cut
        from the global batch's draws: the sampled replacements do not depend on the split."""
        g = self.generator
        hidden = g.electra(input_ids=inputs).last_hidden_state  # (B, T, G)
        head = lambda x: g.generator_lm_head(g.generator_predictions(x))  # noqa: E731
        g_loss, correct, logits = masked_ce(head, hidden, labels)
        with torch.no_grad():  # inverse-CDF sampling from the generator: no gradient through it
            cdf = torch.cumsum(torch.softmax(logits.float(), dim=-1), dim=-1)  # (M, V)
            sampled = torch.searchsorted(cdf, uniform.to(cdf.device).unsqueeze(-1)).squeeze(-1).clamp_(max=cdf.shape[1] - 1)
            corrupt = original.clone()
            corrupt[labels != -100] = sampled
            replaced = (corrupt != original).float()  # (B, T)
        d_logits = self.discriminator(input_ids=corrupt).logits  # (B, T)
        d_loss = F.binary_cross_entropy_with_logits(d_logits.float(), replaced, reduction="sum")
        return g_loss, {"mlm_loss_sum": g_loss.detach(), "masked": (labels != -100).sum(), "correct": correct,
                        "disc_loss_sum": d_loss, "tokens": torch.tensor(replaced.numel()),
                        "replaced": replaced.sum(), "disc_correct": ((d_logits > 0).float() == replaced).sum(),
                        "disc_logits": d_logits.detach(), "disc_labels": replaced}

    def for_finetuning(self):
        return self.discriminator


def auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """ROC AUC of scores for binary labels (the Mann-Whitney U statistic, ties averaged)."""
    s, y = scores.flatten().double(), labels.flatten().bool()
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    order = torch.argsort(s)
    ranks = torch.empty_like(s)
    ranks[order] = torch.arange(1, len(s) + 1, dtype=s.dtype)
    sorted_s = s[order]
    # average the ranks of tied scores
    uniq, inverse, counts = torch.unique_consecutive(sorted_s, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    avg = ends - (counts.double() - 1) / 2
    ranks[order] = avg[inverse]
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))
