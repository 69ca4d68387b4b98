"""Subword stage: training into AutoTokenizer folders, parity with the native models,
round-trips, morpheme-aware Korean, stats against hand counts, and bad input."""

import gzip
import json
import unicodedata
from pathlib import Path

import pytest
from conftest import ROOT, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from nlplab import NlplabError
from nlplab.subword import SubwordConfig, SubwordTokenizer, train
from nlplab.subword.stats import stats

EN = ROOT / "corpora" / "en_sample.txt"
KO = ROOT / "corpora" / "ko_sample.txt"
KO_TSV = ROOT / "corpora" / "ko_reviews.tsv"


def build(tmp, name, corpus, **kw):
    kw.setdefault("vocab_size", 300)
    cfg = SubwordConfig(corpus=[str(corpus)], output=str(tmp / name), **kw)
    train(cfg, argv=["subword", "train"], progress=False)
    return SubwordTokenizer(tmp / name)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("subword")
    return {
        "en-unigram": build(tmp, "en-unigram", EN, lang="en", vocab_size=600),
        "en-bytefb": build(tmp, "en-bytefb", EN, lang="en", model="bpe", byte_fallback=True, vocab_size=600),
        "en-wordpiece": build(tmp, "en-wordpiece", EN, lang="en", model="wordpiece", lowercase=True),
        "ko-bytelevel": build(tmp, "ko-bytelevel", KO, lang="ko", model="bytelevel-bpe", vocab_size=600),
        "ko-mecab": build(tmp, "ko-mecab", KO, lang="ko", pretokenize="mecab", vocab_size=1200),
        "ko-char": build(tmp, "ko-char", KO, lang="ko", model="char", vocab_size=5000),
    }


def lines(path):
    return [s for s in Path(path).read_text(encoding="utf-8").splitlines() if s.strip()]


def test_folder_is_self_contained_and_loads_with_autotokenizer(folders):
    from transformers import AutoTokenizer

    for name, tok in folders.items():
        files = {p.name for p in tok.folder.iterdir()}
        assert {"tokenizer.json", "tokenizer_config.json", "nlplab_subword.json"} <= files, name
        assert ("spm.model" in files) == (tok.meta["engine"] == "sentencepiece"), name
        hf = AutoTokenizer.from_pretrained(str(tok.folder))
        assert hf.is_fast
        specials = [hf.pad_token_id, hf.unk_token_id, hf.cls_token_id, hf.sep_token_id, hf.mask_token_id]
        assert specials == [0, 1, 2, 3, 4], name
        ids = hf("hello world")["input_ids"]
        assert ids[0] == 2 and ids[-1] == 3
        pair = hf("a", "b")
        assert pair["input_ids"].count(3) == 2 and pair["token_type_ids"][-1] == 1


def test_metadata_records_how_it_was_made(folders):
    meta = folders["ko-mecab"].meta
    assert meta["kind"] == "unigram" and meta["engine"] == "sentencepiece" and meta["pretokenize"] == "mecab"
    assert meta["vocab_size"] == 1200 and meta["lang"] == "ko"
    assert meta["corpus"]["rows"] == 351 and meta["corpus"]["texts"] == 351 - 8  # 8 blank lines left out
    assert len(meta["corpus"]["sha256"]) == 64 and meta["command"].startswith("nlplab subword train")


def test_autotokenizer_matches_sentencepiece_on_the_corpus(folders):
    from transformers import AutoTokenizer

    for name in ("en-unigram", "en-bytefb", "ko-char"):
        tok = folders[name]
        hf = AutoTokenizer.from_pretrained(str(tok.folder))
        texts = lines(EN if name.startswith("en") else KO)
        prepared = tok._prep(texts)
        native = tok.encode_batch(texts)
        via_hf = [hf(t, add_special_tokens=False)["input_ids"] for t in prepared]
        same = sum(a == b for a, b in zip(native, via_hf))
        # Unigram ties between equal-score segmentations may order pieces differently.
        assert same >= 0.99 * len(texts), (name, same, len(texts))


