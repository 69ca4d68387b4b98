"""Benchmark (issue 20): Korean vocabularies on text with syllables their corpus lacks, the
three `--fallback` variants (none / byte / jamo) trained side by side in one run.

    .venv/bin/python benchmarks/subword_unk.py             # ~6 min on 2 shared cores
    .venv/bin/python benchmarks/subword_unk.py --models unigram --vocab-size 4000

Train: ../shared/data/ko-text/unlabeled_comments_5.txt (33,893 news comments) with
`nlplab.subword.train`, --lang ko, defaults but --fallback. Measure: KorSTS dev
(korsts/sts-dev.tsv, quoting off; sentence1 and sentence2 of its 1,500 rows = 3,000
sentences). Per variant: sentences with any [UNK], [UNK] per 1k pieces, round-trip
failures (`decode(encode(x)) != normalized(x)`, and the same ignoring white space, which
WordPiece's decoder moves around punctuation), AutoTokenizer ids != ours, fertility
(pieces per eojeol = white-space word of the raw sentence), fallback pieces (bytes, jamo)
per 1k, Hangul syllables with a piece of their own, train
time (one run, in-process, what `nlplab subword train` does), encode speed
(`SubwordTokenizer.encode_batch` on the 3,000 sentences, 10 passes per round, the variants
round-robin, median of 3 rounds).
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
VARIANTS = {"unigram": ("none", "byte", "jamo"), "bpe": ("none", "byte", "jamo"), "wordpiece": ("none", "jamo")}


def korsts_dev() -> list[str]:
    rows = (SHARED / "korsts" / "sts-dev.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0].split("\t") == ["genre", "filename", "year", "id", "score", "sentence1", "sentence2"]
    rows = [r.split("\t") for r in rows[1:]]
    return [r[5] for r in rows] + [r[6] for r in rows]


def is_fallback_piece(piece: str) -> bool:
    from nlplab.subword.fallback import JAMO

    p = piece.removeprefix("##").removeprefix("▁")
    return (p.startswith("<0x") and p.endswith(">")) or (len(p) == 1 and p in JAMO)


def measure(tok, hf, texts: list[str]) -> dict:
    import unicodedata

    from nlplab.subword.fallback import SYLLABLES

    ids = tok.encode_batch(texts)
    n_pieces = sum(map(len, ids))
    decoded = [tok.decode(s) for s in ids]
    norm = [tok.normalized(t) for t in texts]
    hf_ids = [hf(t, add_special_tokens=False)["input_ids"] for t in tok._prep(texts)]
    hf_text = [unicodedata.normalize("NFC", hf.decode(s, skip_special_tokens=True)) for s in ids]
    fallback = sum(is_fallback_piece(p) for seq in tok.pieces_batch(texts) for p in seq)
    vocab = tok.hf.get_vocab(with_added_tokens=False)
    return {
        "sentences": len(texts), "pieces": n_pieces, "syllables_in_vocab": sum(s in vocab for s in SYLLABLES),
        "unk_sentences": sum(tok.unk_id in s for s in ids),
        "unk_sentence_rate": sum(tok.unk_id in s for s in ids) / len(texts),
        "unk_per_1k": 1000 * sum(s.count(tok.unk_id) for s in ids) / n_pieces,
        "roundtrip_failures": sum(d != n for d, n in zip(decoded, norm)),
        "roundtrip_failures_ignoring_spaces": sum(d.replace(" ", "") != n.replace(" ", "") for d, n in zip(decoded, norm)),
        "autotokenizer_id_mismatches": sum(a != b for a, b in zip(ids, hf_ids)),
        "autotokenizer_decode_failures": sum(d != n for d, n in zip(hf_text, norm)),
        "fertility": n_pieces / sum(len(t.split()) for t in texts),
        "fallback_per_1k": 1000 * fallback / n_pieces,
    }


def encode_speeds(toks: list, texts: list[str], repeats: int) -> list[int]:
    """Sentences/s of each tokenizer, timed round-robin (10 passes each per round) so the
    shared machine's load falls on all alike; median of `repeats` rounds."""
    times = [[] for _ in toks]
    for _ in range(repeats):
        for tok, out in zip(toks, times):
            t = time.perf_counter()
            for _ in range(10):
                tok.encode_batch(texts)
            out.append(time.perf_counter() - t)
    return [round(10 * len(texts) / statistics.median(t)) for t in times]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(SHARED / "ko-text" / "unlabeled_comments_5.txt"))
    ap.add_argument("--vocab-size", type=int, default=8000)
    ap.add_argument("--models", default="unigram,bpe,wordpiece")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "subword_unk.json"))
    args = ap.parse_args()
    from transformers import AutoTokenizer

    from nlplab.subword import SubwordConfig, SubwordTokenizer, train

    texts = korsts_dev()
    rows, toks = [], []
    tmp = Path(tempfile.mkdtemp(prefix="nlplab-unk-"))
    try:
        for model in args.models.split(","):
            for fallback in VARIANTS[model]:
                out = tmp / f"{model}-{fallback}"
                t = time.perf_counter()
                meta = train(SubwordConfig(corpus=[args.corpus], output=str(out), lang="ko", model=model,
                                           vocab_size=args.vocab_size, fallback=fallback), argv=[], progress=False)
                train_s = time.perf_counter() - t
                toks.append(SubwordTokenizer(out))
                row = {"model": model, "fallback": fallback, "default": SubwordConfig(
                           corpus=["x"], output="x", lang="ko", model=model).fallback == fallback,
                       "vocab_size": meta["vocab_size"], "train_s": round(train_s, 2),
                       **measure(toks[-1], AutoTokenizer.from_pretrained(str(out)), texts)}
                rows.append(row)
                print(json.dumps(row), flush=True)
        for row, speed in zip(rows, encode_speeds(toks, texts, args.repeats)):
            row["encode_sent_s"] = speed
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(rows)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    corpus = os.path.relpath(args.corpus, ROOT)  # ../shared/data/..., as from the checkout
    out.write_text(json.dumps({"machine": machine(), "corpus": corpus, "eval": "korsts/sts-dev.tsv sentence1+sentence2",
                               "vocab_size": args.vocab_size, "repeats": args.repeats, "rows": rows}, indent=1),
                   encoding="utf-8")


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}"


def print_table(rows: list[dict]) -> None:
    print(f"\nmachine: {machine()}\n")
    print("| model | --fallback | vocab | syllables in vocab | sentences with [UNK] | [UNK] per 1k | round-trip failures (ignoring spaces) "
          "| AutoTokenizer ids ≠ ours | pieces/eojeol | fallback pieces per 1k | train (s) | encode (sent/s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        name = f"**{r['fallback']}** (default)" if r["default"] else r["fallback"]
        print(f"| {r['model']} | {name} | {r['vocab_size']:,} | {r['syllables_in_vocab']:,} | {r['unk_sentences']} ({100 * r['unk_sentence_rate']:.2f}%) "
              f"| {r['unk_per_1k']:.2f} | {r['roundtrip_failures']} ({r['roundtrip_failures_ignoring_spaces']}) "
              f"| {r['autotokenizer_id_mismatches']} | {r['fertility']:.3f} | {r['fallback_per_1k']:.2f} "
              f"| {r['train_s']} | {r['encode_sent_s']:,} |")


if __name__ == "__main__":
    main()
