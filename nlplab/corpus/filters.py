"""The row filters of `nlplab corpus build`, each a small function of one text: it returns
None to keep the text, or the reason it is dropped (the manifest counts reasons).

    >>> length("좋아요", min_chars=5, max_chars=0, min_words=0)
    'too_short'
    >>> from nlplab.corpus.hashing import key
    >>> script_share(key("영화 good"), "Hangul")
    0.3333333333333333
"""

from __future__ import annotations

import regex

from nlplab.corpus.config import SCRIPT

_NOT_DIGIT = regex.compile(r"\P{N}+")
_NOT_IN_SCRIPT = {name: regex.compile(r"\P{%s}+" % name) for name in SCRIPT.values()}


def length(text: str, min_chars: int, max_chars: int, min_words: int) -> str | None:
    """Characters of the cleaned text, and its whitespace-separated words (eojeol)."""
    if len(text) < min_chars:
        return "too_short"
    if max_chars and len(text) > max_chars:
        return "too_long"
    if min_words and len(text.split()) < min_words:
        return "too_few_words"
    return None


def script_share(key: str, script: str) -> float | None:
    """The share of a key's letters that are in `script` (None: no letters at all). A key
    (nlplab.corpus.hashing.key) holds only letters and digits, so its letters are what is
    not a digit; counting by deletion is ten times faster than findall on each text."""
    letters = len(key) - len(_NOT_DIGIT.sub("", key))
    if not letters:
        return None
    return len(_NOT_IN_SCRIPT[script].sub("", key)) / letters


def language(key: str, lang: str, threshold: float) -> str | None:
    """Most letters in the language's script (Hangul for ko, Latin for en), counted on
    the normalized key, so punctuation, digits and emoji count for neither side."""
    if threshold <= 0:
        return None
    share = script_share(key, SCRIPT[lang])
    if share is None:
        return "no_letters"
    return None if share >= threshold else f"not_{lang}"
