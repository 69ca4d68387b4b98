"""ELMo as ELMo was used (Peters et al. 2018, section 3.3): a task model over a frozen biLM.

    nlplab lm train corpus.txt --valid valid.txt -o runs/lm --preset small --mode sentence
    nlplab finetune --task SST-2 --data-dir ../shared/data/glue --model bilm:runs/lm -o runs/sst2-elmo
    nlplab finetune --task SST-2 --data-dir ../shared/data/glue --model bilstm:runs/lm -o runs/sst2-bilstm

    biLM layers (L+1, B, T, 2P), cached ----> scalar mix: gamma * sum_k softmax(w)_k * LN?(layer_k), dropout
    [word embeddings; mix] (B, T, E + 2P) --> BiLSTM (B, T, 2H) [; a second mix: --elmo input+output]
    single sentence: pool (max, or self-attentive) -> MLP -> logits
    pair: each side alone, [optional cross-attention], pool -> [u; v; |u - v|; u * v] -> MLP

The head is the GLUE paper's baseline (Wang et al. 2019: a BiLSTM with max-pooling, pairs
combined as InferSent does, Conneau et al. 2017), with ELMo at its input or at input and
output as in ELMo's section 3.3. `bilstm:LM_RUN` is the control: the same head over randomly
initialised word embeddings of the LM run's vocabulary, no biLM. The biLM is frozen, so its
layers come precomputed in each batch (`features`, nlplab/finetune/elmo_data.py) and the
mix and head alone train. The run folder holds the head's weights (model.safetensors) and
config.json, which names the LM run and its fingerprints; loading checks them.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nlplab import NlplabError
from nlplab.io import atomic_output
from nlplab.lm.embed import ScalarMix

CONFIG_KEY = "nlplab_elmo"  # config.json of an ELMo task model holds it (an HF config.json does not)
DEFAULT_DROPOUT = 0.2  # the head's dropout when --dropout is not given


@dataclass
class HeadConfig:
    kind: str  # bilm | bilstm
    vocab_size: int
    pad_id: int
    num_labels: int  # 1: regression
    pair: bool = False
    elmo_layers: int = 0  # bilm: L + 1
    elmo_dim: int = 0  # bilm: 2P
    elmo: str = "input"  # input | input+output
    layer_norm: bool = False
    elmo_dropout: float = 0.5
    word_dim: int = 128
    lstm_dim: int = 256
    lstm_layers: int = 1
    pool: str = "max"
    cross_attention: bool = False
    mlp_dim: int = 256
    dropout: float = DEFAULT_DROPOUT
    id2label: dict = field(default_factory=dict)


def head_config(cfg, tokenizer, t, pair: bool) -> HeadConfig:
    """The head for fine-tuning config `cfg` over the tokenizer's LM run, for task t (pair: two texts)."""
    bilm = tokenizer.lm.bilm
    id2label = {"0": "score"} if t.regression else {str(i): v for i, v in enumerate(t.labels)}
    return HeadConfig(kind=tokenizer.lm.kind, vocab_size=len(tokenizer), pad_id=tokenizer.pad_token_id,
                      num_labels=1 if t.regression else len(t.labels), pair=pair,
                      elmo_layers=bilm.cfg.layers + 1 if bilm is not None else 0,
                      elmo_dim=2 * bilm.cfg.proj_dim if bilm is not None else 0,
                      elmo=cfg.elmo, layer_norm=cfg.elmo_layer_norm, elmo_dropout=cfg.elmo_dropout,
                      word_dim=cfg.word_dim, lstm_dim=cfg.lstm_dim, lstm_layers=cfg.lstm_layers, pool=cfg.pool,
                      cross_attention=cfg.cross_attention, mlp_dim=cfg.mlp_dim,
                      dropout=DEFAULT_DROPOUT if cfg.dropout is None else cfg.dropout, id2label=id2label)


@dataclass
class Output:
    loss: torch.Tensor | None
    logits: torch.Tensor  # (B, C)