ROUNDTRIP_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cf", "Co", "Cn"),
                                       blacklist_characters="[]"), max_size=60)


@settings(max_examples=150, deadline=None)
@given(ROUNDTRIP_TEXT)
def test_byte_fallback_roundtrip(folders, text):
    tok = folders["en-bytefb"]
    assert tok.decode(tok.encode(text)) == tok.normalized(text)


@settings(max_examples=150, deadline=None)
@given(ROUNDTRIP_TEXT)
def test_bytelevel_roundtrip_is_exact_up_to_nfc(folders, text):
    tok = folders["ko-bytelevel"]
    assert tok.encode(text).count(tok.unk_id) == 0
    assert tok.decode(tok.encode(text)) == unicodedata.normalize("NFC", text)


def test_roundtrip_on_sample_corpora(folders):
    for name, corpus in (("en-unigram", EN), ("ko-mecab", KO), ("ko-char", KO)):
        tok = folders[name]
        for text in lines(corpus):
            ids = tok.encode(text)
            if tok.unk_id in ids:
                continue
            assert tok.decode(ids) == " ".join(tok.normalized(text).split()), (name, text)


def test_korean_model_keeps_jamo_and_syllables(folders):
    # nmt_nfkc would turn ㅋ (U+314B) into ᄏ (U+110F); Korean models use NFC only
    pieces = folders["ko-char"].pieces("재밌어요 ㅋㅋ")
    assert pieces == ["▁", "재", "밌", "어", "요", "▁", "ㅋ", "ㅋ"]
    assert folders["ko-bytelevel"].decode(folders["ko-bytelevel"].encode("재밌어요ㅋㅋ")) == "재밌어요ㅋㅋ"
    # the NFC rules compiled into Korean models: decomposed input encodes like composed input
    tok = folders["ko-char"]
    nfd = unicodedata.normalize("NFD", "재밌어요 최고")
    assert nfd != "재밌어요 최고" and tok.sp.encode(nfd) == tok.sp.encode("재밌어요 최고")


def test_morpheme_aware_encoding_applies_mecab(folders):
    tok = folders["ko-mecab"]
    assert tok.prepare("아버지가방에들어가신다") == "아버지 가 방 에 들어가 신다"
    assert tok.pieces("아버지가방에들어가신다") == tok.sp.encode("아버지 가 방 에 들어가 신다", out_type=str)
    # decoding gives the morpheme-split text
    assert tok.decode(tok.encode("아버지가방에")) == "아버지 가 방 에"


def test_wordpiece_normalization(folders):
    tok = folders["en-wordpiece"]
    # uncased English WordPiece: lower-case and strip accents, as BERT uncased
    assert tok.normalized("Café NAÏVE") == "cafe naive"
    assert all(p == "[UNK]" or p.startswith("##") or not p.startswith("▁") for p in tok.pieces("the movie"))
    assert tok.decode(tok.encode("the movie was great")) == "the movie was great"


def test_stats_match_hand_counts(folders):
    tok = folders["en-unigram"]
    texts = ["the movie was great", "soooo good!!", "한국어"]
    ids = tok.encode_batch(texts)
    s = stats(tok, texts)
    n_sub = sum(map(len, ids))
    assert s["words"] == 4 + 2 + 1 and s["subwords"] == n_sub
    assert s["fertility"] == pytest.approx(n_sub / 7)
    assert s["unk_rate"] == pytest.approx(sum(i.count(1) for i in ids) / n_sub)
    assert s["vocab_used"] == pytest.approx(len({i for seq in ids for i in seq}) / 600)
    # 한, 국, 어 are not in an English sample's vocabulary; every other character is
    n_chars = sum(len(t.replace(" ", "")) for t in texts)
    assert s["char_coverage"] == pytest.approx((n_chars - 3) / n_chars)
    assert stats(folders["ko-bytelevel"], texts)["char_coverage"] == 1.0


