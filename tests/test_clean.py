"""nlplab.clean: every step on crafted inputs (literal outputs), the ko/en presets end to
end, pipeline() parsing and errors, and hypothesis properties (no exception, str out,
idempotent) for every step and both presets."""

import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nlplab import NlplabError, clean
from nlplab.clean import (
    NFC,
    NFKC,
    PRESETS,
    STEPS,
    Control,
    Email,
    Emoji,
    Hashtag,
    Html,
    Jamo,
    KeepScripts,
    Lowercase,
    Mention,
    Numbers,
    Sequence,
    Squeeze,
    Url,
    Whitespace,
    pipeline,
)

# --- one test (or more) per step --------------------------------------------------------


def test_nfc_composes_nfd_hangul():
    nfd = unicodedata.normalize("NFD", "한국어")
    assert len(nfd) == 8 and nfd != "한국어"
    assert NFC()(nfd) == "한국어"
    assert NFC()("ㅋㅋ 재밌다") == "ㅋㅋ 재밌다"  # compatibility jamo are left alone


def test_nfkc_folds_full_width():
    assert NFKC()("ＡＢＣ１２３") == "ABC123"
    assert NFKC()("ㅋ") == "\u110f"  # why the ko preset uses NFC, not NFKC


@pytest.mark.parametrize("text, expected", [
    ("<b>정말</b> 재밌다&amp;", "정말 재밌다&"),
    ("&amp;lt;b&amp;gt;x", "x"),  # doubly escaped: unescaped, then the tag removed
    ("a<script>var x = '<b>';</script>b<style>p {}</style>c", "a b c"),
    ("a<br>b<p>c</p>", "a b c "),  # block tags separate words
    ("재<b>밌</b>다", "재밌다"),  # inline tags do not
    ("<!-- hi -->x", " x"),
    ("it&#39;s &quot;ok&quot;", "it's \"ok\""),
    ("5 < 6 & 7 > 3", "5 < 6 & 7 > 3"),  # not tags, not entities
    ("plain", "plain"),
])
def test_html(text, expected):
    assert Html()(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("see http://x.com/a.", "see  ."),  # trailing punctuation stays
    ("go https://a.b/c?d=1, now", "go  , now"),
    ("(http://x.com/a)", "( )"),
    ("www.naver.com!", " !"),
    ("FTP://files.x.org/f.zip", " "),
    ("자세한건https://x.com 참고", "자세한건  참고"),  # glued to Hangul
    ("awww.x.com", "awww.x.com"),  # glued to a Latin letter: not a URL
    ("no url here.", "no url here."),
])
def test_url(text, expected):
    assert Url()(text) == expected


def test_url_replace():
    assert Url(replace="[URL]")("see http://x.com/a.") == "see  [URL] ."


def test_email():
    assert Email()("mail me: kim.a+b@example.co.kr.") == "mail me:  ."
    assert Email(replace="[EMAIL]")("a@b.com") == " [EMAIL] "
    assert Email()("user@localhost") == "user@localhost"  # needs a dot in the domain


def test_mention():
    assert Mention()("@bob hi kim@example.com @alice_1!") == "  hi kim@example.com  !"
    assert Mention(replace="[USER]")("hi @bob") == "hi  [USER] "
    assert Mention()("감사합니다@kim_01 님") == "감사합니다  님"
    assert Mention()("@a@b x") == "  x"  # a chain is one mention
    assert Mention()("a @ b") == "a @ b"


def test_hashtag_modes():
    text = "맛집 #서울맛집 #food!"
    assert Hashtag()(text) == "맛집  서울맛집  food!"
    assert Hashtag(mode="keep-text")(text) == "맛집  서울맛집  food!"
    assert Hashtag(mode="remove")(text) == "맛집    !"
    assert Hashtag(mode="replace")(text) == "맛집  [HASHTAG]   [HASHTAG] !"
    assert Hashtag(mode="replace", replace="<H>")("a #b") == "a  <H> "


def test_hashtag_chains():
    assert Hashtag()("오늘#맛집#서울") == "오늘 맛집 서울"
    assert Hashtag(mode="remove")("#a#b c") == "  c"
    assert Hashtag(mode="replace")("#a#b") == " [HASHTAG] [HASHTAG] "


def test_hashtag_ignores_entities_and_words():
    for mode in ("keep-text", "remove", "replace"):
        assert Hashtag(mode=mode)("it&#39;s &#x27;q&#x27; a#b C# ##") == "it&#39;s &#x27;q&#x27; a#b C# ##"


def test_hashtag_bad_mode():
    with pytest.raises(NlplabError, match="keep-text, remove, replace"):
        Hashtag(mode="drop")


