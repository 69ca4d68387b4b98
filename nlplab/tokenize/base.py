"""What every tokenizer returns, and the one coarse tag set all backends map onto."""

from __future__ import annotations

from typing import NamedTuple

from nlplab import NlplabError


class Token(NamedTuple):
    """One token. `tag` is the backend's own POS tag (None when it gives none), `coarse`
    the tag mapped onto COARSE_TAGS, `start`/`end` character offsets into the text the
    tokenizer saw (None when the backend rewrites the surface, e.g. Okt's stem/norm)."""

    text: str
    tag: str | None = None
    coarse: str | None = None
    start: int | None = None
    end: int | None = None


# One tag set for every backend, close to Universal Dependencies, plus Korean PART
# (조사, particles) and ENDING (어미, verbal endings). `--pos-filter content` keeps
# CONTENT_TAGS; the Korean stopword filter drops PART, ENDING and PUNCT.
COARSE_TAGS = ("NOUN", "PROPN", "PRON", "NUM", "VERB", "ADJ", "AUX", "ADV", "DET", "INTJ", "CONJ",
               "ADP", "PART", "ENDING", "AFFIX", "PUNCT", "SYM", "FOREIGN", "X")
CONTENT_TAGS = frozenset({"NOUN", "PROPN", "VERB", "ADJ", "ADV", "NUM", "FOREIGN"})

# Sejong tag set as used by mecab-ko-dic, Komoran and Kiwi (Kiwi adds W_* and Z_* tags).
SEJONG = {
    "NNG": "NOUN", "NNB": "NOUN", "NNP": "PROPN", "NP": "PRON", "NR": "NUM",
    "VV": "VERB", "VA": "ADJ", "VX": "AUX", "VCP": "AUX", "VCN": "AUX",
    "MM": "DET", "MAG": "ADV", "MAJ": "CONJ", "IC": "INTJ",
    "J": "PART", "E": "ENDING", "XP": "AFFIX", "XS": "AFFIX", "XR": "NOUN",
    "SF": "PUNCT", "SP": "PUNCT", "SS": "PUNCT", "SE": "PUNCT", "SO": "PUNCT", "SC": "PUNCT", "SY": "SYM",
    "SW": "SYM", "SL": "FOREIGN", "SH": "FOREIGN", "SN": "NUM", "SB": "PUNCT",
    "W_URL": "X", "W_EMAIL": "X", "W_HASHTAG": "X", "W_MENTION": "X", "W_SERIAL": "NUM", "W_EMOJI": "SYM",
    "Z": "X", "USER": "X", "NF": "X", "NV": "X", "NA": "X", "UN": "X", "UNKNOWN": "X",
}
# Kkma's own refinement of Sejong (NNM, VXV, MDT, EPH, OL, ...).
KKMA = {**SEJONG, "NNM": "NOUN", "VXV": "AUX", "VXA": "AUX", "MD": "DET", "MAC": "CONJ",
        "OH": "FOREIGN", "OL": "FOREIGN", "ON": "NUM", "UN": "X",
        "EMO": "SYM"}  # emoticons (ㅋㅋ, ^^): without it the E prefix made them ENDING
# Hannanum's 9 top-level tags (konlpy's default ntags=9).
HANNANUM = {"N": "NOUN", "P": "VERB", "M": "ADV", "I": "INTJ", "J": "PART", "E": "ENDING",
            "X": "AFFIX", "S": "PUNCT", "F": "FOREIGN"}
OKT = {
    "Noun": "NOUN", "Verb": "VERB", "Adjective": "ADJ", "Adverb": "ADV", "Determiner": "DET",
    "Modifier": "DET", "Conjunction": "CONJ", "Exclamation": "INTJ", "Josa": "PART", "Eomi": "ENDING",
    "PreEomi": "ENDING", "Suffix": "AFFIX", "VerbPrefix": "AFFIX", "Punctuation": "PUNCT",
    "Number": "NUM", "Alpha": "FOREIGN", "Foreign": "FOREIGN", "KoreanParticle": "INTJ",
    "Hashtag": "X", "ScreenName": "X", "Email": "X", "URL": "X", "Unknown": "X",
}
# Penn Treebank tags from NLTK's perceptron tagger.
PENN = {
    "NN": "NOUN", "NNS": "NOUN", "NNP": "PROPN", "NNPS": "PROPN", "PRP": "PRON", "PRP$": "PRON",
    "WP": "PRON", "WP$": "PRON", "CD": "NUM", "VB": "VERB", "MD": "AUX", "JJ": "ADJ", "RB": "ADV",
    "WRB": "ADV", "DT": "DET", "PDT": "DET", "WDT": "DET", "UH": "INTJ", "CC": "CONJ", "IN": "ADP",
    "TO": "PART", "RP": "PART", "POS": "PART", "EX": "PRON", "FW": "FOREIGN", "SYM": "SYM",
    "LS": "X", "$": "SYM", "#": "SYM",
}


def coarse_tag(tag: str | None, table: dict) -> str | None:
    """Map a backend tag onto COARSE_TAGS by its longest known prefix.

    Mecab joins the tags of fused morphemes ("VV+EP", "NNG+JKS"): the first one decides.
    Kiwi marks regular/irregular verbs with a suffix ("VV-R"): it is ignored.
    """
    if tag is None:
        return None
    tag = tag.split("+", 1)[0].split("-", 1)[0]
    for n in range(len(tag), 0, -1):
        hit = table.get(tag[:n])
        if hit:
            return hit
    return "PUNCT" if not any(c.isalnum() for c in tag) else "X"


def align(text: str, pieces: list[str], tags: list, table: dict) -> list[Token]:
    """Tokens with offsets found by searching each piece left to right in `text`; a piece
    the text does not contain (a stem, a normalized form) gets no offsets."""
    out, pos = [], 0
    for piece, tag in zip(pieces, tags):
        i = text.find(piece, pos)
        if i < 0:
            out.append(Token(piece, tag, coarse_tag(tag, table)))
            continue
        pos = i + len(piece)
        out.append(Token(piece, tag, coarse_tag(tag, table), i, pos))
    return out


def missing(what: str, fix: str) -> NlplabError:
    return NlplabError(f"{what} is not available: {fix}")
