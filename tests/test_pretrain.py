"""Pretraining data and models: masking statistics (rate, 80/10/10, whole words), packing
and rank shares, the token cache, the masked-only head against HF's full head, ELECTRA's
wiring (shared embeddings, no gradient through sampling) and its AUC against scikit-learn."""

import numpy as np
import pytest
import torch
from conftest import ROOT

from nlplab.pretrain import data, model


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    from nlplab.subword import SubwordConfig
    from nlplab.subword import train as train_subword

    out = tmp_path_factory.mktemp("pt") / "wp"
    train_subword(SubwordConfig(corpus=[str(ROOT / "corpora" / "ko_sample.txt")], output=str(out), lang="ko",
                                model="wordpiece", vocab_size=600), progress=False)
    return AutoTokenizer.from_pretrained(out)


def lines(tmp_path, texts):
    path = tmp_path / "c.txt"
    path.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    return str(path)


# --- the stream, the cache, packing -----------------------------------------------------

def test_the_stream_is_every_document_then_sep_and_is_cached(tokenizer, tmp_path):
    path = lines(tmp_path, ["영화 정말 좋다", "", "너무 재미없다"])
    s = data.tokenize(path, tokenizer, cache=tmp_path / "cache")
    want = []
    for t in ("영화 정말 좋다", "너무 재미없다"):
        want += tokenizer(t, add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id]
    assert s.ids.tolist() == want and s.documents == 2  # the empty line has no token
    words = tokenizer("영화 정말 좋다", add_special_tokens=False).word_ids()
    assert s.starts[:len(words)].tolist() == [j == 0 or words[j - 1] != w for j, w in enumerate(words)]
    again = data.tokenize(path, tokenizer, cache=tmp_path / "cache")
    assert isinstance(again.ids, np.memmap) and again.ids.tolist() == want  # read back memory-mapped
    (tmp_path / "c.txt").write_text("다른 글\n", encoding="utf-8")
    assert data.tokenize(path, tokenizer, cache=tmp_path / "cache").ids.tolist() != want  # a changed corpus


def test_blocks_are_cls_then_the_stream_and_shares_split_the_global_batch():
    s = data.Stream(np.arange(10, 30, dtype=np.uint16), np.ones(20, dtype=bool), 1, "x")
    assert data.n_blocks(s, 5) == 5  # 20 tokens // 4 per block
    ids, starts = data.batch(s, [0, 3], 5, cls_id=2)
    assert ids.tolist() == [[2, 10, 11, 12, 13], [2, 22, 23, 24, 25]] and starts.all()
    assert data.order(5, 0, 1).tolist() == data.order(5, 0, 1).tolist() != data.order(5, 0, 2).tolist()
    assert [data.share(8, r, 2) for r in (0, 1)] == [slice(0, 4), slice(4, 8)]


# --- masking ----------------------------------------------------------------------------

def test_masking_rate_and_80_10_10():
    g = torch.Generator().manual_seed(0)
    vocab, special = 1000, torch.zeros(1000, dtype=torch.bool)
    special[:5] = True
    ids = torch.randint(5, vocab, (512, 128), generator=g)
    ids[:, 0] = 2  # [CLS]
    inputs, labels = data.mask_tokens(ids, torch.ones_like(ids, dtype=torch.bool), special, 4, vocab, g)
    chosen = labels != -100
    assert not chosen[:, 0].any() and (labels[chosen] == ids[chosen]).all()
    assert chosen.float().mean().item() == pytest.approx(0.15 * 127 / 128, abs=0.003)
    n = chosen.sum().item()
    as_mask = (inputs[chosen] == 4).sum().item() / n
    kept = (inputs[chosen] == ids[chosen]).sum().item() / n
    assert as_mask == pytest.approx(0.8, abs=0.01) and kept == pytest.approx(0.1 + 0.1 / vocab, abs=0.01)
    assert ((inputs != ids) & ~chosen).sum() == 0  # nothing outside the chosen changes
    electra, e_labels = data.mask_tokens(ids, torch.ones_like(ids, dtype=torch.bool), special, 4, vocab,
                                         torch.Generator().manual_seed(0), keep=(1.0, 0.0))
    assert (electra[e_labels != -100] == 4).all() and (electra[e_labels == -100] == ids[e_labels == -100]).all()


