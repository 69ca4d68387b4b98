"""Vocabularies of the biLM: text -> token strings -> ids (softmax) and bytes (char CNN).

Three token encoders share one softmax vocabulary type:
- word: built from the training corpus (min count, max size), most frequent first (the
  adaptive softmax relies on that order), with <pad> <unk> <s> </s> as ids 0..3;
- char: the same word vocabulary for the softmax, and each token spelled as UTF-8 bytes
  for ELMo's char CNN, so words outside the vocabulary still get their own input vector;
- subword: the pieces of an nlplab subword folder in its id order ([PAD] [UNK] [CLS]
  [SEP] play <pad> <unk> <s> </s>).
Korean works through a Korean subword folder or `--pretokenize mecab` morphemes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import torch

from nlplab import NlplabError

SPECIALS = {"pad": "<pad>", "unk": "<unk>", "bos": "<s>", "eos": "</s>"}
SUBWORD_SPECIALS = {"pad": "[PAD]", "unk": "[UNK]", "bos": "[CLS]", "eos": "[SEP]"}
# ELMo's character ids (bilm-tf UnicodeCharsVocabulary): 256 bytes, then begin/end of
# sentence and of word, and padding; we shift everything by one so that 0 is padding.
BOW, EOW, BOS_CHAR, EOS_CHAR = 257, 258, 259, 260
N_CHARS = 261


class Vocab:
    """Token strings <-> ids, with the roles pad/unk/bos/eos."""

    def __init__(self, tokens: list[str], specials: dict, kind: str = "word", counts: list[int] | None = None):
        self.itos, self.kind, self.specials = list(tokens), kind, dict(specials)
        self.counts = counts
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        missing = [s for s in specials.values() if s not in self.stoi]
        if missing:
            raise NlplabError(f"the vocabulary has no {', '.join(missing)}; a {kind} vocabulary needs {', '.join(specials.values())}")
        self.pad, self.unk, self.bos, self.eos = (self.stoi[specials[k]] for k in ("pad", "unk", "bos", "eos"))

    def __len__(self) -> int:
        return len(self.itos)

    def id(self, token: str) -> int:
        return self.stoi.get(token, self.unk)

    @classmethod
    def build(cls, counts: dict[str, int], min_count: int = 1, max_size: int = 0) -> Vocab:
        """Most frequent first, ties in first-seen order (`counts` keeps insertion order)."""
        specials = list(SPECIALS.values())
        words = [w for w, c in sorted(counts.items(), key=lambda kv: -kv[1]) if c >= min_count and w not in specials]
        if max_size:
            words = words[: max(0, max_size - len(specials))]
        return cls(specials + words, SPECIALS, "word", [0] * len(specials) + [counts[w] for w in words])

    @classmethod
    def from_subword(cls, tok) -> Vocab:
        """The pieces of a SubwordTokenizer, in its id order."""
        pieces = [tok.hf.id_to_token(i) for i in range(tok.vocab_size)]
        return cls(pieces, SUBWORD_SPECIALS, "subword")

    def fingerprint(self) -> str:
        blob = json.dumps([self.kind, self.specials, self.itos], ensure_ascii=False).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()[:16]

    def to_json(self) -> str:
        """The run folder's vocab.json: tokens in id order, roles, counts (word vocabularies)."""
        return json.dumps({"kind": self.kind, "specials": self.specials, "fingerprint": self.fingerprint(),
                           "size": len(self), "tokens": self.itos, "counts": self.counts}, ensure_ascii=False) + "\n"

    @classmethod
    def load(cls, path) -> Vocab:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(data["tokens"], data["specials"], data["kind"], data.get("counts"))
        except FileNotFoundError:
            raise NlplabError(f"{path}: no vocabulary file; is this a run folder from `nlplab lm train`?") from None
        except (ValueError, KeyError, TypeError) as e:
            raise NlplabError(f"{path}: not a vocabulary written by `nlplab lm train` ({type(e).__name__}: {e})") from None


class TextTokenizer:
    """Lines of text -> lists of token strings: cleaning, then whitespace, an nlplab word or
    morpheme tokenizer, or the pieces of a subword folder (which applies its own cleaning
    and pre-tokenization first, as in `nlplab subword encode`)."""

    def __init__(self, clean: str = "none", pretokenize: str = "whitespace", subword: str | Path | None = None):
        from nlplab import clean as cleaning

        self.cleaner = cleaning.pipeline(clean) if clean not in (None, "none") else None
        self.subword = self.words = None
        if subword is not None:
            from nlplab.subword import SubwordTokenizer

            self.subword = SubwordTokenizer(subword)
        elif pretokenize != "whitespace":
            from nlplab import tokenize

            self.words = tokenize.load(pretokenize).words

    def __call__(self, texts: list[str]) -> list[list[str]]:
        if self.cleaner is not None:
            texts = [self.cleaner(t) for t in texts]
        if self.subword is not None:
            return self.subword.pieces_batch(texts)
        if self.words is not None:
            return [self.words(t) if t.strip() else [] for t in texts]
        return [t.split() for t in texts]


def char_ids(tokens: Iterable[str], vocab: Vocab, max_chars: int) -> torch.Tensor:
    """(n, max_chars) ELMo character ids: <bow> bytes <eow>, 0-padded; bytes past
    max_chars - 2 are cut (ELMo does the same). <s>/</s> are spelled with their own
    character, <pad> is all padding."""
    tokens = list(tokens)
    out = torch.zeros(len(tokens), max_chars, dtype=torch.long)
    special = {vocab.specials["bos"]: [BOS_CHAR], vocab.specials["eos"]: [EOS_CHAR]}
    for i, tok in enumerate(tokens):
        if tok == vocab.specials["pad"]:
            continue
        body = special.get(tok) or [b + 1 for b in tok.encode("utf-8")[: max_chars - 2]]
        row = [BOW, *body, EOW]
        out[i, : len(row)] = torch.tensor(row)
    return out