def test_cli_train_encode_decode_stats(tmp_path, capsys):
    out = tmp_path / "ko"
    code, _, err = run_cli("subword", "train", KO_TSV, "--column", "document", "-o", out, "--lang", "ko",
                           "--vocab-size", "600", "--no-progress", capsys=capsys)
    assert code == 0, err
    assert "unigram (sentencepiece) vocabulary of 600 from 199 texts (3 blank rows left out)" in err
    ids = tmp_path / "ids.tsv"
    code, _, err = run_cli("subword", "encode", out, KO_TSV, "-o", ids, "--column", "document", "--ids", capsys=capsys)
    assert code == 0, err
    rows = ids.read_text(encoding="utf-8").splitlines()
    src = KO_TSV.read_text(encoding="utf-8").splitlines()
    assert len(rows) == len(src) == 203 and rows[0] == src[0]
    assert [r.split("\t")[0] for r in rows] == [r.split("\t")[0] for r in src]
    # -o NAME.jsonl.gz: the same ids, as lists in gzip'd JSONL (nlplab/formats.py)
    assert run_cli("subword", "encode", out, KO_TSV, "-o", tmp_path / "ids.jsonl.gz", "--column", "document", "--ids") == 0
    got = [json.loads(r) for r in gzip.decompress((tmp_path / "ids.jsonl.gz").read_bytes()).decode().splitlines()]
    assert [" ".join(g["document"]) for g in got] == [r.split("\t")[1] for r in rows[1:]]
    assert list(got[0]) == rows[0].split("\t")
    only_ids = tmp_path / "only_ids.txt"
    only_ids.write_text("".join(r.split("\t")[1] + "\n" for r in rows[1:]), encoding="utf-8")
    assert run_cli("subword", "decode", out, only_ids, "-o", tmp_path / "dec.txt") == 0
    tok = SubwordTokenizer(out)
    decoded = (tmp_path / "dec.txt").read_text(encoding="utf-8").split("\n")[:-1]
    for line, text in zip(decoded, (r.split("\t")[1] for r in src[1:])):
        if tok.unk_id not in tok.encode(text):
            assert line == " ".join(tok.normalized(text).split())
    code, table, _ = run_cli("subword", "stats", out, KO_TSV, "--column", "document", "--json", capsys=capsys)
    assert code == 0 and json.loads(table)[0]["vocab_size"] == 600


def assert_cli_error(capsys, args, *needles):
    code, _, err = run_cli(*args, capsys=capsys)
    assert code == 2 and "\n" not in err.strip(), err
    for n in needles:
        assert n in err, err


def test_bad_input(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    assert_cli_error(capsys, ["subword", "train", empty, "-o", tmp_path / "e", "--lang", "en"], "no text to train on")
    assert_cli_error(capsys, ["subword", "train", EN, "-o", tmp_path / "big", "--lang", "en", "--vocab-size", "50000"],
                     "--vocab-size 50000", "largest workable size is")
    assert_cli_error(capsys, ["subword", "encode", tmp_path / "nope", EN, "-o", tmp_path / "x"], "no such folder")
    assert_cli_error(capsys, ["subword", "encode", tmp_path, EN, "-o", tmp_path / "x"], "not an nlplab subword folder")
    assert_cli_error(capsys, ["subword", "train", EN, "-o", tmp_path / "v", "--lang", "en", "--vocab-size", "3"], "no room")
    assert_cli_error(capsys, ["subword", "train", KO, "-o", tmp_path / "v", "--lang", "ko", "--vocab-size", "100"],
                     "--vocab-size 100 is too small", "pieces; pass --vocab-size")
    assert_cli_error(capsys, ["subword", "train", EN, "-o", tmp_path / "v"], "--lang")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "f").write_text("x")
    assert_cli_error(capsys, ["subword", "train", EN, "-o", tmp_path / "taken", "--lang", "en"], "already exists", "--force")
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]  # no half-written folders
    assert not (tmp_path / "big").exists() and not (tmp_path / "e").exists()
    # --force replaces a subword folder, never the corpus or another folder
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(EN.read_text(encoding="utf-8"), encoding="utf-8")
    force = ("--lang", "en", "--vocab-size", "300", "--force")
    assert_cli_error(capsys, ["subword", "train", corpus, "-o", corpus, *force], "corpus.txt: is a file; give a folder")
    assert_cli_error(capsys, ["subword", "train", corpus, "-o", tmp_path, *force], "holds the input")
    assert_cli_error(capsys, ["subword", "train", corpus, "-o", tmp_path / "taken", *force], "not a subword folder")
    assert corpus.read_text(encoding="utf-8") == EN.read_text(encoding="utf-8") and (tmp_path / "taken" / "f").is_file()
    assert_cli_error(capsys, ["subword", "train", EN, "-o", tmp_path / "m", "--lang", "en", "--pretokenize", "mecab"],
                     "--pretokenize mecab splits Korean; for --lang en use none or whitespace")
    assert_cli_error(capsys, ["subword", "train", EN, "-o", tmp_path / "m", "--lang", "en", "--special-tokens", "[X],[X]"],
                     "--special-tokens: [X] given twice")
    assert_cli_error(capsys, ["subword", "train", EN, "-o", tmp_path / "m", "--lang", "en", "--character-coverage", "2"],
                     "--character-coverage must be in (0, 1], got 2.0")


