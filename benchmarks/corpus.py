"""Benchmark: `nlplab corpus build` against what a user writes with `datasets` (and
datasketch for near-duplicates), the same work on nsmc-raw, side by side in one run.

    .venv/bin/python benchmarks/corpus.py                 # all 712,404 rows, 3 repeats (~40 min on 2 cores)
    .venv/bin/python benchmarks/corpus.py --rows 50000 --repeats 1   # a quick look
    .venv/bin/python benchmarks/corpus.py --seed-control --rows 200000 --out benchmarks/results/corpus_seeds.json

The work: read `nsmc-raw/reviews.jsonl.gz` (field `review`), clean with the `ko` preset,
drop texts under 1 character and texts whose letters are under 50% Hangul, drop repeats
of a normalized text (NFKC, lower-cased, letters and digits only), keep the first.
- exact: the above. nlplab `--dedup exact`; the user's pipeline: `load_dataset("json")`,
  `.map` (cleaning and the key), `.filter`, then a Python set over the keys.
- near: also MinHash-LSH near-duplicates (char 5-gram shingles of the key, Jaccard 0.8,
  128 permutations). nlplab `--dedup near`; the user's pipeline adds datasketch
  `MinHash.update_batch` per row and `MinHashLSH` query-then-insert.
Both sides call the same per-text functions (nlplab.clean's preset, the same filters and
key), so the difference is the pipeline around them. `datasets` gets a fresh cache folder
each run (a user's first run; a rerun would hit its cache). `num_proc` = nlplab's
`--workers`. No --exclude and --valid-fraction 0, so both write one list of kept texts:
the exact variants must keep the same rows in the same order, the near variants are
compared row by row (their shingle hashes differ: SHA-1 per shingle in datasketch).

Every timing is a whole run in a fresh process (interpreter start and imports included);
medians over --repeats; peak memory is the largest resident set of the process and its
workers. Results: benchmarks/results/corpus.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NLPLAB_SHARED", ROOT.parent / "shared" / "data"))
RAW = SHARED / "nsmc-raw" / "reviews.jsonl.gz"


def first_rows(rows: int, tmp: str) -> str:
    """nsmc-raw itself, or its first `rows` rows in a gzip file under `tmp`."""
    if not rows:
        return str(RAW)
    src = os.path.join(tmp, "rows.jsonl.gz")
    with gzip.open(RAW, "rt", encoding="utf-8") as f, gzip.open(src, "wt", encoding="utf-8") as g:
        for _, line in zip(range(rows), f):
            g.write(line)
    return src


def _peak_mb() -> float:
    """The run's peak resident memory: this process's high-water mark (VmHWM; ru_maxrss
    would carry the benchmark parent's size over the fork before exec) plus the largest
    worker's (RUSAGE_CHILDREN)."""
    own = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + kids) / 1024


# --- one run, in its own process --------------------------------------------------------

def run_nlplab(src: str, out: str, dedup: str, workers: int, seed: int = 1) -> list[str]:
    from nlplab.cli import main

    rc = main(["corpus", "build", f"{src}:review", "-o", out, "--lang", "ko", "--dedup", dedup, "--valid-fraction", "0",
               "--workers", str(workers), "--no-progress", "--seed", str(seed)])
    assert rc == 0
    import pyarrow.parquet as pq

    return [t for f in sorted(Path(out, "train").glob("*.parquet")) for t in pq.read_table(f)["text"].to_pylist()]


def run_datasets(src: str, out: str, dedup: str, workers: int, seed: int = 1) -> list[str]:
    import datasets
    from datasketch import MinHash, MinHashLSH

    from nlplab import clean
    from nlplab.corpus import filters, hashing

    datasets.disable_progress_bars()
    ds = datasets.load_dataset("json", data_files=src, split="train", cache_dir=out)
    cleaner = clean.pipeline("ko")

    def prepare(batch):
        texts = [cleaner(t) for t in batch["review"]]
        return {"text": texts, "key": [hashing.key(t) for t in texts]}

    ds = ds.map(prepare, batched=True, num_proc=workers if workers > 1 else None, remove_columns=ds.column_names)
    ds = ds.filter(lambda b: [filters.length(t, 1, 0, 0) is None and filters.language(k, "ko", 0.5) is None
                              for t, k in zip(b["text"], b["key"])], batched=True,
                   num_proc=workers if workers > 1 else None)
    seen, kept = set(), []
    lsh = MinHashLSH(threshold=0.8, num_perm=128) if dedup == "near" else None
    for i, (text, key) in enumerate(zip(ds["text"], ds["key"])):
        if key in seen:
            continue
        if lsh is not None:
            m = MinHash(num_perm=128, seed=seed)
            m.update_batch([key[j:j + 5].encode() for j in range(len(key) - 4)] or [key.encode()])
            if lsh.query(m):
                continue
            lsh.insert(i, m, check_duplication=False)
        seen.add(key)
        kept.append(text)
    return kept


