"""The row filters of `nlplab corpus build`, each a small function of one text: it returns
None to keep the text, or the reason it is dropped (the manifest counts reasons).

    >>> length("좋아요", min_chars=5, max_chars=0, min_words=0)
    'too_short'
    >>> script_share("영화 good", "Hangul")
    0.2857142857142857
"""

from __future__ import annotations

import regex

from nlplab.corpus.config import SCRIPT

_LETTER = regex.compile(r"\p{L}")
_IN_SCRIPT = {name: regex.compile(r"\p{%s}" % name) for name in SCRIPT.values()}


def length(text: str, min_chars: int, max_chars: int, min_words: int) -> str | None:
    """Characters of the cleaned text, and its whitespace-separated words (eojeol)."""
    if len(text) < min_chars:
        return "too_short"
    if max_chars and len(text) > max_chars:
        return "too_long"
    if min_words and len(text.split()) < min_words:
        return "too_few_words"
    return None


def script_share(text: str, script: str) -> float | None:
    """The share of the text's letters that are in `script` (None: no letters at all).
    Digits, punctuation and spaces are not letters and count for neither side."""
    letters = len(_LETTER.findall(text))
    if not letters:
        return None
    return len(_IN_SCRIPT[script].findall(text)) / letters


def language(text: str, lang: str, threshold: float) -> str | None:
    """Most letters in the language's script (Hangul for ko, Latin for en)."""
    if threshold <= 0:
        return None
    share = script_share(text, SCRIPT[lang])
    if share is None:
        return "no_letters"
    return None if share >= threshold else f"not_{lang}"
