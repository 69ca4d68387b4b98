"""nlplab.tokenize: literal tokens, tags, coarse tags and offsets for every backend on
fixed sentences (as BERT's tokenization_test.py does), blank input, load(), coarse_tag(),
stopwords, sentence splitting, and the errors for missing Java and missing NLTK data."""

import concurrent.futures

import pytest

from nlplab import NlplabError
from nlplab.tokenize import TOKENIZERS, Token, english, korean, load, split_sentences
from nlplab.tokenize import stopwords as sw
from nlplab.tokenize.base import HANNANUM, KKMA, OKT, PENN, SEJONG, coarse_tag

FATHER = "아버지가 방에 들어가신다"
FUN = "재밌어요ㅋㅋ 최고!"
KOREAN = ["mecab", "kiwi", "okt", "komoran", "kkma", "hannanum"]
ENGLISH = ["nltk", "treebank", "tweet", "regexp", "whitespace"]


# Loaded once per module (load() caches per process anyway; the JVM starts once).
@pytest.fixture(scope="module")
def tok():
    return {name: load(name) for name in KOREAN + ENGLISH}


def pairs(tokens):
    return [(t.text, t.tag) for t in tokens]


def check_offsets(text, tokens):
    for t in tokens:
        if t.start is not None:
            assert text[t.start:t.end] == t.text, t


# --- Korean: literal pairs ------------------------------------------------------------------

EXPECTED_KO = {
    "mecab": {
        FATHER: [("아버지", "NNG"), ("가", "JKS"), ("방", "NNG"), ("에", "JKB"), ("들어가", "VV"), ("신다", "EP+EC")],
        FUN: [("재밌", "VA"), ("어요", "EF"), ("ㅋㅋ", "UNKNOWN"), ("최고", "NNG"), ("!", "SF")],
    },
    "kiwi": {
        # Kiwi restores the morphemes of 신다: 시 (honorific) + ㄴ다 (Kiwi's conjoining ᆫ, U+11AB, given as
        # the compatibility ㄴ, U+3134, as Komoran, Kkma and Hannanum print it)
        FATHER: [("아버지", "NNG"), ("가", "JKS"), ("방", "NNG"), ("에", "JKB"), ("들어가", "VV"), ("시", "EP"),
                 ("\u3134다", "EC")],
        FUN: [("재밌", "VA"), ("어요", "EF"), ("ㅋㅋ", "SW"), ("최고", "NNG"), ("!", "SF")],
    },
    "okt": {
        FATHER: [("아버지", "Noun"), ("가", "Josa"), ("방", "Noun"), ("에", "Josa"), ("들어가신다", "Verb")],
        FUN: [("재밌어요", "Adjective"), ("ㅋㅋ", "KoreanParticle"), ("최고", "Noun"), ("!", "Punctuation")],
    },
    "komoran": {
        FATHER: [("아버지", "NNG"), ("가", "JKS"), ("방", "NNG"), ("에", "JKB"), ("들어가", "VV"), ("시", "EP"),
                 ("ㄴ다", "EC")],
        # Komoran cannot analyze the glued ㅋㅋ: one NA (unanalyzable) piece
        FUN: [("재밌어욬ㅋ", "NA"), ("최고", "NNG"), ("!", "SF")],
    },
    "kkma": {
        FATHER: [("아버지", "NNG"), ("가", "JKS"), ("방", "NNG"), ("에", "JKM"), ("들어가", "VV"), ("시", "EPH"),
                 ("ㄴ다", "EFN")],
        FUN: [("재밌", "VA"), ("어요", "EFN"), ("ㅋㅋ", "EMO"), ("최고", "NNG"), ("!", "SF")],
    },
    "hannanum": {
        FATHER: [("아버지", "N"), ("가", "J"), ("방", "N"), ("에", "J"), ("들", "P"), ("어", "E"), ("가", "P"),
                 ("시ㄴ다", "E")],
        FUN: [("재밌어욬ㅋ", "N"), ("최고", "N"), ("!", "S")],
    },
}

