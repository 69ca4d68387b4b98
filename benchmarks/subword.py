"""Benchmark: `nlplab subword` against calling sentencepiece / tokenizers directly, side by
side in one run, plus a fertility / UNK table for Korean and English across model kinds.

    .venv/bin/python benchmarks/subword.py            # full run (~25 min on 2 cores)
    .venv/bin/python benchmarks/subword.py --quick    # small slices, smoke run

Data (../shared/data): English = WikiText-2 train (train.reordered.txt, 36,718 lines) for
training and its test file for stats; Korean = NSMC ratings_train documents (150,000) for
training and ratings_test (50,000) for stats. Both sides read the same plain text file.

Training: in-process wall time of `nlplab.subword.train` (corpus pass, training, writing
tokenizer.json/AutoTokenizer files) against the library's own trainer with the same
settings, interleaved; median of up to `--train-repeats` runs (fewer for trainings over
`--train-budget` seconds: the table says how many).
Encoding: sentences/s of `SubwordTokenizer.encode_batch` against `sp.encode(list)` /
`Tokenizer.encode_batch(list)` with the same trained model loaded by the bare library, on
the same texts, median of `--repeats` runs; the ids must be identical.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NLPLAB_SHARED", ROOT.parent / "shared" / "data"))
KINDS = [("unigram", "none"), ("bpe", "none"), ("wordpiece", "none"), ("bytelevel-bpe", "none")]
KO_EXTRA = [("unigram", "mecab")]  # morpheme-aware Korean


def texts_of(lang: str, split: str, limit: int | None) -> list[str]:
    from nlplab import io

    if lang == "en":
        path = SHARED / "wikitext-2" / ("train.reordered.txt" if split == "train" else "test.txt")
        texts = [t.strip() for t in path.read_text(encoding="utf-8").splitlines()]
    else:
        path = SHARED / "nsmc" / f"ratings_{split}.txt"
        texts = [" ".join(t.split()) for t in io.iter_texts(io.inspect(str(path), "tsv", "document"))]
    texts = [t for t in texts if t]
    return texts[:limit] if limit else texts


def direct_train(kind: str, lang: str, vocab: int, corpus: Path, out: Path):
    """What a user writes with the library alone, same settings as nlplab."""
    if kind in ("unigram", "bpe"):
        import sentencepiece as spm

        from nlplab.subword.spm import write_nfc_rules  # the same NFC table nlplab compiles in

        spm.SentencePieceTrainer.train(
            input=str(corpus), model_prefix=str(out / "spm"), model_type=kind, vocab_size=vocab,
            character_coverage=0.9995 if lang == "ko" else 1.0, input_sentence_size=2_000_000,
            shuffle_input_sentence=True, num_threads=os.cpu_count(), pad_id=0, unk_id=1, bos_id=2, eos_id=3,
            byte_fallback=lang == "ko",  # nlplab's Korean default since issue 20 (--fallback byte)
            pad_piece="[PAD]", unk_piece="[UNK]", bos_piece="[CLS]", eos_piece="[SEP]",
            user_defined_symbols=["[MASK]"], minloglevel=2,
            **({"normalization_rule_tsv": str(write_nfc_rules(out / "nfc.tsv"))} if lang == "ko" else {}))
        return spm.SentencePieceProcessor(model_file=str(out / "spm.model"))
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    if kind == "wordpiece":  # Korean: nlplab adds its jamo fallback after training (issue 20), not done here
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.Sequence([
            normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False),
            normalizers.NFC() if lang == "ko" else normalizers.NFKC()])
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab, min_frequency=2, special_tokens=specials)
    else:
        tok = Tokenizer(models.BPE())
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab, min_frequency=2, special_tokens=specials,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train([str(corpus)], trainer)
    return tok


def load_direct(folder: Path):
    """The trained folder's model loaded with the library alone, to time encoding."""
    if (folder / "spm.model").exists():
        import sentencepiece as spm

        return spm.SentencePieceProcessor(model_file=str(folder / "spm.model"))
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(folder / "tokenizer.json"))


def direct_encode(model, texts):
    if hasattr(model, "encode_batch"):
        return [e.ids for e in model.encode_batch(texts, add_special_tokens=False)]
    return model.encode(texts)


