"""Benchmark: sentence-mode biLM training with length-grouped batches against random batches,
side by side in one run.

    .venv/bin/python benchmarks/lm_sentence.py --steps 100 --repeats 3 --threads 1   # ~12 min, 2-core box
    .venv/bin/python benchmarks/lm_sentence.py --corpus ../shared/data/ko-text/FILE --column text

Both runs are `nlplab lm train CORPUS --mode sentence --preset small --max-steps N`, the same
sentences, seed and batch size. Grouped: nlplab's batches (shuffle, sort mega-batches of 50
batches by length, shuffle the batches). Random: the same code with mega-batches of one
batch, i.e. plain shuffled batches, which is what sentence mode did before. Reported: the
share of real tokens in the padded batches over one epoch, and the median train tokens/s
over the steps, for each, repeated --repeats times (alternating).
Default corpus: the sentences of SST-2 train (67,349 movie-review phrases, labels unused).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("NLPLAB_SHARED", ROOT.parent / "shared" / "data"))


def sst2_sentences(path: Path, out: Path) -> Path:
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    out.write_text("".join(r["sentence"].strip() + "\n" for r in rows), encoding="utf-8")
    return out


def real_share(corpus: str, column: str | None, batch_size: int, bptt: int, mega: int) -> float:
    """Real tokens over padded positions in one epoch of nlplab's training batches."""
    from nlplab.lm import data
    from nlplab.lm.vocab import TextTokenizer, Vocab

    tokens = data.read(corpus, TextTokenizer("none", "whitespace", None), column)
    batches = data.SentenceBatches(data.Corpus(tokens, Vocab.build(tokens.counts(), 2, 0)), batch_size, bptt, "cpu",
                                   shuffle=True, seed=1)
    batches.mega = mega
    real = padded = 0
    for i in range(len(batches)):
        b = batches.batch(i)
        real, padded = real + b["tokens"], padded + b["fwd_tgt"].numel()
    return real / padded


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", help="sentence corpus (default: SST-2 train sentences)")
    ap.add_argument("--column", help="tsv/csv column or jsonl key holding the text")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "lm_sentence.json"))
    a = ap.parse_args()
    import torch

    from nlplab.cli import main as cli
    from nlplab.lm import data

    if a.threads:
        torch.set_num_threads(a.threads)
    rows, shares = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = a.corpus or str(sst2_sentences(SHARED / "glue" / "SST-2" / "train.tsv", Path(tmp) / "sst2.txt"))
        for name, mega in (("random", 1), ("grouped", 50)):
            shares[name] = real_share(corpus, a.column, a.batch_size, 35, mega)
            print(f"{name:8s} batches: {100 * shares[name]:.1f}% real tokens", flush=True)
        for rep in range(a.repeats):
            for name, mega in (("random", 1), ("grouped", 50)):
                data.SentenceBatches.mega = mega
                out = Path(tmp) / f"{name}-{rep}"
                args = ["lm", "train", corpus, "--preset", a.preset, "--mode", "sentence", "--min-count", "2",
                        "--batch-size", str(a.batch_size), "--bptt", "35", "--max-steps", str(a.steps), "--no-progress",
                        "-o", str(out)] + (["--column", a.column] if a.column else [])
                if cli(args) != 0:
                    raise SystemExit(f"failed: nlplab {' '.join(args)}")
                rate = json.loads((out / "metrics.json").read_text())["tokens_per_s_median"]
                rows.append({"batches": name, "repeat": rep, "tokens_per_s": rate})
                print(f"{name:8s} repeat {rep}: {rate:,.0f} tokens/s", flush=True)
    data.SentenceBatches.mega = 50
    summary = {}
    for name in ("random", "grouped"):
        got = [r["tokens_per_s"] for r in rows if r["batches"] == name]
        summary[name] = {"tokens_per_s_median": statistics.median(got), "real_token_share": shares[name]}
    ratio = summary["grouped"]["tokens_per_s_median"] / summary["random"]["tokens_per_s_median"]
    print(f"grouped / random: {ratio:.2f}x")
    result = {"runs": rows, "summary": summary, "ratio": ratio, "threads": torch.get_num_threads(),
              "command": "python benchmarks/lm_sentence.py " + " ".join(sys.argv[1:])}
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
