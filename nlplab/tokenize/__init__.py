"""Word and morpheme tokenizers behind one interface, plus stopwords and sentence splitting.

    >>> from nlplab.tokenize import load
    >>> [t.text for t in load("mecab")("아버지가 방에 들어가신다")]
    ['아버지', '가', '방', '에', '들어가', '신다']

`load(name)` returns a tokenizer that is built once per process and reused. Calling it
gives `Token`s (text, tag, coarse tag, offsets); `.pairs(text)` gives (token, tag) pairs
without offsets, the fast path `preprocess` uses.
"""

from __future__ import annotations

from functools import cache

from nlplab import NlplabError
from nlplab.tokenize import english, korean
from nlplab.tokenize.base import COARSE_TAGS, CONTENT_TAGS, Token

__all__ = ["TOKENIZERS", "DEFAULT", "load", "split_sentences", "Token", "COARSE_TAGS", "CONTENT_TAGS"]

# name -> class. Languages: each class has `lang`; "whitespace" and "regexp" work for both.
TOKENIZERS = {
    "nltk": english.NltkWord,
    "treebank": english.Treebank,
    "tweet": english.Tweet,
    "regexp": english.Regexp,
    "whitespace": english.Whitespace,
    "mecab": korean.Mecab,
    "kiwi": korean.Kiwi,
    "okt": korean.Okt,
    "komoran": korean.Komoran,
    "kkma": korean.Kkma,
    "hannanum": korean.Hannanum,
}
DEFAULT = {"en": "nltk", "ko": "mecab"}
ANY_LANGUAGE = {"whitespace", "regexp"}


@cache
def _build(name: str, options: tuple):
    return TOKENIZERS[name](**dict(options))


def load(name: str, lang: str | None = None, **options):
    """The tokenizer `name`, built once per process for each set of options."""
    if name not in TOKENIZERS:
        raise NlplabError(f"unknown tokenizer {name!r}; choose one of: {', '.join(TOKENIZERS)}")
    cls = TOKENIZERS[name]
    if lang and cls.lang != lang and name not in ANY_LANGUAGE:
        ours = ", ".join(n for n, c in TOKENIZERS.items() if c.lang == lang or n in ANY_LANGUAGE)
        raise NlplabError(f"tokenizer {name!r} is for {cls.lang!r} text, not {lang!r}; for {lang!r} use: {ours}")
    try:
        tok = _build(name, tuple(sorted(options.items())))
    except TypeError as e:
        raise NlplabError(f"tokenizer {name!r} does not take these options: {e}") from None
    return _Callable(tok)


class _Callable:
    """Makes `tok(text)` mean `tok.tokenize(text)` while keeping the backend's methods."""

    def __init__(self, backend):
        self.backend = backend

    def __call__(self, text: str) -> list[Token]:
        return self.backend.tokenize(text)

    def __getattr__(self, item):
        return getattr(self.backend, item)


def split_sentences(text: str, lang: str) -> list[str]:
    """Sentences: NLTK punkt_tab for English, Kiwi for Korean."""
    if lang == "en":
        return english.sentences(text)
    if lang == "ko":
        return load("kiwi").sentences(text)
    raise NlplabError(f"no sentence splitter for language {lang!r}; choose ko or en")
