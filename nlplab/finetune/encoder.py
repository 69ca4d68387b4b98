"""A BERT classifier's encoder without the rows nobody reads: padding and, in the last
layer, every row but [CLS].

Two independent savings, both giving the logits, loss and gradients of the stock model
(tested to float tolerance):

- **unpad**: between layers the hidden states are kept as the (N, hidden) rows of real
  tokens, not the (batch, T, hidden) padded grid, so the projections, feed-forward,
  LayerNorm and dropout skip the padding. Only attention goes back to the grid: Q, K and V
  (one fused projection) are scattered into it, attended under the padding mask, and the
  real rows gathered again. The idea of MLPerf's BERT and flash-attn's `unpad_input`.
- **cls_only**: BERT's pooler reads the [CLS] row of the last layer and nothing else, so
  that layer computes its query, attention output and feed-forward for [CLS] alone; keys
  and values still come from every token. flash-attn's `last_layer_subset`.

Dropout on a CPU draws its masks 16 bits a position from one int64 stream (`dropout`),
where torch's `bernoulli_` draws a double each and takes 8-10% of a 2-thread training step;
p is rounded to a multiple of 1/65536 and the scale is exact, so the output stays unbiased.
Attention on a CPU in training therefore runs as plain matrix products with that dropout
(torch's SDPA falls back to the same math there anyway). On a GPU both stay torch's.

With unpad, training can also skip the vocabulary rows a batch does not use:
`EmbeddingGrad` has backward give the word embeddings a sparse gradient (the batch's own
tokens) and writes it into a kept dense buffer for AdamW, zeroing only the rows the
previous step wrote, instead of zero-filling a fresh (vocab, hidden) tensor every step.

On MiniLM, 2 CPU threads, GLUE's length-grouped batches, the three together train 1.16-1.20x
as many samples/s as the stock forward in the same loop (BENCHMARKS.md, session 6).

    from nlplab.finetune import encoder
    encoder.enable(model)    # True when applied; False leaves the model as it was

Applied to `BertForSequenceClassification` (what `--model minilm`, `scratch` and BERT
checkpoints load as) with eager or SDPA attention, no cross-attention, chunked feed-forward
or gradient checkpointing, and no hidden states or attentions asked for; any other model
runs its own forward unchanged. Batches must be right-padded ([CLS] in column 0, as
nlplab's collate and HF tokenizers' default give); a left-padded batch goes through the
stock forward. The weights and what `save_pretrained` writes are untouched: only
`model.bert.forward` is replaced.
"""

from __future__ import annotations

import functools
import types

import torch
import torch.nn.functional as F

ATTENTION = ("sdpa", "eager")


def applies(model) -> bool:
    from transformers import BertForSequenceClassification

    if type(model) is not BertForSequenceClassification:  # any other model (the ELMo task model too): its own forward
        return False
    c = model.config
    return (model.bert.pooler is not None
            and c._attn_implementation in ATTENTION and not c.is_decoder and not c.add_cross_attention
            and not c.chunk_size_feed_forward and not c.output_hidden_states and not c.output_attentions
            and not any(getattr(layer, "gradient_checkpointing", False) for layer in model.bert.encoder.layer))


def unpad_on(unpad: bool, device) -> bool:
    """--unpad applies on the CPU. On a GPU the padded batch runs: unpad's host syncs (the
    `nonzero` of the mask every forward) and the sparse embedding gradient cost more there
    than the padding does (H200, session 7: 365 samples/s with unpad against 1,271 without,
    SST-2, BENCHMARKS.md)."""
    return unpad and torch.device(device).type == "cpu"


def enable(model, unpad: bool = True, cls_only: bool = True) -> bool:
    """Replace `model.bert.forward`; False (model untouched) when it does not apply or both are off."""
    if not (unpad or cls_only) or not applies(model):
        return False
    bert = model.bert
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.forward = types.MethodType(dropout_forward, module)
    bert._stock_forward = bert.forward
    bert.forward = types.MethodType(functools.partial(forward, unpad=unpad, cls_only=cls_only), bert)
    return True


def setup(model, cfg, device, distributed: bool):
    """--unpad and --cls-only on a fresh model: (the EmbeddingGrad to call before each
    optimizer step, or None; what the log says the encoder runs on)."""
    unpad = unpad_on(cfg.unpad, device)
    if not enable(model, unpad, cfg.cls_only):
        return None, "the stock forward"
    # the word embeddings' gradient covers the batch's tokens only (one process, eager)
    grad = EmbeddingGrad(model) if unpad and not (distributed or cfg.compile) else None
    return grad, f"{'real tokens' if unpad else 'padded batches'}, last layer on {'[CLS] only' if cfg.cls_only else 'every token'}"


