"""SentencePiece training (unigram, bpe, char) with BERT's special tokens at fixed ids."""

from __future__ import annotations

from pathlib import Path

from nlplab import NlplabError

MODEL_FILE = "spm.model"


def train_spm(cfg, files: list[str], out_dir: Path) -> str | None:
    """Train spm.model into out_dir; returns a note when the default fallback did not fit."""
    try:
        _train_spm(cfg, files, out_dir)
        return None
    except NlplabError as e:
        if not (cfg.fallback_defaulted and cfg.fallback != "none" and "is too small" in str(e)):
            raise
    # a tiny vocabulary (the test fixtures' 500 pieces) cannot hold the default fallback's 256
    # byte pieces next to the corpus' characters: it trains as before the default, and says so
    fallback, cfg.fallback = cfg.fallback, "none"
    _train_spm(cfg, files, out_dir)
    return (f"--vocab-size {cfg.vocab_size} has no room for the byte pieces of --fallback {fallback} next to the corpus' "
            "characters: trained with --fallback none, so characters it lacks become [UNK]")


def _train_spm(cfg, files: list[str], out_dir: Path) -> None:
    import sentencepiece as spm

    specials = cfg.specials()
    kwargs = dict(
        input=",".join(files), model_prefix=str(out_dir / "spm"), model_type=cfg.model,
        vocab_size=cfg.vocab_size, character_coverage=cfg.character_coverage,
        input_sentence_size=cfg.input_sentence_size, shuffle_input_sentence=True,
        # jamo: bytes too, for missing characters that are not Hangul syllables (Q, ä, $)
        byte_fallback=cfg.fallback in ("byte", "jamo"), num_threads=cfg.threads,
        # [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 as control pieces, [MASK] and extras as user symbols
        # (matched whole in text, so "[MASK]" in a sentence becomes the mask id).
        pad_id=0, unk_id=1, bos_id=2, eos_id=3,
        pad_piece="[PAD]", unk_piece="[UNK]", bos_piece="[CLS]", eos_piece="[SEP]",
        user_defined_symbols=specials[4:], minloglevel=2,
        # the corpus is cleaned by nlplab; the vocabulary cannot hold more pieces than it has
        hard_vocab_limit=cfg.model != "char",
    )
    if cfg.fallback == "jamo":
        from nlplab.subword.fallback import JAMO

        kwargs["required_chars"] = JAMO  # in the vocabulary though NFC text never holds them
    if cfg.lang == "ko":
        # nmt_nfkc would turn compatibility jamo (ㅋ) into conjoining jamo (ᄏ): Korean models
        # get an NFC rule table instead, compiled into the .model (and tokenizer.json).
        kwargs["normalization_rule_tsv"] = str(write_nfc_rules(out_dir / "nfc.tsv"))
    elif cfg.lowercase:
        kwargs["normalization_rule_name"] = "nmt_nfkc_cf"
    try:
        spm.SentencePieceTrainer.train(**kwargs)
    except RuntimeError as e:
        from nlplab.subword.train import vocab_too_big

        err = vocab_too_big(str(e), cfg)
        if err:
            raise err from None
        raise NlplabError(f"SentencePiece failed: {' '.join(str(e).split())}") from None
    (out_dir / "spm.vocab").unlink(missing_ok=True)  # the .model holds the vocabulary too
    if cfg.fallback == "jamo":
        from nlplab.subword.fallback import spm_jamo_fallback

        spm_jamo_fallback(out_dir / MODEL_FILE, out_dir)
    (out_dir / "nfc.tsv").unlink(missing_ok=True)


def write_nfc_rules(path: Path) -> Path:
    path.write_text("".join(nfc_rules()), encoding="ascii")
    return path


def nfc_rules(skip: set[str] = frozenset()) -> list[str]:
    """SentencePiece normalization rules for NFC: each canonically decomposed sequence ->
    its composed character (11,172 Hangul syllables from conjoining jamo, accented Latin...),
    and every other white-space character (tab, U+3000, NBSP) -> space, as nmt_nfkc does.
    Characters in `skip` get no rule (the jamo fallback spells them out instead)."""
    import unicodedata

    rows = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        if c.isspace() and c not in " \n\r":
            rows.append(f"{cp:X}\t20\n")
            continue
        d = unicodedata.normalize("NFD", c)
        if d != c and c not in skip and unicodedata.normalize("NFC", d) == c:
            rows.append(" ".join(f"{ord(x):X}" for x in d) + f"\t{cp:X}\n")
    return rows


def read_proto(path: Path):
    from sentencepiece import sentencepiece_model_pb2 as pb

    proto = pb.ModelProto()
    proto.ParseFromString(Path(path).read_bytes())
    return proto
