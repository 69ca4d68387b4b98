"""The shipped corpus recipes, built from ../shared/data: rows, characters and words in and
out, what every stage removed, what each evaluation file removed, and the build time.

    .venv/bin/python benchmarks/corpus_recipes.py                  # ko-reviews and en-reviews, 2 workers
    .venv/bin/python benchmarks/corpus_recipes.py --recipes ko-reviews --keep out/corpora

Each recipe is one `nlplab corpus build --config NAME --data-dir ../shared/data` run.
Results: benchmarks/results/corpus_recipes.json (the manifests' counts, no examples).
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipes", default="ko-reviews,en-reviews")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", help="build the corpora in this folder and keep them (default: a temporary one)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "corpus_recipes.json"))
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from nlplab.cli import main as nlplab
    from nlplab.corpus import stats

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.keep or tmp)
        for name in args.recipes.split(","):
            out = base / name
            assert nlplab(["corpus", "build", "--config", name, "--data-dir", str(SHARED), "-o", str(out),
                           "--workers", str(args.workers), "--force", "--no-progress"]) == 0
            m = stats.load(out)
            print(f"\n== {name}\n{stats.table(m)}")
            results[name] = {**stats.counts(m), "selected_in": m["selected_in"],
                             "excludes_absent": m["excludes_absent"], "workers": args.workers}
    Path(args.out).write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
