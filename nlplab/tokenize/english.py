"""English tokenizers on NLTK: word_tokenize (punkt_tab), Treebank, Tweet, regexp, whitespace.

    nlplab tokenize corpora/en_sample.txt -o out/en.tok.txt --lang en --tokenizer tweet --pos
"""

from __future__ import annotations

import regex

from nlplab.tokenize.base import PENN, Token, align, coarse_tag, missing

NLTK_DATA_FIX = ("set NLTK_DATA to a folder that has it (CI: NLTK_DATA=../shared/data/nltk_data), "
                 "or run `nlplab setup-data --from DIR` (or online: `nlplab setup-data`)")


def require_nltk_data(resource: str, path: str) -> None:
    import nltk

    try:
        nltk.data.find(path)
    except LookupError:
        raise missing(f"NLTK data '{resource}'", NLTK_DATA_FIX) from None


class English:
    """Base class: a subclass splits text into strings (`words`); POS tags and stems are
    added here so every backend gets them the same way."""

    lang = "en"
    tag_table = PENN

    def __init__(self, pos: bool = False, stem: str | bool | None = None):
        self.pos = pos
        self._stemmer = None
        if stem:
            from nltk.stem import PorterStemmer, SnowballStemmer

            if stem in (True, "porter"):
                self._stemmer = PorterStemmer()
            elif stem == "snowball":
                self._stemmer = SnowballStemmer("english")
            else:
                raise missing(f"stemmer {stem!r}", "choose porter or snowball")
        if pos:
            require_nltk_data("averaged_perceptron_tagger_eng", "taggers/averaged_perceptron_tagger_eng/")
            from nltk.tag import PerceptronTagger

            self._tagger = PerceptronTagger()

    def split(self, text: str) -> list[str]:
        raise NotImplementedError

    def words(self, text: str) -> list[str]:
        """Token strings only: the fastest path, used when no tags are needed."""
        words = self.split(text)
        return [self._stemmer.stem(w) for w in words] if self._stemmer is not None else words

    def pairs(self, text: str) -> list[tuple[str, str | None]]:
        """(token, tag) pairs without offsets: what `preprocess` uses to filter by tag."""
        words = self.split(text)
        tags = [t for _, t in self._tagger.tag(words)] if self.pos and words else [None] * len(words)
        if self._stemmer is not None:
            words = [self._stemmer.stem(w) for w in words]
        return list(zip(words, tags))

    def tokenize(self, text: str) -> list[Token]:
        pairs = self.pairs(text)
        return align(text, [w for w, _ in pairs], [t for _, t in pairs], self.tag_table)

    def coarse(self, tag):
        return coarse_tag(tag, self.tag_table)


class NltkWord(English):
    """`nltk.word_tokenize`: punkt_tab sentence split, then the improved Treebank tokenizer.
    Note it rewrites double quotes as `` and '' (as the Penn Treebank does)."""

    name = "nltk"

    def __init__(self, **kw):
        require_nltk_data("punkt_tab", "tokenizers/punkt_tab/english/")
        super().__init__(**kw)
        from nltk.tokenize import word_tokenize

        self._tok = word_tokenize

    def split(self, text):
        return self._tok(text)


class Treebank(English):
    """NLTK's improved Treebank tokenizer on the whole text; needs no data."""

    name = "treebank"

    def __init__(self, **kw):
        super().__init__(**kw)
        from nltk.tokenize import NLTKWordTokenizer

        self._tok = NLTKWordTokenizer().tokenize

    def split(self, text):
        return self._tok(text)


class Tweet(English):
    """NLTK's TweetTokenizer: keeps emoticons, @handles, #hashtags and URLs whole."""

    name = "tweet"

    def __init__(self, preserve_case: bool = True, reduce_len: bool = False, strip_handles: bool = False, **kw):
        super().__init__(**kw)
        from nltk.tokenize import TweetTokenizer

        self._tok = TweetTokenizer(preserve_case=preserve_case, reduce_len=reduce_len,
                                   strip_handles=strip_handles).tokenize

    def split(self, text):
        return self._tok(text)


class Regexp(English):
    """Tokens are the matches of `pattern` (default: runs of word characters, or runs of
    other non-space characters)."""

    name = "regexp"

    def __init__(self, pattern: str = r"\w+|[^\w\s]+", **kw):
        super().__init__(**kw)
        try:
            self._findall = regex.compile(pattern).findall
        except regex.error as e:
            raise missing(f"regexp pattern {pattern!r}", f"it does not compile ({e})") from None

    def split(self, text):
        return self._findall(text)


class Whitespace(English):
    """Split on white space; works for any language."""

    name = "whitespace"

    def split(self, text):
        return text.split()


def sentences(text: str) -> list[str]:
    """English sentences with NLTK's punkt_tab model."""
    require_nltk_data("punkt_tab", "tokenizers/punkt_tab/english/")
    from nltk.tokenize import sent_tokenize

    return sent_tokenize(text)