EXPECTED_COARSE = {
    "mecab": {FATHER: ["NOUN", "PART", "NOUN", "PART", "VERB", "ENDING"],
              FUN: ["ADJ", "ENDING", "X", "NOUN", "PUNCT"]},
    "kiwi": {FATHER: ["NOUN", "PART", "NOUN", "PART", "VERB", "ENDING", "ENDING"],
             FUN: ["ADJ", "ENDING", "SYM", "NOUN", "PUNCT"]},
    "okt": {FATHER: ["NOUN", "PART", "NOUN", "PART", "VERB"], FUN: ["ADJ", "INTJ", "NOUN", "PUNCT"]},
    "komoran": {FATHER: ["NOUN", "PART", "NOUN", "PART", "VERB", "ENDING", "ENDING"], FUN: ["X", "NOUN", "PUNCT"]},
    "kkma": {FATHER: ["NOUN", "PART", "NOUN", "PART", "VERB", "ENDING", "ENDING"],
             FUN: ["ADJ", "ENDING", "SYM", "NOUN", "PUNCT"]},
    "hannanum": {FATHER: ["NOUN", "PART", "NOUN", "PART", "VERB", "ENDING", "VERB", "ENDING"],
                 FUN: ["NOUN", "NOUN", "PUNCT"]},
}


@pytest.mark.parametrize("name", KOREAN)
@pytest.mark.parametrize("text", [FATHER, FUN])
def test_korean_pairs_and_tokens(tok, name, text):
    expected = EXPECTED_KO[name][text]
    assert tok[name].pairs(text) == expected
    tokens = tok[name](text)
    assert all(isinstance(t, Token) for t in tokens)
    assert pairs(tokens) == expected
    assert [t.coarse for t in tokens] == EXPECTED_COARSE[name][text]
    assert tok[name].words(text) == [w for w, _ in expected]
    check_offsets(text, tokens)


def test_mecab_offsets(tok):
    assert [(t.start, t.end) for t in tok["mecab"](FATHER)] == [(0, 3), (3, 4), (5, 6), (6, 7), (8, 11), (11, 13)]
    assert [(t.start, t.end) for t in tok["mecab"](FUN)] == [(0, 2), (2, 4), (4, 6), (7, 9), (9, 10)]


def test_kiwi_offsets(tok):
    # 시 and ᆫ다 are not in the text (they share the syllable 신): no offsets
    assert [(t.start, t.end) for t in tok["kiwi"](FATHER)] == [(0, 3), (3, 4), (5, 6), (6, 7), (8, 11),
                                                              (None, None), (None, None)]
    assert [(t.start, t.end) for t in tok["kiwi"](FUN)] == [(0, 2), (2, 4), (4, 6), (7, 9), (9, 10)]
    tokens = tok["kiwi"]("날씨가 좋네요 https://x.co")
    assert pairs(tokens) == [("날씨", "NNG"), ("가", "JKS"), ("좋", "VA"), ("네요", "EF"), ("https://x.co", "W_URL")]
    assert (tokens[-1].start, tokens[-1].end, tokens[-1].coarse) == (8, 20, "X")


def test_kiwi_endings_use_compatibility_jamo_and_keep_the_original_on_request():
    text = "결말이 뻔한데 볼게요"
    assert load("kiwi").pairs(text) == [("결말", "NNG"), ("이", "JKS"), ("뻔하", "VA"), ("\u3134데", "EC"),
                                        ("보", "VX"), ("\u3139게요", "EF")]  # ㄴ데, ㄹ게요
    assert load("kiwi", jamo="conjoining").pairs(text) == [("결말", "NNG"), ("이", "JKS"), ("뻔하", "VA"),
                                                           ("\u11ab데", "EC"), ("보", "VX"), ("\u11af게요", "EF")]
    # one form across backends: Kiwi's ending is Komoran's (test_korean_pairs_and_tokens has it too)
    assert load("kiwi").pairs(FATHER)[-1] == EXPECTED_KO["komoran"][FATHER][-1] == ("ㄴ다", "EC")
    assert [t.text for t in load("kiwi", jamo="conjoining")(FATHER)][-1] == "\u11ab다"
    # an NFD syllable stays as it is; a lone conjoining jamo becomes its letter, lead or tail alike
    assert korean.compat_jamo("\u1100\u1161\u11ab \u11ab \u1100 \u1161") == "\u1100\u1161\u11ab \u3134 \u3131 \u314f"
    assert korean.compat_jamo("ㅋㅋ 간다") == "ㅋㅋ 간다"
    with pytest.raises(NlplabError, match="kiwi: jamo must be compat or conjoining; got 'nfd'"):
        load("kiwi", jamo="nfd")