def seed_control(args) -> None:
    """How much two MinHash-LSH runs disagree by chance: each tool with seeds 1 and 2, and
    the tools with each other. Pairs near the threshold fall on either side of it by luck
    of the permutations (the S-curve is 1/2 at the threshold), so two seeds of one tool
    disagree about as much as the two tools do."""
    with tempfile.TemporaryDirectory() as tmp:
        src = first_rows(args.rows, tmp)
        kept = {}
        for tool in ("datasets", "nlplab"):
            for seed in (1, 2):
                fn = run_nlplab if tool == "nlplab" else run_datasets
                kept[tool, seed] = set(fn(src, os.path.join(tmp, f"{tool}{seed}"), "near", 1, seed))
        base = set(run_nlplab(src, os.path.join(tmp, "exact"), "exact", 1))
    pairs = [(("datasets", 1), ("datasets", 2)), (("nlplab", 1), ("nlplab", 2)), (("nlplab", 1), ("datasets", 1)),
             (("nlplab", 2), ("datasets", 2))]
    result = {"rows": args.rows or 712_404, "near_dropped": {f"{t}-seed{s}": len(base - k) for (t, s), k in kept.items()},
              "disagree": {f"{a[0]}-seed{a[1]} vs {b[0]}-seed{b[1]}": len(kept[a] ^ kept[b]) for a, b in pairs}}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))


def one(args) -> None:
    """--one TOOL DEDUP WORKERS: time one run and print its figures as JSON."""
    tool, dedup, workers = args.one[0], args.one[1], int(args.one[2])
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        t0 = time.perf_counter()
        kept = (run_nlplab if tool == "nlplab" else run_datasets)(args.src, os.path.join(tmp, "out"), dedup, workers)
        seconds = time.perf_counter() - t0
        Path(args.kept).write_text(json.dumps(kept, ensure_ascii=False), encoding="utf-8")
    print(json.dumps({"seconds": seconds, "kept": len(kept), "peak_mb": _peak_mb()}))


# --- the side-by-side run ---------------------------------------------------------------

VARIANTS = [(tool, dedup, w) for dedup in ("exact", "near") for w in (1, 2) for tool in ("datasets", "nlplab")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=0, help="first N rows of nsmc-raw (0: all 712,404)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "corpus.json"))
    ap.add_argument("--seed-control", action="store_true", help="near dedup only: how much seeds 1 and 2 of each "
                    "tool disagree, beside how much the tools do (writes --out)")
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--src", help=argparse.SUPPRESS)
    ap.add_argument("--kept", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        one(args)
        return 0
    if args.seed_control:
        seed_control(args)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        src = first_rows(args.rows, tmp)
        times, figures, kept = {}, {}, {}
        for rep in range(args.repeats):
            for v in VARIANTS:  # interleaved: each repeat runs every variant once
                path = os.path.join(tmp, "kept.json")
                cmd = [sys.executable, __file__, "--one", *map(str, v), "--src", src, "--kept", path, "--tmp", tmp]
                res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
                times.setdefault(v, []).append(res["seconds"])
                figures.setdefault(v, []).append(res["peak_mb"])
                kept[v] = json.loads(Path(path).read_text(encoding="utf-8"))
                print(f"repeat {rep + 1}: {v}: {res['seconds']:.1f}s, {res['kept']:,} kept, {res['peak_mb']:,.0f} MB",
                      file=sys.stderr)
        rows = args.rows or 712_404
        table = []
        for v in VARIANTS:
            tool, dedup, w = v
            base = ("datasets", dedup, w)
            med, bmed = statistics.median(times[v]), statistics.median(times[base])
            a, b = kept[v], kept[base]
            sa, sb = set(a), set(b)
            table.append({"tool": tool, "dedup": dedup, "workers": w, "seconds_median": round(med, 2),
                          "seconds": [round(t, 2) for t in times[v]], "rows_per_s": round(rows / med),
                          "speedup_vs_datasets_same_workers": round(bmed / med, 3),
                          "speedup_vs_datasets_1_worker": round(statistics.median(times["datasets", dedup, 1]) / med, 3),
                          "peak_mb_median": round(statistics.median(figures[v])),
                          "peak_mb": [round(x) for x in figures[v]], "kept": len(a),
                          "same_rows_as_datasets": a == b, "only_here": len(sa - sb), "only_in_datasets": len(sb - sa)})
    result = {"rows": rows, "repeats": args.repeats, "machine": f"{platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores", "python": platform.python_version(), "table": table}
    Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for r in table:
        print(f"{r['tool']:9} {r['dedup']:6} w={r['workers']}  {r['seconds_median']:7.1f}s  {r['rows_per_s']:>7,} rows/s  "
              f"x{r['speedup_vs_datasets_1_worker']:.2f} vs datasets(1)  {r['peak_mb_median']:>6,} MB  kept {r['kept']:,}  "
              f"same rows: {r['same_rows_as_datasets']} (+{r['only_here']}/-{r['only_in_datasets']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