def test_whole_word_masking_takes_words_as_units():
    g = torch.Generator().manual_seed(1)
    special = torch.zeros(50, dtype=torch.bool)
    special[:5] = True
    ids = torch.randint(5, 50, (256, 64), generator=g)
    ids[:, 0] = 2
    starts = torch.rand(ids.shape, generator=g) < 0.4  # words of 2.5 tokens on average
    starts[:, 0] = True
    _, labels = data.mask_tokens(ids, starts, special, 4, 50, g, whole_word=True)
    chosen = labels != -100
    word = torch.cumsum(starts.long(), 1)
    for r in range(20):
        for w in word[r, 1:].unique():
            in_word = (word[r] == w) & ~special[ids[r]]
            assert chosen[r][in_word].all() or not chosen[r][in_word].any()
    assert chosen.float().mean().item() == pytest.approx(0.15, abs=0.02)


# --- models -----------------------------------------------------------------------------

def test_the_masked_only_head_gives_hf_loss_and_gradients(tokenizer):
    from transformers import BertForMaskedLM

    torch.manual_seed(0)
    m = model.build("mlm", model.size("tiny"), tokenizer, 32, dropout=0.0)
    ref = BertForMaskedLM(m.mlm.config)
    ref.load_state_dict(m.mlm.state_dict())
    ids = torch.randint(5, len(tokenizer), (4, 32))
    labels = torch.full_like(ids, -100)
    labels[:, 3::5] = ids[:, 3::5]
    loss_sum, stats = m(ids, labels)
    out = ref(input_ids=ids, labels=labels)
    assert stats["masked"] == 4 * 6 and (loss_sum / stats["masked"]).item() == pytest.approx(out.loss.item(), rel=1e-5)
    (loss_sum / stats["masked"]).backward()
    out.loss.backward()
    for (name, a), (_, b) in zip(m.mlm.named_parameters(), ref.named_parameters()):
        if b.grad is not None:
            assert torch.allclose(a.grad, b.grad, atol=1e-6), name


def test_electra_shares_embeddings_and_sampling_carries_no_gradient(tokenizer):
    torch.manual_seed(0)
    m = model.build("electra", {"layers": 1, "hidden": 128, "embedding": 64}, tokenizer, 32, dropout=0.0)
    assert m.generator.electra.embeddings is m.discriminator.electra.embeddings
    assert m.generator.generator_lm_head.weight is m.discriminator.electra.embeddings.word_embeddings.weight
    assert m.generator.config.hidden_size == 64  # max(64, 128 // 4)
    ids = torch.randint(5, len(tokenizer), (2, 32))
    labels = torch.full_like(ids, -100)
    labels[:, 1::4] = ids[:, 1::4]
    inputs = torch.where(labels != -100, torch.full_like(ids, tokenizer.mask_token_id), ids)
    g_loss, stats = m(inputs, labels, original=ids, uniform=torch.rand(int((labels != -100).sum())))
    assert stats["tokens"] == 64 and 0 <= stats["replaced"] <= 16
    assert ((stats["disc_labels"] == 1) <= (labels != -100)).all()  # only masked positions can be replaced
    stats["disc_loss_sum"].backward()  # the discriminator's loss alone
    assert all(p.grad is None for p in m.generator.generator_predictions.parameters())
    assert all(p.grad is None for p in m.generator.electra.encoder.parameters())


def test_auc_matches_scikit_learn():
    from sklearn.metrics import roc_auc_score

    g = torch.Generator().manual_seed(3)
    y = torch.rand(500, generator=g) < 0.3
    s = torch.randn(500, generator=g) + y.float() + torch.randint(0, 3, (500,), generator=g) * 0.0
    s[:50] = 0.5  # ties
    assert model.auc(s, y) == pytest.approx(roc_auc_score(y.numpy(), s.numpy()), abs=1e-12)