def test_okt_norm_and_stem():
    assert load("okt").pairs("좋아요") == [("좋아요", "Adjective")]
    assert load("okt", stem=True).pairs("좋아요") == [("좋다", "Adjective")]
    assert load("okt", stem=True).pairs("먹었다") == [("먹다", "Verb")]
    assert load("okt").pairs("재밌닼ㅋㅋ") == [("재밌닼", "Noun"), ("ㅋㅋ", "KoreanParticle")]
    assert load("okt", norm=True).pairs("재밌닼ㅋㅋ") == [("재밌다", "Adjective"), ("ㅋㅋ", "KoreanParticle")]
    assert load("okt", norm=True, stem=True).pairs("안녕하세욬ㅋㅋ 반가웠어요") == [
        ("안녕하다", "Adjective"), ("ㅋㅋ", "KoreanParticle"), ("반갑다", "Adjective")]
    # a rewritten surface has no offsets; an unchanged one keeps them
    tokens = load("okt", norm=True)("재밌닼ㅋㅋ")
    assert tokens == [Token("재밌다", "Adjective", "ADJ", None, None), Token("ㅋㅋ", "KoreanParticle", "INTJ", 3, 5)]


def test_mecab_stem_appends_da_to_verbs_and_adjectives():
    stem = load("mecab", stem=True)
    assert stem.pairs("밥을 먹었다") == [("밥", "NNG"), ("을", "JKO"), ("먹다", "VV"), ("었", "EP"), ("다", "EC")]
    assert stem.words("좋아요") == ["좋다", "아요"]
    # fused forms are stemmed from their first morpheme: 갔 = 가/VV + 았/EP
    assert stem.pairs("갔어 예뻐요") == [("가다", "VV+EP"), ("어", "EC"), ("예쁘다", "VA+EC")]
    assert load("mecab").pairs("갔어 예뻐요") == [("갔", "VV+EP"), ("어", "EC"), ("예뻐요", "VA+EC")]
    tokens = stem("밥을 먹었다")
    assert (tokens[2].text, tokens[2].start, tokens[2].coarse) == ("먹다", None, "VERB")
    assert (tokens[3].text, tokens[3].start, tokens[3].end) == ("었", 4, 5)


def test_kiwi_stem():
    assert load("kiwi", stem=True).pairs("밥을 먹었다") == [("밥", "NNG"), ("을", "JKO"), ("먹다", "VV"), ("었", "EP"),
                                                        ("다", "EF")]


# --- English --------------------------------------------------------------------------------

DONT = "Don't stop!"
QUOTE = 'She said "hi" to me.'
TWEET = "@bob soooo good :) #fun https://x.co"
CATS = "The cats are running in the gardens!"

EXPECTED_EN = {
    "nltk": {
        DONT: ["Do", "n't", "stop", "!"],
        QUOTE: ["She", "said", "``", "hi", "''", "to", "me", "."],
        TWEET: ["@", "bob", "soooo", "good", ":", ")", "#", "fun", "https", ":", "//x.co"],
    },
    "treebank": {
        DONT: ["Do", "n't", "stop", "!"],
        QUOTE: ["She", "said", "``", "hi", "''", "to", "me", "."],
        TWEET: ["@", "bob", "soooo", "good", ":", ")", "#", "fun", "https", ":", "//x.co"],
    },
    "tweet": {
        DONT: ["Don't", "stop", "!"],
        QUOTE: ["She", "said", '"', "hi", '"', "to", "me", "."],
        TWEET: ["@bob", "soooo", "good", ":)", "#fun", "https://x.co"],
    },
    "regexp": {
        DONT: ["Don", "'", "t", "stop", "!"],
        QUOTE: ["She", "said", '"', "hi", '"', "to", "me", "."],
        TWEET: ["@", "bob", "soooo", "good", ":)", "#", "fun", "https", "://", "x", ".", "co"],
    },
    "whitespace": {
        DONT: ["Don't", "stop!"],
        QUOTE: ["She", "said", '"hi"', "to", "me."],
        TWEET: ["@bob", "soooo", "good", ":)", "#fun", "https://x.co"],
    },
}