# --- unseen Hangul (issue 20): --fallback byte|jamo|none -------------------------------------

BAT = "밧줄"  # 밧 is nowhere in corpora/ko_sample.txt
BAT_JAMO = "\u1107\u1161\u11ba줄"  # ᄇ ᅡ ᆺ 줄: the NFD spelling of 밧


@pytest.fixture(scope="module")
def fallbacks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fallback")
    return {
        "unigram": build(tmp, "unigram", KO, lang="ko", vocab_size=1200),  # the default: byte
        "unigram-jamo": build(tmp, "unigram-jamo", KO, lang="ko", vocab_size=1200, fallback="jamo"),
        "bpe-jamo": build(tmp, "bpe-jamo", KO, lang="ko", model="bpe", vocab_size=1200, fallback="jamo"),
        "unigram-none": build(tmp, "unigram-none", KO, lang="ko", vocab_size=1200, fallback="none"),
        "wordpiece": build(tmp, "wordpiece", KO, lang="ko", model="wordpiece", vocab_size=2000),  # the default: jamo
    }


def test_unseen_syllable_is_bytes_by_default(fallbacks):
    from transformers import AutoTokenizer

    assert "밧" not in KO.read_text(encoding="utf-8")
    tok = fallbacks["unigram"]
    assert tok.meta["fallback"] == tok.fallback == "byte" and tok.meta["notes"] == []
    assert tok.pieces(BAT) == ["▁", "<0xEB>", "<0xB0>", "<0xA7>", "줄"]  # 밧 is EB B0 A7 in UTF-8
    assert tok.unk_id not in tok.encode(BAT) and tok.decode(tok.encode(BAT)) == BAT
    hf = AutoTokenizer.from_pretrained(str(tok.folder))
    assert hf(BAT, add_special_tokens=False)["input_ids"] == tok.encode(BAT)
    assert hf.decode(tok.encode(BAT)) == BAT
    none = fallbacks["unigram-none"]
    assert none.fallback == "none" and none.encode(BAT)[1] == none.unk_id == 1  # the issue: 밧 was [UNK]


def test_jamo_fallback_spells_an_unseen_syllable_out(fallbacks):
    from transformers import AutoTokenizer

    for name in ("unigram-jamo", "bpe-jamo"):
        tok = fallbacks[name]
        assert tok.meta["fallback"] == "jamo"
        assert tok.pieces(BAT) == ["▁", "ᄇ", "ᅡ", "ᆺ", "줄"], name
        assert tok.decode(tok.encode(BAT)) == tok.normalized(BAT) == BAT  # composed back (NFC)
        # other missing characters are bytes: ä is C3 A4
        assert tok.pieces("ä") == ["▁", "<0xC3>", "<0xA4>"] and tok.decode(tok.encode("ä")) == "ä"
        hf = AutoTokenizer.from_pretrained(str(tok.folder))
        assert hf(BAT, add_special_tokens=False)["input_ids"] == tok.encode(BAT)
        assert hf.decode(tok.encode(BAT)) == BAT_JAMO  # AutoTokenizer leaves the jamo: NFC composes them
        # decomposed input: the NFC rule ᄇ ᅡ -> 바 applies first, still no [UNK]
        assert tok.pieces(BAT_JAMO) == ["▁", "바", "ᆺ", "줄"] and tok.decode(tok.encode(BAT_JAMO)) == BAT


