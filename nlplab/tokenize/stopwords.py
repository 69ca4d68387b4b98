"""Stopword lists and the filter that applies them.

    nlplab stopwords --lang ko

English: NLTK's stopwords corpus. Korean: stopwords-iso's list (stopwordsiso) plus
POS-based removal of particles (J*), endings (E*) and punctuation. A user file (one
word per line, '#' comments) is merged into either.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import regex

from nlplab import NlplabError
from nlplab.tokenize.english import require_nltk_data

# Coarse tags the Korean filter drops whatever the word (see base.COARSE_TAGS).
KO_DROP_TAGS = frozenset({"PART", "ENDING", "PUNCT"})
_PUNCT_ONLY = regex.compile(r"^[\p{P}\p{S}]+$")


@cache
def builtin(lang: str) -> frozenset[str]:
    if lang == "en":
        require_nltk_data("stopwords", "corpora/stopwords/english")
        from nltk.corpus import stopwords

        return frozenset(stopwords.words("english"))
    if lang == "ko":
        import stopwordsiso

        return frozenset(stopwordsiso.stopwords("ko"))
    raise NlplabError(f"no stopword list for language {lang!r}; choose ko or en")


def read_file(path: str) -> set[str]:
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise NlplabError(f"{path}: stopword file not found; give a UTF-8 file with one word per line") from None
    except UnicodeDecodeError as e:
        raise NlplabError(f"{path}: byte {e.start}: not UTF-8; re-encode it (iconv -f cp949 -t utf-8)") from None
    return {w.strip() for w in lines if w.strip() and not w.lstrip().startswith("#")}


def words(lang: str, extra_file: str | None = None) -> frozenset[str]:
    """The active list: the built-in one plus the user's file."""
    return builtin(lang) | read_file(extra_file) if extra_file else builtin(lang)


class Filter:
    """Drops stopwords, punctuation-only tokens, and for Korean particles/endings by tag."""

    def __init__(self, lang: str, extra_file: str | None = None):
        self.words = words(lang, extra_file)
        self.drop_tags = KO_DROP_TAGS if lang == "ko" else frozenset()
        self.lower = lang == "en"

    def keep(self, token: str, coarse: str | None) -> bool:
        if coarse in self.drop_tags:
            return False
        if (token.lower() if self.lower else token) in self.words:
            return False
        return not _PUNCT_ONLY.match(token)