@pytest.mark.parametrize("name", ENGLISH)
@pytest.mark.parametrize("text", [DONT, QUOTE, TWEET])
def test_english_tokens(tok, name, text):
    expected = EXPECTED_EN[name][text]
    tokens = tok[name](text)
    assert [t.text for t in tokens] == expected
    assert tok[name].words(text) == expected
    assert tok[name].pairs(text) == [(w, None) for w in expected]
    assert all(t.tag is None and t.coarse is None for t in tokens)
    check_offsets(text, tokens)


def test_english_offsets(tok):
    assert tok["nltk"](DONT) == [Token("Do", None, None, 0, 2), Token("n't", None, None, 2, 5),
                                 Token("stop", None, None, 6, 10), Token("!", None, None, 10, 11)]
    # `` and '' are not in the text: no offsets
    assert [(t.start, t.end) for t in tok["nltk"](QUOTE)] == [(0, 3), (4, 8), (None, None), (10, 12), (None, None),
                                                             (14, 16), (17, 19), (19, 20)]


def test_english_pos_tags():
    tokens = load("nltk", pos=True)(CATS)
    assert pairs(tokens) == [("The", "DT"), ("cats", "NNS"), ("are", "VBP"), ("running", "VBG"), ("in", "IN"),
                             ("the", "DT"), ("gardens", "NNS"), ("!", ".")]
    assert [t.coarse for t in tokens] == ["DET", "NOUN", "VERB", "VERB", "ADP", "DET", "NOUN", "PUNCT"]
    assert load("nltk", pos=True).pairs(DONT) == [("Do", "VBP"), ("n't", "RB"), ("stop", "VB"), ("!", ".")]
    assert load("tweet", pos=True).pairs("I love this movie :)") == [
        ("I", "PRP"), ("love", "VBP"), ("this", "DT"), ("movie", "NN"), (":)", "NN")]


def test_english_stemmers():
    text = CATS + " Generously studies"
    assert load("nltk", stem="porter").words(text) == ["the", "cat", "are", "run", "in", "the", "garden", "!",
                                                       "gener", "studi"]
    assert load("nltk", stem="snowball").words(text) == ["the", "cat", "are", "run", "in", "the", "garden", "!",
                                                         "generous", "studi"]
    assert load("nltk", stem=True).words("running") == ["run"]  # True means porter
    # tags come from the unstemmed words
    assert load("nltk", stem="porter", pos=True)("The cats are running") == [
        Token("the", "DT", "DET", None, None), Token("cat", "NNS", "NOUN", 4, 7),
        Token("are", "VBP", "VERB", 9, 12), Token("run", "VBG", "VERB", 13, 16)]
    with pytest.raises(NlplabError, match="choose porter or snowball"):
        english.Whitespace(stem="lancaster")


def test_tokenizer_options():
    assert load("tweet", reduce_len=True, strip_handles=True).words("@bob soooooo good") == ["sooo", "good"]
    assert load("regexp", pattern=r"[가-힣]+").words("한국어 abc 영어") == ["한국어", "영어"]
    assert load("whitespace", lang="ko").words("한국어 처리") == ["한국어", "처리"]
    with pytest.raises(NlplabError, match="does not compile"):
        english.Regexp(pattern="(")


# --- blank input ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in KOREAN + ENGLISH if n != "hannanum"])
@pytest.mark.parametrize("text", ["", "   ", " \n\t"])
def test_blank_input(tok, name, text):
    assert tok[name](text) == []
    assert tok[name].pairs(text) == []
    assert tok[name].words(text) == []


