"""ELMo's bidirectional language model (Peters et al. 2018, "Deep contextualized word
representations", section 3; the bilm-tf implementation) on modern PyTorch.

    token encoder (char CNN or embedding table) -> (B, T, P)
      forward LSTMP stack over the tokens, left to right   -> predicts the next token
      backward LSTMP stack over the tokens, right to left  -> predicts the previous token
    one softmax shared by both directions (optionally tied to the embedding table)

Each LSTM layer is nn.LSTM with proj_size (LSTMP: H cells projected to P, cuDNN on a GPU),
with a residual connection from the second layer on, as ELMo's skip connections.
loss = (forward NLL + backward NLL) / 2 per token; perplexity is reported per direction.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from nlplab.lm.data import IGNORE, reverse_padded
from nlplab.lm.vocab import N_CHARS

# On the CPU, LSTMP runs PyTorch's own kernel instead of oneDNN's, and says so on every
# run; that kernel is the one we want, so the notice is noise.
warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")


@dataclass
class BiLMConfig:
    vocab_size: int
    encoder: str = "char"  # char | embedding
    proj_dim: int = 128
    hidden_dim: int = 1024
    layers: int = 2
    dropout: float = 0.1
    variational: bool = False  # one dropout mask per sequence, the same at every position
    char_dim: int = 16
    char_filters: list = field(default_factory=lambda: [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]])
    highway: int = 1
    max_chars: int = 50
    tie: bool = False
    softmax: str = "full"  # full | adaptive
    cutoffs: list = field(default_factory=list)
    pad_id: int = 0


class Highway(nn.Module):
    """y = g * x + (1 - g) * relu(W x), g = sigmoid(W_g x) (Srivastava et al. 2015), as in ELMo."""

    def __init__(self, dim: int, layers: int):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(dim, 2 * dim) for _ in range(layers))
        for lin in self.layers:
            nn.init.constant_(lin.bias[dim:], 1.0)  # carry the input at the start (bilm-tf's gate bias)

    def forward(self, x):
        for lin in self.layers:
            h, gate = lin(x).chunk(2, dim=-1)
            g = torch.sigmoid(gate)
            x = g * x + (1 - g) * F.relu(h)
        return x


class CharCNN(nn.Module):
    """Token -> vector from its bytes: embeddings, convolutions of several widths with
    max-pooling over positions, highway layers, a projection to P (ELMo, section 3.4)."""

    def __init__(self, cfg: BiLMConfig):
        super().__init__()
        self.embed = nn.Embedding(N_CHARS, cfg.char_dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(cfg.char_dim, n, w) for w, n in cfg.char_filters)
        total = sum(n for _, n in cfg.char_filters)
        self.highway = Highway(total, cfg.highway)
        self.proj = nn.Linear(total, cfg.proj_dim)

    def forward(self, chars):  # (B, T, C)
        B, T, C = chars.shape
        x = self.embed(chars.view(B * T, C)).transpose(1, 2)  # (B*T, char_dim, C)
        x = torch.cat([F.relu(conv(x)).max(dim=-1).values for conv in self.convs], dim=-1)  # (B*T, filters)
        return self.proj(self.highway(x)).view(B, T, -1)  # (B, T, P)


class LockedDropout(nn.Module):
    """Variational dropout (Gal & Ghahramani 2016): one mask per sequence and feature, the
    same at every position of (B, T, D). nn.Dropout draws a new mask at every position."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or not self.p:
            return x
        mask = x.new_empty(x.size(0), 1, x.size(2)).bernoulli_(1 - self.p).div_(1 - self.p)
        return x * mask


def dropout(cfg: BiLMConfig) -> nn.Module:
    return LockedDropout(cfg.dropout) if cfg.variational else nn.Dropout(cfg.dropout)


class LSTMStack(nn.Module):
    """One direction: layers of LSTMP, dropout between them, residual from layer 2 on."""

    def __init__(self, cfg: BiLMConfig):
        super().__init__()
        self.layers = nn.ModuleList(nn.LSTM(cfg.proj_dim, cfg.hidden_dim, proj_size=cfg.proj_dim, batch_first=True)
                                    for _ in range(cfg.layers))
        self.drop = dropout(cfg)

    def forward(self, x, state=None):
        """x (B, T, P) -> every layer's output (B, T, P) and the final (h, c) of each layer."""
        outputs, new_state = [], []
        for i, lstm in enumerate(self.layers):
            y, s = lstm(x, None if state is None else state[i])
            if i:
                y = y + x  # residual connection (ELMo's skip connection between LSTM layers)
            outputs.append(y)
            new_state.append(s)
            x = self.drop(y)
        return outputs, new_state