def forward(bert, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
            *, unpad: bool, cls_only: bool, **kwargs):
    """BertModel.forward returning the pooled [CLS] vector; `last_hidden_state` holds the
    last layer's [CLS] rows only, (batch, 1, hidden)."""
    from transformers.modeling_outputs import BaseModelOutputWithPoolingAndCrossAttentions

    ids_or_embeds = input_ids if input_ids is not None else inputs_embeds
    b, t = ids_or_embeds.shape[:2]
    keep = (torch.ones(b, t, dtype=torch.bool, device=ids_or_embeds.device) if attention_mask is None
            else attention_mask.bool())
    if not bool(keep[:, 0].all()):  # left padding: column 0 is not [CLS] everywhere
        return bert._stock_forward(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                   position_ids=position_ids, inputs_embeds=inputs_embeds, **kwargs)
    x = bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids,
                        inputs_embeds=inputs_embeds)
    hidden = x.shape[-1]
    # rows: where each real token sits in the flattened (b * t) grid (None: every cell is a row);
    # cls: where the [CLS] rows sit among the rows
    x = x.reshape(b * t, hidden)
    if unpad:
        rows = keep.flatten().nonzero().squeeze(1)
        x = x.index_select(0, rows)
        lengths = keep.sum(1)
        cls = torch.cumsum(lengths, 0) - lengths
    else:
        rows, cls = None, torch.arange(0, b * t, t, device=x.device)
    # the padding mask as SDPA takes it (True: attend) and as a term added to the scores
    mask = (keep[:, None, None, :], torch.zeros(b, 1, 1, t, dtype=x.dtype, device=x.device).masked_fill(
        ~keep[:, None, None, :], torch.finfo(x.dtype).min))
    layers = bert.encoder.layer
    for i, layer in enumerate(layers):
        last = cls_only and i == len(layers) - 1
        x = layer_forward(layer, x, (b, t, rows), mask, cls if last else None)
    if not (cls_only and len(layers)):
        x = x.index_select(0, cls)
    pooled = bert.pooler.activation(bert.pooler.dense(x))
    return BaseModelOutputWithPoolingAndCrossAttentions(last_hidden_state=x[:, None], pooler_output=pooled)


def layer_forward(layer, x, grid, mask, cls=None):
    """One BertLayer on rows x (N, hidden). With `cls` (the [CLS] rows' indices in x), only
    those rows get a query and an output: (batch, hidden)."""
    sa = layer.attention.self
    b, t, rows = grid
    heads, size = sa.num_attention_heads, sa.attention_head_size
    projections = (sa.key, sa.value) if cls is not None else (sa.query, sa.key, sa.value)
    weight = torch.cat([p.weight for p in projections])  # one matrix product for all of them
    bias = torch.cat([p.bias for p in projections])
    fused = F.linear(x, weight, bias)
    padded = fused if rows is None else fused.new_zeros(b * t, fused.shape[1]).index_copy(0, rows, fused)
    parts = padded.view(b, t, len(projections), heads, size).permute(2, 0, 3, 1, 4).unbind(0)  # (b, heads, t, size)
    if cls is None:
        q, k, v = parts
        residual = x
    else:
        k, v = parts
        residual = x.index_select(0, cls)
        q = sa.query(residual).view(b, 1, heads, size).transpose(1, 2)
    out = attend(sa, q, k, v, mask).transpose(1, 2).reshape(b * q.shape[2], -1)
    if cls is None and rows is not None:
        out = out.index_select(0, rows)
    attention_output = layer.attention.output(out, residual)
    return layer.output(layer.intermediate(attention_output), attention_output)


def attend(sa, q, k, v, mask):
    p = sa.dropout.p if sa.training else 0.0
    if sa.config._attn_implementation == "sdpa" and not (p and q.device.type == "cpu"):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask[0], dropout_p=p, scale=sa.scaling)
    # eager, and CPU training with dropout: the math SDPA would run there, with the fast dropout
    weights = torch.matmul(q, k.transpose(2, 3)) * sa.scaling + mask[1]
    return torch.matmul(dropout(weights.softmax(-1), p, sa.training), v)


def dropout_forward(module, x):
    """nn.Dropout.forward, with `dropout` below."""
    return dropout(x, module.p, module.training)


def dropout(x, p: float, training: bool = True):
    """F.dropout; on a CPU with masks from 16 random bits a position (p in steps of 1/65536)."""
    if not training or p == 0.0 or x.device.type != "cpu" or p >= 1.0:
        return F.dropout(x, p, training)
    n = x.numel()
    bits = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-2**63, 2**63 - 1)
    drop = round(p * 65536)
    keep = bits.view(torch.int16)[:n].view(x.shape) >= drop - 32768  # P(keep) = (65536 - drop) / 65536
    return x * keep * (65536 / (65536 - drop))


class EmbeddingGrad:
    """The word-embedding gradient by rows. Backward gives a sparse gradient for the tokens
    of the batch (a few hundred of MiniLM's 30,522 rows); `dense()`, called once per
    optimizer step after the last backward, writes it into a kept dense buffer, after
    zeroing the rows the step before wrote. The same gradient as the stock one without a
    47 MB zero fill per step (about 4% of a CPU step). Not with DDP, whose hooks want a
    dense gradient from backward."""

    def __init__(self, model):
        embedding = model.bert.embeddings.word_embeddings
        embedding.sparse = True  # padding_idx rows get no gradient, as with the dense one
        self.weight = embedding.weight
        self.buffer = torch.zeros_like(self.weight)
        self.rows = None

    def dense(self) -> None:
        grad = self.weight.grad
        if grad is None or not grad.is_sparse:
            return
        grad = grad.coalesce()  # repeated tokens (and accumulation steps) summed
        if self.rows is not None:
            self.buffer.index_fill_(0, self.rows, 0.0)
        self.rows = grad.indices()[0]
        self.buffer.index_copy_(0, self.rows, grad.values())
        self.weight.grad = self.buffer