@pytest.mark.parametrize("text", ["", "   ", " \n\t"])
def test_blank_input_hannanum(tok, text):
    # Hannanum hangs on blank input natively: run it on a thread with a time limit.
    h = tok["hannanum"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        got = pool.submit(lambda: (h(text), h.pairs(text), h.words(text))).result(timeout=30)
    assert got == ([], [], [])


# --- load() ---------------------------------------------------------------------------------


def test_load_unknown_name():
    with pytest.raises(NlplabError) as e:
        load("spacy")
    assert "unknown tokenizer 'spacy'" in str(e.value)
    assert "choose one of: " + ", ".join(TOKENIZERS) in str(e.value)


def test_load_wrong_language():
    with pytest.raises(NlplabError, match=r"tokenizer 'okt' is for 'ko' text, not 'en'; for 'en' use: nltk, treebank"):
        load("okt", lang="en")
    with pytest.raises(NlplabError, match=r"'nltk' is for 'en' text, not 'ko'; for 'ko' use: regexp, whitespace, mecab"):
        load("nltk", lang="ko")
    assert load("whitespace", lang="ko").words("가 나") == ["가", "나"]


def test_load_bad_option():
    with pytest.raises(NlplabError, match=r"tokenizer 'mecab' does not take these options: .*bogus"):
        load("mecab", bogus=1)


def test_load_is_cached():
    assert load("mecab").backend is load("mecab").backend
    assert load("mecab").backend is load("mecab", lang="ko").backend
    assert load("okt", stem=True).backend is load("okt", stem=True).backend
    assert load("okt", stem=True).backend is not load("okt").backend
    assert load("mecab").name == "mecab" and load("nltk").lang == "en"


# --- coarse tags ----------------------------------------------------------------------------


@pytest.mark.parametrize("tag, table, expected", [
    ("VV+EP", SEJONG, "VERB"), ("NNG+JKS", SEJONG, "NOUN"), ("VV-R", SEJONG, "VERB"), ("VA-I", SEJONG, "ADJ"),
    ("JKS", SEJONG, "PART"), ("JX", SEJONG, "PART"), ("EF", SEJONG, "ENDING"), ("ETM", SEJONG, "ENDING"),
    ("SF", SEJONG, "PUNCT"), ("SSO", SEJONG, "PUNCT"), ("SL", SEJONG, "FOREIGN"), ("SN", SEJONG, "NUM"),
    ("NNBC", SEJONG, "NOUN"), ("NNP", SEJONG, "PROPN"), ("XSV", SEJONG, "AFFIX"), ("W_URL", SEJONG, "X"),
    ("W_EMOJI", SEJONG, "SYM"), ("Z_CODA", SEJONG, "X"), ("UNKNOWN", SEJONG, "X"), ("ZZZ", SEJONG, "X"),
    ("MDT", KKMA, "DET"), ("NNM", KKMA, "NOUN"), ("VXV", KKMA, "AUX"), ("EPH", KKMA, "ENDING"),
    ("EFN", KKMA, "ENDING"), ("JKM", KKMA, "PART"), ("OL", KKMA, "FOREIGN"), ("EMO", KKMA, "SYM"),
    ("N", HANNANUM, "NOUN"), ("P", HANNANUM, "VERB"), ("E", HANNANUM, "ENDING"), ("S", HANNANUM, "PUNCT"),
    ("Noun", OKT, "NOUN"), ("Josa", OKT, "PART"), ("PreEomi", OKT, "ENDING"), ("KoreanParticle", OKT, "INTJ"),
    ("Alpha", OKT, "FOREIGN"),
    ("NNS", PENN, "NOUN"), ("VBD", PENN, "VERB"), ("PRP$", PENN, "PRON"), ("JJR", PENN, "ADJ"),
    ("RBS", PENN, "ADV"), ("WRB", PENN, "ADV"), ("MD", PENN, "AUX"), (".", PENN, "PUNCT"), ("``", PENN, "PUNCT"),
    (",", PENN, "PUNCT"), ("$", PENN, "SYM"),
])
def test_coarse_tag(tag, table, expected):
    assert coarse_tag(tag, table) == expected


def test_coarse_tag_none():
    assert coarse_tag(None, SEJONG) is None


# --- stopwords ------------------------------------------------------------------------------


def test_builtin_stopwords():
    import stopwordsiso

    en = sw.builtin("en")
    assert len(en) == 179 and {"the", "a", "don't", "ourselves"} <= en
    ko = sw.builtin("ko")
    assert len(ko) == len(stopwordsiso.stopwords("ko")) == 679
    assert {"이", "것", "그리고"} <= ko and "아버지" not in ko
    with pytest.raises(NlplabError, match="no stopword list for language 'ja'"):
        sw.builtin("ja")


def test_korean_filter():
    f = sw.Filter("ko")
    kept = [(w, t) for w, t in [("아버지", "NOUN"), ("가", "PART"), ("었", "ENDING"), ("!", "PUNCT"), ("그리고", "CONJ"),
                                ("!!", "SYM"), ("ㅋㅋ", "SYM"), ("영화", "NOUN"), ("것", "NOUN"), ("이", "DET")]
            if f.keep(w, t)]
    assert kept == [("아버지", "NOUN"), ("ㅋㅋ", "SYM"), ("영화", "NOUN")]


def test_english_filter_is_case_insensitive():
    f = sw.Filter("en")
    assert [w for w in ["The", "cat", "IS", "!", "...", "running", "n't"] if f.keep(w, None)] == ["cat", "running", "n't"]
    assert f.keep("the", "DT") is False and f.keep("cat", "PUNCT") is True  # no tag drops for English


def test_filter_with_extra_file(tmp_path):
    extra = tmp_path / "mine.txt"
    extra.write_text("# my words\n영화\n  진짜  \n\n", encoding="utf-8")
    f = sw.Filter("ko", str(extra))
    assert {"영화", "진짜"} <= f.words and "# my words" not in f.words
    assert sw.builtin("ko") < f.words and len(f.words) == len(sw.builtin("ko") | {"영화", "진짜"})
    assert not f.keep("영화", "NOUN") and not f.keep("진짜", "ADV") and f.keep("아버지", "NOUN")
    assert sw.words("en", str(extra)) == sw.builtin("en") | {"영화", "진짜"}


def test_stopword_file_errors(tmp_path):
    with pytest.raises(NlplabError, match=r"nope\.txt: stopword file not found"):
        sw.Filter("ko", str(tmp_path / "nope.txt"))
    bad = tmp_path / "cp949.txt"
    bad.write_bytes("영화\n".encode("cp949"))
    with pytest.raises(NlplabError, match=r"cp949\.txt: byte 0: not UTF-8"):
        sw.Filter("ko", str(bad))


# --- sentences ------------------------------------------------------------------------------


def test_split_sentences_korean():
    assert split_sentences("안녕하세요. 반갑습니다 오늘 날씨가 좋네요 그렇죠?", "ko") == [
        "안녕하세요.", "반갑습니다", "오늘 날씨가 좋네요", "그렇죠?"]
    assert load("kiwi").sentences("좋아요! 또 봐요.") == ["좋아요!", "또 봐요."]


def test_split_sentences_english():
    assert split_sentences("Dr. Smith went to the U.S. He liked it.", "en") == [
        "Dr. Smith went to the U.S.", "He liked it."]


def test_split_sentences_unknown_language():
    with pytest.raises(NlplabError, match="no sentence splitter for language 'ja'; choose ko or en"):
        split_sentences("x", "ja")


# --- missing dependencies -------------------------------------------------------------------


def test_java_missing(monkeypatch):
    monkeypatch.setattr(korean.shutil, "which", lambda *a, **k: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(NlplabError) as e:
        korean.require_java()
    assert "Java (needed by KoNLPy) is not available" in str(e.value)
    assert "default-jre-headless" in str(e.value) and "--tokenizer mecab or kiwi" in str(e.value)
    with pytest.raises(NlplabError, match="default-jre-headless"):
        korean.Komoran()  # a new instance (load() would return the cached one)


def test_java_home_is_enough(monkeypatch):
    monkeypatch.setattr(korean.shutil, "which", lambda *a, **k: None)
    monkeypatch.setenv("JAVA_HOME", "/usr/lib/jvm/default-java")
    korean.require_java()


def test_nltk_data_missing(monkeypatch, tmp_path):
    import nltk

    monkeypatch.delenv("NLTK_DATA", raising=False)
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    for build in (english.NltkWord, lambda: english.Treebank(pos=True)):
        with pytest.raises(NlplabError) as e:
            build()
        assert "is not available" in str(e.value) and "nlplab setup-data" in str(e.value)
    with pytest.raises(NlplabError, match="NLTK data 'punkt_tab'.*nlplab setup-data"):
        split_sentences("One. Two.", "en")
    assert english.Treebank().words(DONT) == ["Do", "n't", "stop", "!"]  # needs no data
