"""What a vocabulary does with a character it lacks (`--fallback byte|jamo|none`).

An 8k Korean vocabulary holds about 1,500 of the 11,172 Hangul syllables; the rest (밧, 걀,
잎, 쏜 in KorSTS against a news-comment corpus) used to become [UNK]:

- byte: SentencePiece's byte fallback: any missing character becomes its UTF-8 bytes
  (`<0xEB><0xB0><0xA7>` for 밧); 256 byte pieces sit in the vocabulary.
- jamo: a missing precomposed syllable is spelled as its conjoining jamo, its Unicode
  canonical decomposition (밧 -> ᄇ ᅡ ᆺ, U+1100-U+11C2), and the 67 modern jamo are always in
  the vocabulary; NFC composes them back. Any other missing character (Q, ä, $) still
  needs bytes, so SentencePiece models also get the byte pieces; WordPiece cannot hold
  bytes and gets printable ASCII and Latin-1 letters instead (see `wordpiece_alphabet`).

The spelling is a normalization rule compiled into the artifact itself (spm.model's
precompiled_charsmap, tokenizer.json's Precompiled normalizer), decided after training
from the syllables the vocabulary ended up with: `AutoTokenizer` encodes the same ids with
no nlplab code.
"""

from __future__ import annotations

import math
import unicodedata
from pathlib import Path

FALLBACKS = ("byte", "jamo", "none")
# the modern conjoining jamo every precomposed syllable decomposes into (Unicode ch. 3.12)
LEADING = "".join(map(chr, range(0x1100, 0x1113)))   # 19 initial consonants
VOWELS = "".join(map(chr, range(0x1161, 0x1176)))    # 21 vowels
TRAILING = "".join(map(chr, range(0x11A8, 0x11C3)))  # 27 final consonants
JAMO = LEADING + VOWELS + TRAILING
SYLLABLES = [chr(cp) for cp in range(0xAC00, 0xD7A4)]  # 가 .. 힣, all 11,172


def missing_syllables(has) -> set[str]:
    """The syllables for which `has(syllable)` is false: the ones to spell as jamo."""
    return {s for s in SYLLABLES if not has(s)}


def jamo(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def _cps(text: str) -> str:
    return " ".join(f"{ord(c):X}" for c in text)


def spell_out_rules(missing: set[str]) -> list[str]:
    """SentencePiece rule rows: each missing syllable -> its jamo. (Its decomposed input
    ᄇ ᅡ ᆺ cannot map to itself, an identity rule is refused: the NFC rule ᄇ ᅡ -> 바 then
    takes it to 바 ᆺ, also encodable and composing back to 밧.)"""
    return [f"{_cps(s)}\t{_cps(jamo(s))}\n" for s in sorted(missing)]


def compile_charsmap(rows: list[str], tmp: Path) -> bytes:
    """SentencePiece's compiled normalization table (the trie behind precompiled_charsmap)
    for these TSV rule rows. The library compiles one only while training, so a throwaway
    two-character model is trained on them (~0.1 s)."""
    import io

    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    tsv = tmp / "charsmap.tsv"
    tsv.write_text("".join(rows), encoding="ascii")
    buf = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(sentence_iterator=iter(["ab"]), model_writer=buf, model_type="char",
                                       vocab_size=3, bos_id=-1, eos_id=-1, hard_vocab_limit=False,
                                       normalization_rule_tsv=str(tsv), minloglevel=2)
    finally:
        tsv.unlink(missing_ok=True)
    proto = pb.ModelProto()
    proto.ParseFromString(buf.getvalue())
    return proto.normalizer_spec.precompiled_charsmap


def spm_jamo_fallback(model_path: Path, tmp: Path) -> int:
    """Recompile a trained Korean spm.model's normalizer so that every syllable missing from
    its pieces is spelled as jamo (pieces put there by `required_chars`). Safe after
    training: a missing character never appears inside any piece, so text the model could
    encode before encodes as before. Returns the number of syllables spelled out."""
    from nlplab.subword.spm import nfc_rules, read_proto

    proto = read_proto(model_path)
    single = {p.piece for p in proto.pieces if len(p.piece) == 1 and p.type == p.NORMAL}
    missing = missing_syllables(single.__contains__)
    assert set(JAMO) <= single, "train with required_chars=JAMO"
    low = min(p.score for p in proto.pieces if math.isfinite(p.score))
    for p in proto.pieces:
        if not math.isfinite(p.score):  # a char model scores the unseen jamo log(0): JSON cannot hold it
            p.score = low - 1
    # NFC rules for every other character; the missing syllables' own rules are replaced
    proto.normalizer_spec.precompiled_charsmap = compile_charsmap(nfc_rules(missing) + spell_out_rules(missing), tmp)
    proto.normalizer_spec.name = "nlplab_nfc_jamo_fallback"
    model_path.write_bytes(proto.SerializeToString())
    return len(missing)


def wordpiece_alphabet() -> list[str]:
    """What a Korean WordPiece vocabulary always holds, word-initial and as ##-continuations:
    the 67 jamo, printable ASCII and the Latin-1 letters (À..ÿ): the foreign characters of
    Korean text are mostly Latin (IQ, $5, Müller). WordPiece has no byte fallback: a word
    with any other missing character (Hanja, emoji, ł) is still one [UNK]."""
    latin1 = [chr(cp) for cp in range(0xC0, 0x100) if cp not in (0xD7, 0xF7)]  # × and ÷ are symbols
    chars = JAMO + "".join(map(chr, range(0x21, 0x7F))) + "".join(latin1)
    return list(chars) + ["##" + c for c in chars]


def wordpiece_needs(vocab: dict) -> list[str]:
    """Entries a trained WordPiece vocabulary must gain: the fallback alphabet, and ##X for
    each syllable X it holds only word-initially (HF's trainer adds ##X only for characters
    seen inside a word; without it a word with X inside is one [UNK])."""
    need = [p for p in wordpiece_alphabet() if p not in vocab]
    return need + ["##" + s for s in SYLLABLES if s in vocab and "##" + s not in vocab]


def wordpiece_missing(vocab: dict) -> set[str]:
    """Syllables to spell as jamo in WordPiece: those missing in either position."""
    return missing_syllables(lambda s: s in vocab and "##" + s in vocab)