def test_wordpiece_jamo_fallback(fallbacks):
    from transformers import AutoTokenizer

    tok = fallbacks["wordpiece"]
    assert tok.fallback == "jamo" and tok.vocab_size == 2000
    assert tok.pieces(BAT) == ["ᄇ", "##ᅡ", "##ᆺ", "##줄"] and tok.decode(tok.encode(BAT)) == BAT
    # Q and ü are not in the corpus: the ASCII and Latin-1 alphabet (HF's trainer may merge the rest differently)
    assert tok.pieces("IQ") == ["I", "##Q"] and "##ü" in tok.pieces("Müller") and tok.unk_id not in tok.encode("Müller")
    assert tok.pieces("IQ 😀") == ["I", "##Q", "[UNK]"]  # no byte pieces in WordPiece: an emoji stays [UNK]
    hf = AutoTokenizer.from_pretrained(str(tok.folder))
    texts = ["밧줄을 잡아", "IQ 120의 Müller", "재밌어요 ㅋㅋ"]
    assert [hf(t, add_special_tokens=False)["input_ids"] for t in texts] == tok.encode_batch(texts)


def test_every_hangul_syllable_encodes_without_unk(fallbacks):
    from nlplab.subword.fallback import SYLLABLES

    assert len(SYLLABLES) == 11172
    for name, tok in fallbacks.items():
        if name == "unigram-none":
            continue
        # alone (word-initial) and inside a word (WordPiece's ##-continuation)
        for texts in (SYLLABLES, ["가" + s for s in SYLLABLES]):
            ids = tok.encode_batch(texts)
            assert not [t for t, i in zip(texts, ids) if tok.unk_id in i], name
            assert [tok.decode(i) for i in ids] == texts, name


HANGUL_TEXT = st.text(st.sampled_from([chr(c) for c in range(0xAC00, 0xD7A4, 7)] + [" ", "a", "!", "ㅋ"]), max_size=40)


@settings(max_examples=100, deadline=None)
@given(HANGUL_TEXT)
def test_korean_roundtrip_without_unk(fallbacks, text):
    for name in ("unigram", "unigram-jamo", "bpe-jamo"):
        tok = fallbacks[name]
        ids = tok.encode(text)
        assert tok.unk_id not in ids, name
        assert tok.decode(ids) == tok.normalized(text) == " ".join(text.split()), name


def test_fallback_options(tmp_path, capsys):
    assert SubwordConfig(corpus=["x"], output="o", lang="en").fallback == "none"
    assert SubwordConfig(corpus=["x"], output="o", lang="en", byte_fallback=True).fallback == "byte"
    assert SubwordConfig(corpus=["x"], output="o", lang="ko", model="bytelevel-bpe").fallback == "none"
    assert SubwordConfig(corpus=["x"], output="o", lang="ko", model="bpe", engine="tokenizers").fallback == "none"
    assert SubwordConfig(corpus=["x"], output="o", lang="ko", model="char").fallback == "byte"
    base = ["subword", "train", KO, "-o", tmp_path / "v"]
    assert_cli_error(capsys, [*base, "--lang", "en", "--fallback", "jamo"], "--fallback jamo spells Hangul syllables out")
    assert_cli_error(capsys, [*base, "--lang", "ko", "--model", "bytelevel-bpe", "--fallback", "byte"], "drop --fallback")
    assert_cli_error(capsys, [*base, "--lang", "ko", "--model", "wordpiece", "--fallback", "byte"], "no byte pieces")
    assert_cli_error(capsys, [*base, "--lang", "ko", "--byte-fallback", "--fallback", "jamo"], "disagree")
    # a vocabulary too small for the bytes: explicit --fallback byte is an error, the default steps back
    assert_cli_error(capsys, ["subword", "train", KO_TSV, "--column", "document", "-o", tmp_path / "v", "--lang", "ko",
                              "--vocab-size", "600", "--fallback", "byte"],
                     "--vocab-size 600 is too small", "(256 of them --fallback byte's bytes)", "or --fallback none")
    code, _, err = run_cli("subword", "train", KO_TSV, "--column", "document", "-o", tmp_path / "v", "--lang", "ko",
                           "--vocab-size", "600", "--no-progress", capsys=capsys)
    assert code == 0, err
    assert ("note: --vocab-size 600 has no room for the byte pieces of --fallback byte next to the corpus' characters: "
            "trained with --fallback none, so characters it lacks become [UNK]") in err
    assert SubwordTokenizer(tmp_path / "v").fallback == "none"


