"""HF tokenizers pipelines (wordpiece, bpe, bytelevel-bpe), and the tokenizer.json +
tokenizer_config.json that make every nlplab subword folder load with
`transformers.AutoTokenizer.from_pretrained(DIR)`, SentencePiece models included."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from nlplab.subword import fallback
from nlplab.subword.spm import MODEL_FILE, read_proto

HF_FILE = "tokenizer.json"


def _unicode_normalizer(cfg):
    # NFC keeps Hangul syllables composed; NFKC also folds full-width forms (English).
    return normalizers.NFC() if cfg.lang == "ko" else normalizers.NFKC()


def _wordpiece_normalizers(cfg) -> list:
    # BERT's recipe; accents are stripped only for English uncased (stripping decomposes Hangul).
    return [normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                       strip_accents=cfg.lowercase and cfg.lang == "en", lowercase=cfg.lowercase),
            _unicode_normalizer(cfg)]


def build_pipeline(cfg) -> tuple[Tokenizer, object]:
    """An untrained tokenizer and its trainer for the tokenizers engine."""
    specials = cfg.specials()
    if cfg.model == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.Sequence(_wordpiece_normalizers(cfg))
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece(prefix="##")
        # jamo fallback: its alphabet word-initially from the start; ## forms after training
        alphabet = [p for p in fallback.wordpiece_alphabet() if not p.startswith("##")] if cfg.fallback == "jamo" else []
        trainer = trainers.WordPieceTrainer(vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency,
                                            special_tokens=specials, continuing_subword_prefix="##",
                                            initial_alphabet=alphabet)
    elif cfg.model == "bpe":
        tok = Tokenizer(models.BPE(unk_token="[UNK]", fuse_unk=True))
        steps = [_unicode_normalizer(cfg)] + ([normalizers.Lowercase()] if cfg.lowercase else [])
        tok.normalizer = normalizers.Sequence(steps)
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
        trainer = trainers.BpeTrainer(vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency,
                                      special_tokens=specials)
    else:  # bytelevel-bpe: GPT-2/RoBERTa style, every byte sequence is encodable, no [UNK]
        tok = Tokenizer(models.BPE())
        tok.normalizer = normalizers.Sequence([normalizers.NFC()] + ([normalizers.Lowercase()] if cfg.lowercase else []))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency,
                                      special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    return tok, trainer


def train_hf(cfg, files: list[str], out_dir: Path) -> None:
    tok, trainer = build_pipeline(cfg)
    tok.train(files, trainer)
    if cfg.fallback == "jamo":
        wordpiece_jamo_fallback(tok, cfg, out_dir)
    tok.save(str(out_dir / HF_FILE))


def wordpiece_jamo_fallback(tok: Tokenizer, cfg, tmp: Path) -> int:
    """Put the fallback alphabet in the trained WordPiece vocabulary (in place of its last,
    rarest merges, so the size stays) and spell syllables it cannot encode as jamo with a
    Precompiled normalizer after NFC. Returns the number of syllables spelled out."""
    vocab = tok.get_vocab(with_added_tokens=False)
    need = fallback.wordpiece_needs(vocab)
    keep = set(fallback.wordpiece_alphabet()) | set(cfg.specials())
    drop = min(len(need), max(0, len(vocab) + len(need) - cfg.vocab_size))
    order = sorted(vocab, key=vocab.get)
    for i in range(len(order) - 1, -1, -1):
        if drop == 0:
            break
        if order[i] not in keep and len(order[i].removeprefix("##")) > 1:  # a merge, never a character
            del order[i]
            drop -= 1
    order += need
    vocab = {p: i for i, p in enumerate(order)}
    tok.model = models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix="##")
    missing = fallback.wordpiece_missing(vocab)
    charsmap = fallback.compile_charsmap(fallback.spell_out_rules(missing), tmp)
    tok.normalizer = normalizers.Sequence(_wordpiece_normalizers(cfg) + [normalizers.Precompiled(charsmap)])
    return len(missing)


def from_spm(model_path: Path) -> Tokenizer:
    """The SentencePiece model as an HF tokenizer that encodes to the same ids: the model's
    own normalization table (Precompiled), SentencePiece's white-space handling, and the
    same pieces and scores (unigram, char) or merges rebuilt from them (bpe)."""
    proto = read_proto(model_path)
    spec = proto.trainer_spec
    pieces = [(p.piece, p.score) for p in proto.pieces]
    if spec.model_type == 2:  # BPE: merges ordered by piece score, as SentencePiece applies them
        from transformers.convert_slow_tokenizer import generate_merges

        vocab = {piece: i for i, (piece, _) in enumerate(pieces)}
        tok = Tokenizer(models.BPE(vocab, generate_merges(vocab, pieces), unk_token=spec.unk_piece,
                                   fuse_unk=True, byte_fallback=spec.byte_fallback))
    else:  # unigram; a char model is a unigram model over single characters
        tok = Tokenizer(models.Unigram(pieces, unk_id=spec.unk_id, byte_fallback=spec.byte_fallback))
    steps = []
    if proto.normalizer_spec.precompiled_charsmap:
        steps.append(normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap))
    # remove_extra_whitespaces: strip, and collapse runs of spaces
    steps += [normalizers.Strip(), normalizers.Replace(Regex(" {2,}"), " ")]
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    if spec.byte_fallback:
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(content=" ", left=1, right=0)])
    else:
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    return tok


def save_for_transformers(folder: Path, cfg) -> int:
    """Write tokenizer.json (converted from spm.model when there is one) with BERT's
    post-processor and special tokens, plus tokenizer_config.json. Returns the vocab size."""
    from transformers import PreTrainedTokenizerFast

    spm_path = folder / MODEL_FILE
    tok = from_spm(spm_path) if spm_path.exists() else Tokenizer.from_file(str(folder / HF_FILE))
    specials = cfg.specials()
    from tokenizers import AddedToken

    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in specials])
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=512,
                                   model_input_names=["input_ids", "token_type_ids", "attention_mask"],
                                   additional_special_tokens=specials[5:] or None)
    fast.save_pretrained(str(folder))
    return tok.get_vocab_size(with_added_tokens=True)