def test_emoji():
    text = "좋아요👍🏽 가족👨\u200d👩\u200d👧\u200d👦 국기🇰🇷 ok❤️ 😀😀 끝"
    # each emoji (with its modifier, ZWJ parts, flag pair) becomes one space; 🇰🇷 is two
    assert Emoji()(text) == "좋아요  가족  국기   ok    끝"
    assert Emoji()("\U0001F3FD") == " "  # a lone skin-tone modifier
    assert Emoji()("plain text 한글 ㅋㅋ 123 #*!") == "plain text 한글 ㅋㅋ 123 #*!"


@pytest.mark.parametrize("n, expected", [
    (1, "ㅋ ! so"),
    (2, "ㅋㅋ !! soo"),
    (3, "ㅋㅋㅋ !!! sooo"),
])
def test_squeeze(n, expected):
    assert Squeeze(max_repeat=n)("ㅋㅋㅋㅋㅋ !!!!! sooooo") == expected


def test_squeeze_default_and_bad_value():
    assert Squeeze()("ㅋㅋㅋㅋㅋ ㅋㅋ") == "ㅋㅋ ㅋㅋ"
    for bad in (0, -1, 1.5, "2"):
        with pytest.raises(NlplabError, match="max_repeat"):
            Squeeze(max_repeat=bad)


def test_jamo_modes():
    text = "재밌어요ㅋㅋㅋ 최고ㅠㅠ"
    assert Jamo()(text) == "재밌어요 ㅋㅋㅋ 최고 ㅠㅠ"
    assert Jamo(mode="split")(text) == "재밌어요 ㅋㅋㅋ 최고 ㅠㅠ"
    assert Jamo(mode="remove")(text) == "재밌어요  최고 "
    assert Jamo(mode="keep")(text) == text
    assert Jamo()("ㅋㅋ") == "ㅋㅋ"


def test_jamo_leaves_conjoining_jamo_alone():
    nfd = unicodedata.normalize("NFD", "재밌어요 최고")
    for mode in ("split", "remove", "keep"):
        assert Jamo(mode=mode)(nfd) == nfd


def test_keep_scripts():
    text = "한국어 English 123, 漢字 ひらがな!"
    assert KeepScripts()(text) == "한국어 English 123,    !"
    assert KeepScripts(punct=False)(text) == "한국어 English 123     "
    assert KeepScripts(scripts=["Hangul", "Han"])(text) == "한국어   123, 漢字  !"
    assert KeepScripts(scripts="Hangul")("한국어 English") == "한국어  "


def test_keep_scripts_unknown_script():
    with pytest.raises(NlplabError, match="Klingon"):
        KeepScripts(scripts=["Hangul", "Klingon"])


def test_numbers():
    text = "12,000원 2024.05.01"
    assert Numbers()(text) == "00,000원 0000.00.00"
    assert Numbers(mode="replace")(text) == " [NUM] 원  [NUM] "
    assert Numbers(mode="replace", replace="<n>")("v2") == "v <n> "


def test_control():
    assert Control()("a\u200bb\ufeffc\td\ne\x00f\u200fg") == "abc\td\nefg"
    assert Control()("\ufeff안녕") == "안녕"


def test_whitespace():
    assert Whitespace()("  a \t b\n\nc\u3000d\xa0e  ") == "a b c d e"
    assert Whitespace()(" \n\t ") == ""


def test_lowercase():
    assert Lowercase()("Hello WORLD Ünï 한국") == "hello world ünï 한국"


# --- presets ------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("<p>이 영화 정말 재밌어요ㅋㅋㅋㅋㅋ!!!!!</p> 👍🏽 https://movie.naver.com/x?id=1 #영화#추천",
     "이 영화 정말 재밌어요 ㅋㅋ !! 영화 추천"),
    ("@kim_01 님 감사합니다ㅠㅠ 문의: help@example.co.kr 漢字는 빼고 ひらがな도",
     "님 감사합니다 ㅠㅠ 문의: 는 빼고 도"),
    ("\ufeff최고\u200b의   작품&amp;  배우들\t연기도 좋고\n음악도 😍😍",
     "최고의 작품& 배우들 연기도 좋고 음악도"),
    (unicodedata.normalize("NFD", "자세한건www.x.com 참고"), "자세한건 참고"),
    ("<b>재밌어요</b>ㅋㅋㅋㅋ!!!!", "재밌어요 ㅋㅋ !!"),
    ("😍😍", ""),
])
def test_ko_preset(text, expected):
    assert pipeline("ko")(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("<b>Soooooo</b> GOOD!!!! http://x.com 😍", "sooo good!!!"),
    ("@Bob check www.example.com/page?id=1, it&#39;s AMAZING #MustWatch", "check , it's amazing mustwatch"),
    ("Ｆｕｌｌ-width ＴＥＸＴ&hellip; mail me: Bob.Smith+x@Mail.com \u200b  ok", "full-width text... mail me: ok"),
    ("Caf&eacute; &trade; x&sup2; co&shy;operate", "café tm x2 cooperate"),
])
def test_en_preset(text, expected):
    assert pipeline("en")(text) == expected