def test_folders_from_before_fallback_read_their_byte_fallback(fallbacks, tmp_path):
    import shutil

    for name, old in (("unigram", "byte"), ("unigram-none", "none")):
        folder = shutil.copytree(fallbacks[name].folder, tmp_path / name)
        meta = json.loads((folder / "nlplab_subword.json").read_text(encoding="utf-8"))
        del meta["fallback"]
        meta["config"].pop("fallback")
        meta["config"]["byte_fallback"] = old == "byte"
        (folder / "nlplab_subword.json").write_text(json.dumps(meta), encoding="utf-8")
        assert SubwordTokenizer(folder).fallback == old


def korsts_dev(shared):
    rows = [r.split("\t") for r in (shared / "korsts/sts-dev.tsv").read_text(encoding="utf-8").splitlines()]
    assert rows[0][5:] == ["sentence1", "sentence2"]
    return [r[5] for r in rows[1:]] + [r[6] for r in rows[1:]]


@pytest.mark.slow
def test_korean_defaults_never_unk_on_korsts(tmp_path, shared):
    """News comments -> the default Korean unigram 8k (byte fallback): no [UNK], exact round
    trips and AutoTokenizer's ids on all 3,000 KorSTS dev sentences (6.1% had an [UNK] before)."""
    from transformers import AutoTokenizer

    texts = korsts_dev(shared)
    assert len(texts) == 3000
    tok = build(tmp_path, "ko-8k", shared / "ko-text/unlabeled_comments_5.txt", lang="ko", vocab_size=8000)
    assert tok.fallback == "byte" and tok.vocab_size == 8000
    ids = tok.encode_batch(texts)
    assert sum(tok.unk_id in i for i in ids) == 0
    assert [tok.decode(i) for i in ids] == [tok.normalized(t) for t in texts]
    hf = AutoTokenizer.from_pretrained(str(tok.folder))
    assert [hf(t, add_special_tokens=False)["input_ids"] for t in texts] == ids
    assert [hf.decode(i) for i in ids] == [tok.normalized(t) for t in texts]


def test_missing_pretokenizer(tmp_path, monkeypatch):
    import sys

    from nlplab import tokenize

    tokenize._build.cache_clear()
    monkeypatch.setitem(sys.modules, "kiwipiepy", None)  # as if not installed
    with pytest.raises(NlplabError, match="pip install kiwipiepy"):
        train(SubwordConfig(corpus=[str(KO)], output=str(tmp_path / "k"), lang="ko", pretokenize="kiwi"), progress=False)
    tokenize._build.cache_clear()
    assert not (tmp_path / "k").exists()


