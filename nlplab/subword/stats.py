"""How well a vocabulary fits a corpus: UNK rate, fertility, vocabulary use, coverage.

    nlplab subword stats out/ko-unigram out/ko-mecab-unigram ../shared/data/nsmc/ratings_test.txt --column document
"""

from __future__ import annotations

from collections import Counter
from itertools import islice

from nlplab import io
from nlplab.subword.tokenizer import SubwordTokenizer


def read_texts(path: str, fmt=None, column=None, no_header=False, max_rows: int = 50_000) -> list[str]:
    layout = io.inspect(path, fmt, column, no_header)
    return list(islice(io.iter_texts(layout), max_rows))


def stats(tok: SubwordTokenizer, texts: list[str]) -> dict:
    """Words are the white-space words of the raw text (eojeol for Korean), the same for
    every tokenizer, so fertility compares across pre-tokenizers."""
    ids = tok.encode_batch(texts)
    n_sub = sum(map(len, ids))
    n_words = sum(len(t.split()) for t in texts)
    used = set()
    for seq in ids:
        used.update(seq)
    unk = sum(seq.count(tok.unk_id) for seq in ids)
    chars = Counter()
    for t in texts:
        chars.update(tok.normalized(t))
    for ws in (" ", "\t", "▁"):
        chars.pop(ws, None)
    vocab_chars = tok.vocab_chars()
    total_chars = sum(chars.values())
    covered = total_chars if vocab_chars is None else sum(n for c, n in chars.items() if c in vocab_chars)
    return {
        "tokenizer": str(tok.folder), "kind": tok.meta["kind"], "pretokenize": tok.meta["pretokenize"],
        "vocab_size": tok.vocab_size, "texts": len(texts), "words": n_words, "subwords": n_sub,
        "unk_rate": unk / n_sub if n_sub else 0.0,
        "fertility": n_sub / n_words if n_words else 0.0,
        "vocab_used": len(used) / tok.vocab_size,
        "char_coverage": covered / total_chars if total_chars else 1.0,
    }


def table(rows: list[dict]) -> str:
    head = "| tokenizer | kind | pre-tokenizer | vocab | UNK rate | subwords/word | vocab used | char coverage |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['tokenizer']} | {r['kind']} | {r['pretokenize']} | {r['vocab_size']:,} | "
                     f"{100 * r['unk_rate']:.3f}% | {r['fertility']:.3f} | {100 * r['vocab_used']:.1f}% | "
                     f"{100 * r['char_coverage']:.3f}% |")
    return "\n".join(lines)