def test_none_preset():
    assert pipeline("none")(" <b>x</b> ") == " <b>x</b> "
    assert pipeline(None)("x") == "x"


# --- pipeline() ---------------------------------------------------------------------------


def test_pipeline_from_preset_name():
    seq = pipeline("ko")
    assert isinstance(seq, Sequence)
    assert [type(s) for s in seq.steps] == [NFC, Control, Html, NFC, Url, Email, Mention, Hashtag, Emoji,
                                           Squeeze, Jamo, KeepScripts, Whitespace]
    assert seq.steps[9] == Squeeze(max_repeat=2)
    assert pipeline(seq) is seq


def test_pipeline_from_comma_list():
    seq = pipeline(" nfc, html ,whitespace,")
    assert seq.steps == [NFC(), Html(), Whitespace()]
    assert seq("<b>a</b>   b") == "a b"


def test_pipeline_from_yaml_list():
    seq = pipeline(["nfc", {"squeeze": {"max_repeat": 3}}, ["hashtag", {"mode": "remove"}], ("jamo", None)])
    assert seq.steps == [NFC(), Squeeze(max_repeat=3), Hashtag(mode="remove"), Jamo()]
    assert seq("ㅋㅋㅋㅋㅋ #tag") == "ㅋㅋㅋ  "


def test_pipeline_unknown_step():
    with pytest.raises(NlplabError) as e:
        pipeline("nfc,bogus")
    assert "'bogus'" in str(e.value) and "presets: ko, en, none" in str(e.value)
    assert "steps: " + ", ".join(STEPS) in str(e.value)
    with pytest.raises(NlplabError, match=r"unknown cleaning step 'bogus'; known steps: nfc, nfkc, html"):
        pipeline(["nfc", "bogus"])


def test_pipeline_unknown_option():
    with pytest.raises(NlplabError, match=r"'squeeze' has no option max; its options: max_repeat"):
        pipeline([{"squeeze": {"max": 3}}])
    with pytest.raises(NlplabError, match=r"'nfc' has no option x; its options: none"):
        pipeline([["nfc", {"x": 1}]])
    with pytest.raises(NlplabError, match="written as"):
        pipeline([{"nfc": {}, "html": {}}])


def test_trace_has_one_entry_per_step():
    seq = pipeline("ko")
    trace = seq.trace("<b>재밌어요ㅋㅋㅋㅋ</b>")
    assert len(trace) == len(seq.steps) == len(PRESETS["ko"])
    assert [name for name, _ in trace] == ["nfc", "control", "html", "nfc", "url", "email", "mention", "hashtag",
                                           "emoji", "squeeze", "jamo", "keep_scripts", "whitespace"]
    assert trace[2] == ("html", "재밌어요ㅋㅋㅋㅋ")
    assert trace[9] == ("squeeze", "재밌어요ㅋㅋ")
    assert trace[10] == ("jamo", "재밌어요 ㅋㅋ")
    assert trace[-1][1] == seq("<b>재밌어요ㅋㅋㅋㅋ</b>")


@pytest.mark.parametrize("preset, step, text, once, cleaned", [
    ("en", "control", "a&shy;b", "a\u00adb", "ab"),  # the soft hyphen comes out of html
    ("en", "nfkc", "&#xFF21;", "\uff41", "a"),  # full-width Ａ, lower-cased but not folded
    ("ko", "nfc", "\u1100<b>\u1161", "\u1100\u1161", "\uac00"),  # the tag kept the jamo apart: 가
])
def test_a_presets_second_run_of_a_step_is_needed(preset, step, text, once, cleaned):
    """A preset runs nfc/nfkc and control again after html: without that second run the preset
    is not idempotent (a second pass changes the text), and the page says why on that row."""
    steps = list(PRESETS[preset])
    second = [i for i, s in enumerate(steps) if s == step][1]
    without = pipeline(steps[:second] + steps[second + 1:])
    assert without(text) == once and without(once) != once
    full = pipeline(preset)
    assert full(text) == full(full(text)) == cleaned
    assert clean.why_again(full, second) == clean.AGAIN[step] and clean.why_again(full, steps.index(step)) is None
    assert clean.AGAIN["control"] == "again after html: an entity can unescape to a format character (&shy; -> U+00AD)"
    assert [clean.why_again(full, i) is not None for i in range(len(steps))].count(True) == (2 if preset == "en" else 1)


