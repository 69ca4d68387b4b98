"""The last encoder layer of a BERT classifier, computed for [CLS] alone.

A sequence classifier reads one position of the last layer: BERT's pooler takes the
[CLS] row and nothing else. In that layer every other row is work thrown away, so only
[CLS] needs a query, an attention output and a feed-forward pass; the keys and values
still come from every token. The logits, the loss and every gradient are the same as
the full layer's (tested to float tolerance). The layer keeps only its key and value
projections for the other rows, about a sixth of its work: in theory 1/7 of a 6-layer
model's matrix work; measured on MiniLM on a 2-core CPU, 4-12% more train samples/s on
GLUE's short sentences (BENCHMARKS.md). The idea is flash-attn's BERT
`last_layer_subset`, used in MLPerf's BERT.

    from nlplab.finetune import cls_only
    cls_only.enable(model)   # True when applied; False leaves the model as it was

Applied to `BertForSequenceClassification` (what `--model minilm`, `scratch` and BERT
checkpoints load as) with eager or SDPA attention and no cross-attention or chunked
feed-forward; any other model runs its own forward unchanged. The weights and what
`save_pretrained` writes are untouched: only that layer's forward is replaced.
"""

from __future__ import annotations

import types

ATTENTION = ("sdpa", "eager")


def applies(model) -> bool:
    from transformers import BertForSequenceClassification

    c = model.config
    return (type(model) is BertForSequenceClassification and model.bert.pooler is not None
            and c._attn_implementation in ATTENTION and not c.is_decoder and not c.add_cross_attention
            and not c.chunk_size_feed_forward and not c.output_hidden_states)


def enable(model) -> bool:
    if not applies(model):
        return False
    layer = model.bert.encoder.layer[-1]
    layer.forward = types.MethodType(forward, layer)
    return True


def forward(layer, hidden_states, attention_mask=None, *args, **kwargs):
    """BertLayer.forward for the [CLS] row: (batch, 1, hidden), which the pooler reads as
    row 0. `attention_mask` is the model's (batch, 1, T, T) mask (or None: no padding)."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    from transformers.models.bert.modeling_bert import eager_attention_forward

    sa = layer.attention.self
    b, t, _ = hidden_states.shape
    cls = hidden_states[:, :1]
    heads = (b, -1, sa.num_attention_heads, sa.attention_head_size)
    q = sa.query(cls).view(heads).transpose(1, 2)
    k = sa.key(hidden_states).view(heads).transpose(1, 2)
    v = sa.value(hidden_states).view(heads).transpose(1, 2)
    mask = attention_mask[:, :, :1] if attention_mask is not None else None
    attend = ALL_ATTENTION_FUNCTIONS.get_interface(sa.config._attn_implementation, eager_attention_forward)
    out, _ = attend(sa, q, k, v, mask, dropout=sa.dropout.p if sa.training else 0.0, scaling=sa.scaling)
    attention_output = layer.attention.output(out.reshape(b, 1, -1), cls)
    return layer.output(layer.intermediate(attention_output), attention_output)