def combine(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """[u; v; |u - v|; u * v] (InferSent): (B, D) x 2 -> (B, 4D)."""
    return torch.cat([u, v, (u - v).abs(), u * v], -1)


def split_pair(mask: torch.Tensor, types: torch.Tensor, *tensors: torch.Tensor):
    """Rows holding side a then side b (token type 0, then 1) -> each side on its own, from
    column 0: [(tensors (B, Ts, D) zero past the side's end, mask (B, Ts))] for a, then b."""
    B, T = mask.shape
    la = (mask & (types == 0)).sum(1)  # (B,)
    lb = mask.sum(1) - la
    out = []
    for start, n in ((torch.zeros_like(la), la), (la, lb)):
        pos = torch.arange(int(n.max()), device=mask.device)
        keep = pos[None] < n[:, None]  # (B, Ts)
        idx = (start[:, None] + pos[None]).clamp(max=T - 1)
        sides = [x.gather(1, idx[..., None].expand(-1, -1, x.size(-1))) * keep[..., None] for x in tensors]
        out.append((sides, keep))
    return out


class TaskModel(nn.Module):
    """Scalar mix(es) of the biLM layers (bilm) and word embeddings -> BiLSTM -> pool -> MLP."""

    def __init__(self, cfg: HeadConfig):
        super().__init__()
        self.config = cfg  # `config.num_labels`, as fine-tuning reads it off an HF model
        elmo = cfg.kind == "bilm"
        self.embed = nn.Embedding(cfg.vocab_size, cfg.word_dim, padding_idx=cfg.pad_id) if cfg.word_dim else None
        self.mix_in = ScalarMix(cfg.elmo_layers, cfg.layer_norm) if elmo else None
        self.mix_out = ScalarMix(cfg.elmo_layers, cfg.layer_norm) if elmo and cfg.elmo == "input+output" else None
        self.drop_elmo, self.drop = nn.Dropout(cfg.elmo_dropout), nn.Dropout(cfg.dropout)
        self.lstm = nn.LSTM(cfg.word_dim + (cfg.elmo_dim if elmo else 0), cfg.lstm_dim, num_layers=cfg.lstm_layers,
                            bidirectional=True, batch_first=True, dropout=cfg.dropout if cfg.lstm_layers > 1 else 0.0)
        dim = 2 * cfg.lstm_dim + (cfg.elmo_dim if self.mix_out is not None else 0)  # D: one position's state
        self.cross = nn.Sequential(nn.Linear(4 * dim, dim), nn.ReLU()) if cfg.pair and cfg.cross_attention else None
        self.attend = nn.Sequential(nn.Linear(dim, dim // 2), nn.Tanh(), nn.Linear(dim // 2, 1)) \
            if cfg.pool == "attention" else None  # Lin et al. 2017, one head
        rep = 4 * dim if cfg.pair else dim
        self.classifier = nn.Sequential(nn.Linear(rep, cfg.mlp_dim), nn.ReLU(), nn.Dropout(cfg.dropout),
                                        nn.Linear(cfg.mlp_dim, cfg.num_labels)) if cfg.mlp_dim \
            else nn.Linear(rep, cfg.num_labels)

    def forward(self, input_ids, attention_mask, token_type_ids=None, features=None, labels=None) -> Output:
        cfg, mask = self.config, attention_mask.bool()
        x, out_elmo = [], None
        if self.embed is not None:
            x.append(self.embed(input_ids))  # (B, T, E)
        if self.mix_in is not None:
            if features is None:
                raise NlplabError("a bilm task model needs the biLM's layers in each batch (features)")
            layers = features.float().movedim(2, 0)  # (L+1, B, T, 2P)
            x.append(self.drop_elmo(self.mix_in(layers)))  # (B, T, 2P)
            if self.mix_out is not None:
                out_elmo = self.drop_elmo(self.mix_out(layers))
        x = torch.cat(x, -1)  # (B, T, E [+ 2P])
        extra = [out_elmo] if out_elmo is not None else []
        if not cfg.pair:
            rep = self.pool(self.encode(x, mask, *extra), mask)  # (B, D)
        else:
            (a, ma), (b, mb) = split_pair(mask, token_type_ids, x, *extra)
            ha, hb = self.encode(a[0], ma, *a[1:]), self.encode(b[0], mb, *b[1:])  # (B, Ta, D), (B, Tb, D)
            if self.cross is not None:
                ha, hb = self.cross_attend(ha, ma, hb, mb)
            rep = combine(self.pool(ha, ma), self.pool(hb, mb))  # (B, 4D)
        logits = self.classifier(rep)  # (B, C)
        loss = None
        if labels is not None:
            loss = F.mse_loss(logits[:, 0].float(), labels.float()) if cfg.num_labels == 1 \
                else F.cross_entropy(logits.float(), labels)
        return Output(loss, logits)

    def encode(self, x, mask, out_elmo=None):
        """(B, T, in) -> BiLSTM states (B, T, D), each row read to its own end (packed)."""
        lengths = mask.sum(1).cpu()
        packed = pack_padded_sequence(self.drop(x), lengths, batch_first=True, enforce_sorted=False)
        h, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=x.size(1))  # (B, T, 2H)
        if out_elmo is not None:  # ELMo at the output too: [h_k; ELMo_k] (section 3.3)
            h = torch.cat([h, out_elmo], -1)
        return self.drop(h)

    def cross_attend(self, ha, ma, hb, mb):
        """ESIM-lite (Chen et al. 2017 without its second BiLSTM): each position attends to the
        other side, then [h; h~; h - h~; h * h~] is projected back to D."""
        e = ha @ hb.transpose(1, 2)  # (B, Ta, Tb)
        a_ctx = e.masked_fill(~mb[:, None], float("-inf")).softmax(-1) @ hb  # (B, Ta, D)
        b_ctx = e.transpose(1, 2).masked_fill(~ma[:, None], float("-inf")).softmax(-1) @ ha  # (B, Tb, D)
        return (self.cross(torch.cat([ha, a_ctx, ha - a_ctx, ha * a_ctx], -1)),
                self.cross(torch.cat([hb, b_ctx, hb - b_ctx, hb * b_ctx], -1)))

    def pool(self, h, mask):
        """(B, T, D) -> (B, D) over the real positions: max, or attention weights."""
        if self.attend is None:
            return h.masked_fill(~mask[..., None], float("-inf")).max(1).values
        scores = self.attend(h).squeeze(-1).masked_fill(~mask, float("-inf"))  # (B, T)
        return (scores.softmax(-1)[..., None] * h).sum(1)

    def save_pretrained(self, folder, lm_record: dict | None = None) -> None:
        """model.safetensors (the mix and the head; no biLM weight) and config.json."""
        from safetensors.torch import save

        folder = Path(folder)
        record = lm_record or self.lm_record
        with atomic_output(str(folder / "model.safetensors"), "wb") as f:
            f.write(save({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}))
        conf = {CONFIG_KEY: 1, "head": dataclasses.asdict(self.config), "lm": record,
                "num_labels": self.config.num_labels, "id2label": self.config.id2label}
        with atomic_output(str(folder / "config.json"), "w", "utf-8") as f:
            f.write(json.dumps(conf, indent=1) + "\n")


def build(cfg, tokenizer, t, pair: bool, run_folder) -> TaskModel:
    model = TaskModel(head_config(cfg, tokenizer, t, pair))
    model.lm_record = tokenizer.lm.record(run_folder)  # what config.json keeps to find the LM run again
    return model


def is_task_model(folder) -> bool:
    """Whether a run folder's config.json is an ELMo task model's."""
    path = Path(folder) / "config.json"
    try:
        return CONFIG_KEY in json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def load(folder, device=None):
    """(model, Tokenizer) of a finished run folder, its LM run found and checked (one-line errors)."""
    from safetensors.torch import load_file

    from nlplab.finetune.elmo_data import Tokenizer, load_recorded

    folder = Path(folder)
    conf = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    lm = load_recorded(conf["lm"], folder, device)
    model = TaskModel(HeadConfig(**conf["head"]))
    model.lm_record = conf["lm"]
    model.load_state_dict(load_file(folder / "model.safetensors"))
    return model.to(device or "cpu").eval(), Tokenizer(lm)