def test_spec_round_trips():
    assert pipeline("en").spec() == ["nfkc", "control", "html", "control", "nfkc", "lowercase",
                                     ["squeeze", {"max_repeat": 3}], "url", "email", "mention", "hashtag",
                                     "emoji", "whitespace"]
    custom = [{"keep_scripts": {"scripts": ["Hangul"], "punct": False}}, {"hashtag": {"mode": "replace", "replace": "<H>"}},
              {"numbers": {"mode": "replace"}}, "whitespace"]
    assert pipeline(custom).spec() == [["keep_scripts", {"scripts": ["Hangul"], "punct": False}],
                                       ["hashtag", {"mode": "replace", "replace": "<H>"}],
                                       ["numbers", {"mode": "replace"}], "whitespace"]
    for spec in ("ko", "en", custom):
        seq = pipeline(spec)
        again = pipeline(seq.spec())
        assert again.steps == seq.steps
        assert again.spec() == seq.spec()


# --- properties ---------------------------------------------------------------------------

EMOJI = ["😀", "👍🏽", "👨\u200d👩\u200d👧\u200d👦", "🇰🇷", "❤️", "🤣", "1\ufe0f\u20e3"]
FRAGMENTS = ["<b>", "</b>", "<br>", "<p>", "<script>", "</script>", "<!--", "-->", "&amp;", "&lt;", "&gt;", "&#",
             "&#39;", "&hellip;", ";", "&", "<", ">", "http://", "https://x.co/a", "www.", "x.com", ".", ",", "!",
             "?", ")", "@", "#", "_", "/", ":", "\u200b", "\ufeff", "ㅋㅋㅋ", "ㅠㅠ", "!!!", "ooo"]
PIECES = st.one_of(
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),  # Hangul syllables
    st.characters(min_codepoint=0x3131, max_codepoint=0x318E),  # compatibility jamo
    st.sampled_from(EMOJI),
    st.sampled_from(FRAGMENTS),
    st.characters(min_codepoint=ord("0"), max_codepoint=ord("9")),
    st.characters(min_codepoint=ord("a"), max_codepoint=ord("z")),
    st.sampled_from([" ", "  ", "\t", "\n", "\u3000", "\xa0"]),
    st.sampled_from(["漢", "ひ", "Ж", "\u0301", "\u1100", "\u1161", "ＡＢ", "１", "A"]),
)
MIXED = st.lists(PIECES, max_size=30).map("".join)
TEXT = st.one_of(st.text(), MIXED)

STEP_INSTANCES = [cls() for cls in STEPS.values()] + [
    Url(replace="[URL]"), Mention(replace="[USER]"), Email(replace="[EMAIL]"),
    Hashtag(mode="remove"), Hashtag(mode="replace"), Jamo(mode="remove"), Jamo(mode="keep"),
    Numbers(mode="replace"), Squeeze(max_repeat=1), Squeeze(max_repeat=3),
    KeepScripts(scripts=["Hangul", "Han"], punct=False),
]
# Found while writing these tests; each once broke idempotency (see nlplab/clean.py).
REGRESSIONS = ["@a@b", "#a#b", "ㅋㅋ@bob", "\u0300@0", "漢@bob", "ㅋ#a", "wwww.a", "AAAa", "&hellip;",
               "&#8203;x", "&#0\uff10", "&\u200bamp;", "\u1100<b>\u1161", "\u1100\u200b\u1161"]


def check_idempotent(f, text):
    once = f(text)
    assert isinstance(once, str)
    assert f(once) == once, (text, once, f(once))


@pytest.mark.parametrize("step", STEP_INSTANCES, ids=repr)
@settings(max_examples=300, deadline=None)
@given(text=TEXT)
def test_step_is_total_and_idempotent(step, text):
    check_idempotent(step, text)


@pytest.mark.parametrize("step", STEP_INSTANCES, ids=repr)
@pytest.mark.parametrize("text", REGRESSIONS)
def test_step_idempotent_on_regressions(step, text):
    check_idempotent(step, text)


@pytest.mark.parametrize("preset", ["ko", "en"])
@settings(max_examples=300, deadline=None)
@given(text=TEXT)
@example(text="ㅋㅋ@bob 뭐해")
@example(text="<b>Soooooo</b> GOOD!!!! wwww.x.com")
def test_preset_is_idempotent(preset, text):
    check_idempotent(pipeline(preset), text)


@pytest.mark.parametrize("preset", ["ko", "en"])
@pytest.mark.parametrize("text", REGRESSIONS)
def test_preset_idempotent_on_regressions(preset, text):
    check_idempotent(pipeline(preset), text)