class BiLM(nn.Module):
    def __init__(self, cfg: BiLMConfig):
        super().__init__()
        self.cfg = cfg
        self.unique_tokens = True  # see encode()
        if cfg.encoder == "char":
            self.encoder = CharCNN(cfg)
        else:
            self.encoder = nn.Embedding(cfg.vocab_size, cfg.proj_dim, padding_idx=cfg.pad_id)
            nn.init.uniform_(self.encoder.weight, -0.1, 0.1)  # N(0, 1) is far too large for a tied softmax
        self.forward_lm, self.backward_lm = LSTMStack(cfg), LSTMStack(cfg)
        self.drop = dropout(cfg)
        if cfg.softmax == "adaptive":
            # tail cluster i projects to P // div**i dimensions: keep at least one
            div = 4.0
            while cfg.proj_dim // div ** len(cfg.cutoffs) < 1:
                div /= 2
            self.softmax = nn.AdaptiveLogSoftmaxWithLoss(cfg.proj_dim, cfg.vocab_size, cfg.cutoffs, div_value=div)
        else:
            self.softmax = nn.Linear(cfg.proj_dim, cfg.vocab_size)
            nn.init.uniform_(self.softmax.weight, -0.1, 0.1)
            nn.init.zeros_(self.softmax.bias)
            if cfg.tie:
                self.softmax.weight = self.encoder.weight  # Press & Wolf 2017; one parameter

    def forward(self, fwd_in, fwd_tgt, bwd_in, bwd_tgt, state=None):
        """Per-token NLL of both directions, (B, t) each (0 where the target is padding),
        and the LSTM states to carry to the next window. bwd_in is already reversed."""
        B = fwd_tgt.size(0)
        x = self.drop(self.encode(torch.cat([fwd_in, bwd_in])))  # (2B, t, P): the encoder runs once
        fwd_state, bwd_state = state if state is not None else (None, None)
        hf, fwd_state = self.forward_lm(x[:B], fwd_state)
        hb, bwd_state = self.backward_lm(x[B:], bwd_state)
        h = self.drop(torch.cat([hf[-1], hb[-1]]))  # (2B, t, P): one softmax for both directions
        nll = self.nll(h, torch.cat([fwd_tgt, bwd_tgt]))
        return nll[:B], nll[B:], (fwd_state, bwd_state)

    def encode(self, tokens):
        """Token encoder output (..., P). The char CNN runs once per distinct token of the
        batch and its rows are gathered back: a window's forward and backward inputs share all
        tokens but one, and words repeat (a 128 x 20 PTB window pair holds ~1,670 distinct
        tokens in 5,120 positions). The same vectors and gradients as running it at every
        position; `unique_tokens = False` runs it at every position."""
        if self.cfg.encoder != "char" or not self.unique_tokens:
            return self.encoder(tokens)
        flat = tokens.reshape(-1, tokens.size(-1))  # (N, max_chars)
        distinct, where = torch.unique(flat, dim=0, return_inverse=True)
        return self.encoder(distinct.unsqueeze(0)).squeeze(0)[where].view(*tokens.shape[:-1], -1)

    def nll(self, h, targets):
        """-log p(target) for h (N, t, P), targets (N, t); 0 at IGNORE targets."""
        flat, tgt = h.reshape(-1, h.size(-1)), targets.reshape(-1)
        if self.cfg.softmax == "full":
            logits = self.softmax(flat).float()  # the softmax in float32 under bf16 autocast
            return F.cross_entropy(logits, tgt, ignore_index=IGNORE, reduction="none").view_as(targets)
        keep = tgt != IGNORE  # the adaptive softmax has no ignore_index
        if not keep.any():  # nothing to predict (a rank's empty share of a batch): zeros, still in the graph
            return (flat.sum() * 0.0).float().expand(tgt.shape).reshape(targets.shape)
        out = torch.zeros(tgt.shape, dtype=torch.float32, device=h.device)
        out[keep] = -self.softmax(flat[keep].float(), tgt[keep]).output
        return out.view_as(targets)

    def log_probs(self, h):
        """log p(. | h) over the vocabulary: (..., V)."""
        if self.cfg.softmax == "full":
            return F.log_softmax(self.softmax(h).float(), dim=-1)
        return self.softmax.log_prob(h.reshape(-1, h.size(-1)).float()).view(*h.shape[:-1], -1)

    def contextual(self, inputs, lengths):
        """Whole padded sentences (<s> .. </s>) -> token encoder output (B, T, P) and each
        layer's forward and backward outputs, aligned to the input positions: forward[l][:, t]
        has read tokens 0..t, backward[l][:, t] has read tokens t..len-1."""
        x = self.encode(inputs)  # (B, T, P)
        fwd, _ = self.forward_lm(x)
        bwd, _ = self.backward_lm(reverse_padded(x, lengths))
        return x, fwd, [reverse_padded(b, lengths) for b in bwd]

    @classmethod
    def from_run(cls, run, device=None) -> BiLM:
        """The best weights of a run folder, ready for `.embed(sentences)`."""
        from nlplab.lm.checkpoint import load_run

        return load_run(run, device).model

    def embed(self, sentences, batch_size: int = 32):
        """ELMo representations of each sentence; see nlplab.lm.embed.embed."""
        from nlplab.lm.embed import embed

        return embed(self, sentences, batch_size)
