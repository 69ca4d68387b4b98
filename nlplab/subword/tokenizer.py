"""Load an nlplab subword folder and encode/decode with it.

    >>> tok = SubwordTokenizer.from_dir("out/ko-mecab-unigram")
    >>> tok.pieces("아버지가 방에 들어가신다")     # cleaning + Mecab applied first, as in training

SentencePiece folders encode with the native `spm.model`; the others with tokenizer.json.
Both give the same ids as `AutoTokenizer.from_pretrained(DIR)` on the same input, but only
nlplab applies the folder's cleaning and morpheme pre-tokenization (a tokenizer.json cannot
call Mecab): with a morpheme-aware folder, give AutoTokenizer pre-split text.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from types import SimpleNamespace

from nlplab import NlplabError
from nlplab.subword.hf import HF_FILE
from nlplab.subword.spm import MODEL_FILE
from nlplab.subword.train import META_FILE, prepare_fn


class SubwordTokenizer:
    def __init__(self, folder: str | Path):
        folder = Path(folder)
        meta_path = folder / META_FILE
        if not folder.is_dir():
            raise NlplabError(f"{folder}: no such folder; train one with `nlplab subword train CORPUS -o {folder}`")
        if not meta_path.exists() or not (folder / HF_FILE).exists():
            raise NlplabError(f"{folder}: not an nlplab subword folder (no {META_FILE} or {HF_FILE}); "
                              "train one with `nlplab subword train`")
        self.folder = folder
        self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        from tokenizers import Tokenizer

        self.hf = Tokenizer.from_file(str(folder / HF_FILE))
        self.sp = None
        if (folder / MODEL_FILE).exists():
            import sentencepiece as spm

            self.sp = spm.SentencePieceProcessor(model_file=str(folder / MODEL_FILE))
        self.prepare = prepare_fn(SimpleNamespace(lang=self.meta["lang"], pretokenize=self.meta["pretokenize"],
                                                  clean=self.meta["clean"]))
        config = self.meta.get("config", {})  # folders from before --fallback: byte or none
        self.fallback = self.meta.get("fallback") or ("byte" if config.get("byte_fallback") else "none")
        self.unk_id = self.hf.token_to_id("[UNK]")
        self.vocab_size = self.hf.get_vocab_size(with_added_tokens=True)

    @classmethod
    def from_dir(cls, folder: str | Path) -> SubwordTokenizer:
        return cls(folder)

    def _prep(self, texts: list[str]) -> list[str]:
        return [self.prepare(t) for t in texts] if self.prepare else texts

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Ids of each text, without [CLS]/[SEP] (AutoTokenizer adds them)."""
        texts = self._prep(texts)
        if self.sp is not None:
            return self.sp.encode(texts)
        return [e.ids for e in self.hf.encode_batch(texts, add_special_tokens=False)]

    def pieces_batch(self, texts: list[str]) -> list[list[str]]:
        texts = self._prep(texts)
        if self.sp is not None:
            return self.sp.encode(texts, out_type=str)
        return [e.tokens for e in self.hf.encode_batch(texts, add_special_tokens=False)]

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def pieces(self, text: str) -> list[str]:
        return self.pieces_batch([text])[0]

    def decode(self, ids: list[int]) -> str:
        text = self.sp.decode(ids) if self.sp is not None else self.hf.decode(ids, skip_special_tokens=True)
        return self._compose(text)

    def _compose(self, text: str) -> str:
        # jamo fallback: the model spells a syllable it lacks as conjoining jamo (ᄇ ᅡ ᆺ); NFC
        # gives the syllable back (밧). AutoTokenizer.decode leaves the jamo, which render alike.
        return unicodedata.normalize("NFC", text) if self.fallback == "jamo" else text

    def piece_ids(self, pieces: list[str]) -> list[int]:
        ids = [self.hf.token_to_id(p) for p in pieces]
        return [self.unk_id if i is None else i for i in ids]

    def normalized(self, text: str) -> str:
        """The text as the subword model sees it (after nlplab's preparation and the
        tokenizer's own normalizer), jamo fallback composed back as `decode` does:
        `decode(encode(x)) == normalized(x)` whenever x encodes without [UNK]."""
        text = self.prepare(text) if self.prepare else text
        if self.sp is not None:  # SentencePiece's own normalizer (HF's Precompiled differs on rare characters)
            return self._compose(self.sp.normalize(text).replace("▁", " ").strip())
        return self._compose(self.hf.normalizer.normalize_str(text) if self.hf.normalizer else text)

    def vocab_chars(self) -> set[str] | None:
        """Characters the vocabulary holds (None for byte-level models, which cover all)."""
        if self.meta["kind"] == "bytelevel-bpe":
            return None
        chars = set()
        for piece in self.hf.get_vocab(with_added_tokens=False):
            if piece.startswith("<0x") and piece.endswith(">"):
                continue  # byte-fallback pieces
            chars.update(piece.removeprefix("##").replace("▁", ""))
        return chars


class SubwordEncoder:
    """A picklable text -> pieces (or ids) callable for `preprocess.run`'s workers."""

    def __init__(self, folder: str, ids: bool = False):
        self.folder, self.ids, self._tok = folder, ids, None

    def __getstate__(self):
        return {"folder": self.folder, "ids": self.ids, "_tok": None}

    def __call__(self, text: str) -> list[str]:
        if self._tok is None:
            self._tok = SubwordTokenizer(self.folder)
        if self.ids:
            return [str(i) for i in self._tok.encode(text)]
        return self._tok.pieces(text)