@pytest.mark.slow
def test_real_corpora_parity_and_roundtrip(tmp_path, shared):
    """SST-2 train -> unigram 8k: AutoTokenizer equals spm.model on all of SST-2 dev; NSMC ->
    morpheme-aware unigram: round-trips on the test reviews."""
    from transformers import AutoTokenizer

    en = build(tmp_path, "sst2", shared / "glue/SST-2/train.tsv", lang="en", vocab_size=8000, column="sentence")
    dev = [r.split("\t")[0] for r in (shared / "glue/SST-2/dev.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    hf = AutoTokenizer.from_pretrained(str(en.folder))
    assert [hf(t, add_special_tokens=False)["input_ids"] for t in dev] == en.encode_batch(dev)
    ko = build(tmp_path, "nsmc", shared / "korean-hate-speech/train.tsv", lang="ko", vocab_size=4000,
               column="comments", pretokenize="mecab")
    texts = [r.split("\t")[0] for r in (shared / "korean-hate-speech/dev.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    ok = [t for t in texts if ko.unk_id not in ko.encode(t)]
    assert len(ok) > 0.8 * len(texts)
    assert all(ko.decode(ko.encode(t)) == " ".join(ko.normalized(t).split()) for t in ok)


def corpus_folder(d, train_shards, valid):
    """A corpus folder as `nlplab corpus build` writes it (manifest.json, train/, valid/)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for split, shards in (("train", train_shards), ("valid", [valid])):
        (d / split).mkdir(parents=True)
        for i, texts in enumerate(shards):
            pq.write_table(pa.table({"text": texts, "source": ["web"] * len(texts)}), d / split / f"{split}-{i:05d}.parquet")
    (d / "manifest.json").write_text("{}")
    return d


def test_train_on_a_corpus_folder_reads_its_train_split(tmp_path, capsys):
    words = ["low lower lowest", "new newer newest", "wide wider widest"]
    d = corpus_folder(tmp_path / "corpus", [words * 10, ["", "jump jumped\njumps"] * 10], ["ßßß"])
    out = tmp_path / "sw"
    code, _, err = run_cli("subword", "train", d, "-o", out, "--lang", "en", "--vocab-size", "60", "--model", "bpe",
                           "--no-progress", capsys=capsys)
    assert code == 0, err
    assert "bpe (sentencepiece) vocabulary of 60 from 40 texts (10 blank rows left out)" in err
    tok = SubwordTokenizer(out)
    pieces = "".join(tok.hf.id_to_token(i) for i in range(tok.vocab_size))
    assert set("".join(words).replace(" ", "") + "jumped") <= set(pieces)  # every character of the train split
    assert all(tok.unk_id not in tok.encode(t) for t in words + ["jumps jumped"])
    assert tok.encode("ß")[-1] == tok.unk_id  # the valid split is not trained on
    c = json.loads((out / "nlplab_subword.json").read_text())["corpus"]
    assert (c["files"], c["rows"], c["texts"]) == ([str(d)], 50, 40)


def test_corpus_fingerprint_follows_the_shards_and_compressed_txt_streams(tmp_path):
    import gzip
    import shutil

    from nlplab.subword.train import prepare_corpus

    def prepared(corpus, name):
        cfg = SubwordConfig(corpus=[str(corpus)], output=str(tmp_path / "o"), lang="en")
        files, counts = prepare_corpus(cfg, tmp_path / f"{name}.txt", progress=False)
        return files, counts["sha256"], (tmp_path / f"{name}.txt").read_text(encoding="utf-8")

    a = corpus_folder(tmp_path / "a", [["one two", "three"], ["four"]], ["v"])
    b = corpus_folder(tmp_path / "b", [["one two", "three"], ["four!"]], ["v"])
    files, sha_a, text = prepared(a, "a")
    assert files == [str(tmp_path / "a.txt")] and text == "one two\nthree\nfour\n"  # streamed, not read in place
    assert prepared(b, "b")[1] != sha_a  # one changed text in one shard changes the fingerprint
    (tmp_path / "c").mkdir()
    shutil.copytree(a, tmp_path / "c" / "a")
    assert prepared(tmp_path / "c" / "a", "c")[1] == sha_a  # the same shards: the same fingerprint
    gz = tmp_path / "x.txt.gz"
    gz.write_bytes(gzip.compress(b"one two\n\nthree\n"))
    files, _, text = prepared(gz, "gz")
    assert files == [str(tmp_path / "gz.txt")] and text == "one two\nthree\n"  # SentencePiece cannot read .gz
