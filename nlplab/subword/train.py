"""Train a subword vocabulary into a self-contained folder.

    nlplab subword train ../shared/data/nsmc/ratings_train.txt --column document -o out/ko-mecab-unigram \
        --lang ko --model unigram --vocab-size 8000 --pretokenize mecab

unigram / bpe / char train with SentencePiece (the folder keeps its `spm.model`);
wordpiece / bytelevel-bpe (and bpe with --engine tokenizers) train with HF tokenizers as a
normalizer -> pre-tokenizer -> model -> post-processor pipeline. Every folder gets a
`tokenizer.json` that `transformers.AutoTokenizer.from_pretrained(DIR)` loads as a fast
tokenizer with BERT's special tokens, and `nlplab_subword.json` (kind, sizes, pre-tokenizer,
cleaning, corpus fingerprint, the command). The folder is built in a temporary folder and
renamed at the end: a failed run leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import regex

from nlplab import NlplabError, __version__, io
from nlplab.compressed import compression
from nlplab.config import opt
from nlplab.preprocess import PreprocessConfig, Preprocessor
from nlplab.progress import Progress
from nlplab.subword.fallback import FALLBACKS

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0..4 in every vocabulary
MODELS = ("unigram", "bpe", "char", "wordpiece", "bytelevel-bpe")
ENGINE = {"unigram": "sentencepiece", "bpe": "sentencepiece", "char": "sentencepiece",
          "wordpiece": "tokenizers", "bytelevel-bpe": "tokenizers"}
PRETOKENIZERS = ("none", "whitespace", "mecab", "kiwi", "okt")
META_FILE = "nlplab_subword.json"


@dataclass
class SubwordConfig:
    corpus: list = opt(None, "corpus files (txt, tsv, csv or jsonl, also .gz/.bz2/.xz/.zst; .parquet) or corpus folders "
                       "(nlplab corpus build: the train split), read in order")
    output: str = opt(None, "output folder (must not exist, or pass --force)", flag=["-o", "--output"])
    model: str = opt("unigram", "subword model", choices=list(MODELS))
    engine: str = opt(None, "library: sentencepiece (default for unigram/bpe/char) or tokenizers (wordpiece, bytelevel-bpe)", choices=["sentencepiece", "tokenizers"])
    vocab_size: int = opt(8000, "vocabulary size, special tokens included")
    lang: str = opt(None, "language of the corpus (sets character coverage and normalization)", choices=["ko", "en"])
    pretokenize: str = opt("none", "split text before learning subwords; mecab/kiwi/okt give morpheme-aware Korean vocabularies", choices=list(PRETOKENIZERS))
    clean: str = opt("none", "cleaning applied before training and encoding: a preset (ko, en), comma-separated steps, or none")
    format: str = opt(None, "corpus format (default: from the file extension)", choices=list(io.FORMATS))
    column: str = opt(None, "tsv/csv column or jsonl key with the text")
    no_header: bool = opt(False, "tsv/csv corpus has no header row")
    special_tokens: str = opt("", "extra special tokens after BERT's [PAD] [UNK] [CLS] [SEP] [MASK], comma-separated")
    character_coverage: float = opt(None, "SentencePiece character coverage (default: 0.9995 for ko, 1.0 for en)")
    input_sentence_size: int = opt(2_000_000, "SentencePiece samples at most this many sentences from big corpora (0: all)")
    fallback: str = opt(None, "a character the vocabulary lacks becomes: byte (its UTF-8 bytes), jamo (a Hangul syllable "
                        "its conjoining jamo, other characters bytes), none ([UNK]); default: byte for --lang ko "
                        "SentencePiece, jamo for --lang ko wordpiece, none otherwise", choices=list(FALLBACKS))
    byte_fallback: bool = opt(False, "same as --fallback byte")
    lowercase: bool = opt(False, "lower-case in the tokenizer's normalizer (uncased vocabulary)")
    min_frequency: int = opt(2, "tokenizers engine: minimum pair frequency for a merge")
    threads: int = opt(os.cpu_count() or 1, "training threads")
    force: bool = opt(False, "replace an existing output folder")

    def __post_init__(self):
        if isinstance(self.corpus, str):
            self.corpus = [self.corpus]
        if not self.corpus or not self.output:
            raise NlplabError("give CORPUS file(s) and -o OUTPUT folder")
        if self.lang is None:
            if self.pretokenize in ("mecab", "kiwi", "okt"):
                self.lang = "ko"
            else:
                raise NlplabError("which language is the corpus? pass --lang ko or --lang en")
        if self.lang == "en" and self.pretokenize in ("mecab", "kiwi", "okt"):
            raise NlplabError(f"--pretokenize {self.pretokenize} splits Korean; for --lang en use none or whitespace")
        self.engine = self.engine or ENGINE[self.model]
        if self.engine == "sentencepiece" and self.model not in ("unigram", "bpe", "char"):
            raise NlplabError(f"--model {self.model} trains with tokenizers; drop --engine sentencepiece")
        if self.engine == "tokenizers" and self.model in ("unigram", "char"):
            raise NlplabError(f"--model {self.model} trains with sentencepiece; drop --engine tokenizers")
        self.fallback_defaulted = self.fallback is None and not self.byte_fallback  # not a field: not saved
        self.fallback = self._fallback()
        if self.character_coverage is None:
            self.character_coverage = 0.9995 if self.lang == "ko" else 1.0
        if not 0 < self.character_coverage <= 1:
            raise NlplabError(f"--character-coverage must be in (0, 1], got {self.character_coverage}")
        for name, low in (("input_sentence_size", 0), ("min_frequency", 0), ("threads", 1)):
            if getattr(self, name) < low:
                raise NlplabError(f"--{name.replace('_', '-')} must be at least {low}, got {getattr(self, name)}")
        extra = self._extra_tokens()
        repeated = sorted({t for t in extra if extra.count(t) > 1 or t in SPECIAL_TOKENS})
        if repeated:
            raise NlplabError(f"--special-tokens: {', '.join(repeated)} given twice (BERT's {' '.join(SPECIAL_TOKENS)} "
                              "are always there); list each extra token once")
        n_special = len(self.specials())
        if self.vocab_size <= n_special + 1:
            raise NlplabError(f"--vocab-size {self.vocab_size} leaves no room next to {n_special} special tokens")

    def _fallback(self) -> str:
        fallback = self.fallback
        if self.byte_fallback:
            if fallback not in (None, "byte"):
                raise NlplabError(f"--byte-fallback and --fallback {fallback} disagree; give one of them")
            fallback = "byte"
        if fallback is None:
            # Korean: an 8k vocabulary lacks most of the 11,172 syllables and other text holds
            # them (KorSTS dev against news comments: [UNK] in 6.1% of sentences). SentencePiece
            # gets byte, not jamo: both reach 0 [UNK] and exact round trips at the same
            # fertility (unigram 2.507 vs 2.507, bpe 2.365 vs 2.370 pieces/eojeol), but jamo
            # needs the 256 bytes as well for Q, ä, $ (67 more entries), AutoTokenizer.decode
            # gives its jamo uncomposed, and it rewrites the trained model's normalizer
            # (BENCHMARKS.md, "Unseen Hangul (issue 20)"). WordPiece holds no bytes: jamo.
            if self.lang != "ko" or self.model == "bytelevel-bpe" or (self.engine, self.model) == ("tokenizers", "bpe"):
                return "none"
            return "jamo" if self.model == "wordpiece" else "byte"
        if fallback == "none":
            return "none"
        if self.model == "bytelevel-bpe":
            raise NlplabError("--model bytelevel-bpe encodes every character as bytes already; drop --fallback")
        if self.engine == "tokenizers" and self.model == "bpe":
            raise NlplabError(f"--fallback {fallback} is for SentencePiece models and wordpiece; "
                              "drop --engine tokenizers, or use --model bytelevel-bpe")
        if fallback == "jamo" and self.lang != "ko":
            raise NlplabError("--fallback jamo spells Hangul syllables out for --lang ko; for --lang en use byte or none")
        if fallback == "byte" and self.model == "wordpiece":
            raise NlplabError("--model wordpiece has no byte pieces; use --fallback jamo (--lang ko) or none")
        return fallback

    def _extra_tokens(self) -> list[str]:
        return [t.strip() for t in self.special_tokens.split(",") if t.strip()]

    def specials(self) -> list[str]:
        return SPECIAL_TOKENS + [t for t in self._extra_tokens() if t not in SPECIAL_TOKENS]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def prepare_corpus(cfg: SubwordConfig, dest: Path, progress: bool | None = None) -> tuple[list[str], dict]:
    """The files the trainer reads, with counts and the corpus fingerprint. Plain (not
    compressed) txt with nothing to clean or pre-tokenize is read in place; otherwise every
    file (a corpus folder: its train split's shards) streams through
    cleaning and pre-tokenization into `dest`, one text per line. Blank texts are left out
    (they teach nothing) and counted."""
    proc = prepare_fn(cfg)
    layouts = [io.inspect(p, cfg.format, cfg.column, cfg.no_header) for p in cfg.corpus]
    # SentencePiece and tokenizers read plain files only: compressed txt and parquet stream
    if proc is None and all(lay.format == "txt" and not compression(lay.path) for lay in layouts):
        files = [lay.path for lay in layouts]  # a pipe's copy (io._copy), read once already
        return files, _txt_counts(files)
    digest = hashlib.sha256()
    rows = kept = chars = 0
    total = sum(io.input_size(lay) or 0 for lay in layouts)
    with dest.open("w", encoding="utf-8") as out, Progress(total, ("rows",), desc="reading corpus", enabled=progress) as bar:
        for path, layout in zip(cfg.corpus, layouts):
            # the texts themselves are hashed: a corpus folder's fingerprint is its train split's content
            digest.update(f"{Path(path).name}\0{layout.format}\0{layout.text_col}\0".encode())
            for start, payload, nbytes in io.read_chunks(layout):
                records, _, n = io.parse_chunk(layout, start, payload, "fail")
                for _, _, text in records:
                    digest.update(text.encode("utf-8"))
                    digest.update(b"\n")
                    text = proc(text) if proc else text
                    text = " ".join(text.split())  # one line per text, whatever it held
                    if text:
                        out.write(text + "\n")
                        kept += 1
                        chars += len(text)
                rows += n
                bar.update(nbytes, rows=n)
    return [str(dest)], _counts(cfg.corpus, rows, kept, chars, digest)


def _counts(corpus: list[str], rows: int, kept: int, chars: int, digest) -> dict:
    if kept == 0:
        raise NlplabError(f"{', '.join(corpus)}: no text to train on ({rows} rows, all empty after cleaning); check --column and --clean")
    return {"rows": rows, "texts": kept, "blank_rows_left_out": rows - kept, "chars": chars,
            "sha256": digest.hexdigest()}


def _txt_counts(paths: list[str]) -> dict:
    """Counts and fingerprint of txt files read in place (checked to be UTF-8)."""
    digest = hashlib.sha256()
    rows = kept = chars = 0
    for path in paths:
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                digest.update(raw)
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise io.decode_error(path, lineno, raw, e) from None
                rows += 1
                if not text.isspace():
                    kept += 1
                    chars += len(text.strip())
    return _counts(paths, rows, kept, chars, digest)


def prepare_fn(cfg):
    """The text -> text function applied before the subword model: cleaning, then the
    pre-tokenizer's tokens joined by spaces. None when there is nothing to do."""
    tokenizer = cfg.pretokenize if cfg.pretokenize != "none" else "none"
    if tokenizer == "none" and cfg.clean in (None, "none"):
        return None
    pp = Preprocessor(PreprocessConfig(lang=cfg.lang, tokenizer=tokenizer, clean=cfg.clean)).setup()

    def prepare(text: str) -> str:
        out = pp.process(text)
        return " ".join(out) if isinstance(out, list) else out

    return prepare


def train(cfg: SubwordConfig, argv: list[str] | None = None, progress: bool | None = None) -> dict:
    """Train and write the folder; returns its metadata."""
    out = Path(cfg.output)
    io.check_folder(cfg.output, cfg.corpus)
    occupied = out.is_dir() and any(out.iterdir())
    if occupied and not cfg.force:
        raise NlplabError(f"{out}: already exists; choose a new -o folder or pass --force to replace it")
    if occupied and not (out / META_FILE).is_file():  # --force replaces a subword folder, never any other
        raise NlplabError(f"{out}: not a subword folder (no {META_FILE}); --force only replaces one; choose a new -o folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial"))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp's folder is private (0700); the vocabulary is made to be shared
    try:
        t0 = time.perf_counter()
        files, corpus = prepare_corpus(cfg, tmp / "corpus.txt", progress)
        t1 = time.perf_counter()
        if cfg.engine == "sentencepiece":
            from nlplab.subword.spm import train_spm

            notes = [n for n in [train_spm(cfg, files, tmp)] if n]
        else:
            from nlplab.subword.hf import train_hf

            train_hf(cfg, files, tmp)
            notes = []
        t2 = time.perf_counter()
        (tmp / "corpus.txt").unlink(missing_ok=True)
        from nlplab.subword.hf import save_for_transformers

        vocab_size = save_for_transformers(tmp, cfg)
        meta = {
            "nlplab_version": __version__, "kind": cfg.model, "engine": cfg.engine,
            "vocab_size": vocab_size, "vocab_size_requested": cfg.vocab_size, "lang": cfg.lang,
            "pretokenize": cfg.pretokenize, "clean": cfg.clean, "lowercase": cfg.lowercase, "fallback": cfg.fallback,
            "notes": notes, "special_tokens": cfg.specials(), "corpus": {"files": [os.path.abspath(p) for p in cfg.corpus], **corpus},
            "seconds": {"prepare": round(t1 - t0, 3), "train": round(t2 - t1, 3)},
            "command": "nlplab " + " ".join(argv if argv is not None else sys.argv[1:]),
            "config": asdict(cfg),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.replace(tmp, out)
        return meta
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


_TOO_BIG = regex.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")
_TOO_SMALL = regex.compile(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)")


def vocab_too_big(message: str, cfg: SubwordConfig) -> NlplabError | None:
    """SentencePiece's vocabulary-size errors as one line that says what size works."""
    small = _TOO_SMALL.search(message)
    if small:
        fallback = f" (256 of them --fallback {cfg.fallback}'s bytes)" if cfg.fallback != "none" else ""
        return NlplabError(f"--vocab-size {cfg.vocab_size} is too small: covering {100 * cfg.character_coverage:g}% of the "
                           f"characters of {', '.join(cfg.corpus)} takes {small.group(2)} pieces{fallback}; pass --vocab-size "
                           f"{int(small.group(2)) + 1} or more, or a lower --character-coverage"
                           + (", or --fallback none" if fallback else ""))
    m = _TOO_BIG.search(message)
    if not m:
        return None
    return NlplabError(f"--vocab-size {cfg.vocab_size} is more than {', '.join(cfg.corpus)} supports for "
                       f"--model {cfg.model}; the largest workable size is {m.group(2)}: pass --vocab-size {m.group(2)} or less, or a bigger corpus")


__all__ = ["SubwordConfig", "train", "prepare_corpus", "prepare_fn", "SPECIAL_TOKENS", "META_FILE"]