def timeit_pair(fn_a, fn_b, repeats: int) -> tuple[float, float]:
    """Median times of two functions, run alternately so machine noise hits both alike."""
    times = ([], [])
    for _ in range(repeats):
        for fn, out in ((fn_a, times[0]), (fn_b, times[1])):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="5k training texts, 2k test texts, vocab 2k/4k")
    ap.add_argument("--repeats", type=int, default=9, help="encoding runs (median)")
    ap.add_argument("--train-repeats", type=int, default=3, help="training runs (median)")
    ap.add_argument("--train-budget", type=float, default=40.0,
                    help="stop repeating a training once nlplab's runs of it took this many seconds")
    ap.add_argument("--langs", default="en,ko")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "subword.json"))
    args = ap.parse_args()
    from nlplab import NlplabError
    from nlplab.subword import SubwordConfig, SubwordTokenizer, train
    from nlplab.subword.stats import stats

    vocabs = (2000, 4000) if args.quick else (8000, 32000)
    speed, quality, skipped = [], [], []
    tmp = Path(tempfile.mkdtemp(prefix="nlplab-bench-"))
    try:
        train(SubwordConfig(corpus=[str(ROOT / "corpora/en_sample.txt")], output=str(tmp / "warm"), lang="en",
                            vocab_size=600), progress=False)  # imports and JIT warm-up outside the timings
        for lang in args.langs.split(","):
            train_texts = texts_of(lang, "train", 5000 if args.quick else None)
            test_texts = texts_of(lang, "test", 2000 if args.quick else None)
            corpus = tmp / f"{lang}.txt"
            corpus.write_text("\n".join(train_texts) + "\n", encoding="utf-8")
            kinds = KINDS + (KO_EXTRA if lang == "ko" else [])
            for vocab in vocabs:
                for kind, pretok in kinds:
                    name = f"{lang}-{kind}{'-' + pretok if pretok != 'none' else ''}-{vocab // 1000}k"
                    out = tmp / name
                    ours_t, direct_t = [], []
                    for _ in range(args.train_repeats):
                        if sum(ours_t) > args.train_budget:
                            break  # SentencePiece on 150k reviews: one run is enough
                        shutil.rmtree(out, ignore_errors=True)
                        cfg = SubwordConfig(corpus=[str(corpus)], output=str(out), lang=lang, model=kind,
                                            vocab_size=vocab, pretokenize=pretok, force=True)
                        t = time.perf_counter()
                        try:
                            train(cfg, argv=[], progress=False)
                        except NlplabError as e:  # e.g. WikiText-2 cannot fill a 32k unigram vocabulary
                            skipped.append({"name": name, "why": str(e)})
                            print(f"{name}: {e}", flush=True)
                            break
                        ours_t.append(time.perf_counter() - t)
                        if pretok == "none":
                            d = tmp / f"direct-{name}"
                            shutil.rmtree(d, ignore_errors=True)
                            d.mkdir()
                            t = time.perf_counter()
                            direct_train(kind, lang, vocab, corpus, d)
                            direct_t.append(time.perf_counter() - t)
                    if not ours_t:
                        continue
                    tok = SubwordTokenizer(out)
                    row = {"name": name, "lang": lang, "kind": kind, "pretokenize": pretok, "vocab": vocab,
                           "train_texts": len(train_texts), "train_runs": len(ours_t),
                           "nlplab_train_s": round(statistics.median(ours_t), 2)}
                    # HF's WordPiece trainer is not deterministic, so encoding is compared on the
                    # same trained model: nlplab's wrapper against the bare library.
                    direct = load_direct(out)
                    enc_ours, enc_direct = timeit_pair(lambda: tok.encode_batch(test_texts),
                                                       lambda: direct_encode(direct, test_texts), args.repeats)
                    row["nlplab_encode_sent_s"] = round(len(test_texts) / enc_ours)
                    if direct_t:
                        same = direct_encode(direct, test_texts) == tok.encode_batch(test_texts)
                        row.update({"direct_train_s": round(statistics.median(direct_t), 2),
                                    "train_ratio": round(statistics.median(direct_t) / statistics.median(ours_t), 3),
                                    "direct_encode_sent_s": round(len(test_texts) / enc_direct),
                                    "encode_ratio": round(enc_direct / enc_ours, 3), "same_ids": same})
                        speed.append(row)
                    q = stats(tok, test_texts)
                    quality.append({"name": name, "lang": lang, "kind": kind, "pretokenize": pretok, "vocab": vocab,
                                    **{k: q[k] for k in ("unk_rate", "fertility", "vocab_used", "char_coverage")}})
                    print(json.dumps({**row, **quality[-1]}), flush=True)
                    shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_tables(speed, quality, args)
    for s in skipped:
        print(f"- {s['name']}: not trainable: {s['why']}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), "quick": args.quick, "repeats": args.repeats,
                               "train_repeats": args.train_repeats, "speed": speed, "quality": quality,
                               "skipped": skipped}, indent=1),
                   encoding="utf-8")


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def print_tables(speed, quality, args) -> None:
    print(f"\nmachine: {machine()}; encode: median of {args.repeats}; train: median of {args.train_repeats}\n")
    print("| model | train texts | runs | nlplab train (s) | direct train (s) | direct ÷ nlplab | nlplab encode (sent/s) "
          "| direct encode (sent/s) | nlplab ÷ direct | same ids |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in speed:
        print(f"| {r['name']} | {r['train_texts']:,} | {r['train_runs']} | {r['nlplab_train_s']} | {r['direct_train_s']} | {r['train_ratio']:.2f}× "
              f"| {r['nlplab_encode_sent_s']:,} | {r['direct_encode_sent_s']:,} | {r['encode_ratio']:.2f}× "
              f"| {'yes' if r['same_ids'] else 'NO'} |")
    print("\n| model | pre-tokenizer | vocab | UNK rate | subwords/word | vocab used | char coverage |")
    print("|---|---|---|---|---|---|---|")
    for q in quality:
        print(f"| {q['lang']} {q['kind']} | {q['pretokenize']} | {q['vocab']:,} | {100 * q['unk_rate']:.3f}% "
              f"| {q['fertility']:.3f} | {100 * q['vocab_used']:.1f}% | {100 * q['char_coverage']:.2f}% |")


if __name__ == "__main__":
    main()
