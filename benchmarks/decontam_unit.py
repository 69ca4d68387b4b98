"""Which Korean unit for the n-gram decontamination rule? `nlplab corpus build` on
nsmc-raw against NSMC test, once per candidate unit and length, side by side.

    .venv/bin/python benchmarks/decontam_unit.py              # the first 200,000 raw rows
    .venv/bin/python benchmarks/decontam_unit.py --rows 0     # all 712,404

For each candidate: the share of NSMC test texts long enough to have a window (the rest
fall back to exact match), the corpus rows the window rule removed beyond the exact rule,
and examples of them to read. Eojeol n-grams are the `word` unit (letters and digits
between spaces and punctuation); characters are those of the normalized key, spaces
removed. Results: benchmarks/results/decontam_unit.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NLPLAB_SHARED", ROOT.parent / "shared" / "data"))
CANDIDATES = [("word", 13), ("word", 8), ("word", 5), ("char", 30), ("char", 20), ("char", 13)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000, help="first N rows of nsmc-raw (0: all)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "decontam_unit.json"))
    args = ap.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
    from corpus import first_rows  # benchmarks/corpus.py

    from nlplab.cli import main as nlplab

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        src = first_rows(args.rows, tmp)
        for unit, n in CANDIDATES:
            out = os.path.join(tmp, f"{unit}{n}")
            assert nlplab(["corpus", "build", f"{src}:review", "-o", out, "--lang", "ko", "--dedup", "none",
                           "--exclude", f"{SHARED}/nsmc/ratings_test.txt:document", "--decontam-unit", unit,
                           "--decontam-n", str(n), "--workers", str(args.workers), "--no-progress",
                           "--examples", "8"]) == 0
            m = json.loads(Path(out, "manifest.json").read_text(encoding="utf-8"))
            (ex,) = m["excludes"]
            r = {"unit": "eojeol" if unit == "word" else "char", "n": n, "test_texts": ex["texts"],
                 "with_a_window": ex["texts"] - ex["short_exact_only"],
                 "with_a_window_share": round(1 - ex["short_exact_only"] / ex["texts"], 3),
                 "removed_exact": ex["removed"]["exact"], "removed_ngram": ex["removed"]["ngram"],
                 "examples": [(e["text"], e["eval_text"]) for e in ex["examples"]["ngram"]]}
            results.append(r)
            print(f"{r['unit']:6} n={n:2}: {r['with_a_window_share']:.1%} of test texts have a window; "
                  f"exact removed {r['removed_exact']:,}, window rule {r['removed_ngram']:,} more", file=sys.stderr)
    Path(args.out).write_text(json.dumps({"rows": args.rows or 712_404, "results": results}, ensure_ascii=False,
                                         indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
