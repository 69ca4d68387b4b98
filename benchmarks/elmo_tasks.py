"""Benchmark (issue 24): ELMo task models against the same BiLSTM without ELMo, one table
per language, mean ± std over seeds.

    # the biLMs (see BENCHMARKS.md, "ELMo task models (issue 24)", for the recipes)
    .venv/bin/python benchmarks/elmo_tasks.py --ko-lm runs/lm-ko --en-lm runs/lm-en [--seeds 1,2,3] [--epochs NSMC=1]
    .venv/bin/python benchmarks/elmo_tasks.py --smoke      # minutes: a tiny biLM per language, 300 rows, 1 seed

Rows, each one `nlplab bench` of the language's tasks and seeds (its runs `nlplab finetune` runs,
--cpu-workers at once) with nlplab/configs/finetune.yaml's ELMo presets and the head's
defaults: the BiLSTM over randomly initialised word embeddings of the LM run's vocabulary
(`--model bilstm:LM`), the same BiLSTM + ELMo at its input (`--model bilm:LM`) and at input
and output (`--elmo input+output`); then the lab's best pretrained transformer, read from
its `nlplab bench` result (benchmarks/bench_suite.py: MiniLM's bench_suite_glue.json, the
Korean MLM's bench_suite_ko_mlm.json), the GLUE paper's published single-task BiLSTM and
BiLSTM + ELMo (English; test sets), word and char TF-IDF and the majority class, one deterministic run
each, read from benchmarks/results/glue_baselines.json (same data and splits).

Tasks: Korean NSMC test (accuracy; train is ratings_train's first 140,000 rows, the best
checkpoint is picked on the last 10,000), KorSTS dev (Spearman), KorHate dev (macro-F1);
English SST-2 dev (accuracy), MRPC dev (mean of F1 and accuracy), CoLA dev (MCC). Dev
figures are the best dev evaluation of each run (dev also picks the checkpoint, as for every
GLUE dev figure); NSMC test is scored from the run's NSMC.test.tsv (a bench predicts every
test set).
The benches are WORK/<lang>/<row>/ (bench.json, report.html; --resume continues them). The
biLM layers of each task are computed once per LM run and cached in WORK/cache/<lang>
(--elmo-cache), shared by both ELMo rows and every seed.

--smoke trains a tiny biLM per language (`nlplab lm train --preset tiny`, 2,000 lines: Korean
news comments from shared/data's ko-text, Mecab morphemes; English SST-2 train sentences),
fine-tunes on 300 train rows for 2 epochs, evaluates on 200 dev rows and the first 1,000
rows of NSMC test, with 1 seed: it shows the script works; its figures measure nothing.
Writes benchmarks/results/elmo_tasks.json (elmo_tasks_smoke.json) and prints the tables.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("NLPLAB_SHARED", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"
# (task, the split its figure is on, the column header); the score is the harness's main score
TASKS = {"ko": [("NSMC", "test", "NSMC test acc"), ("KorSTS", "dev", "KorSTS dev Spearman"),
                ("KorHate", "dev", "KorHate dev macro-F1")],
         "en": [("SST-2", "dev", "SST-2 dev acc"), ("MRPC", "dev", "MRPC dev F1/acc"), ("CoLA", "dev", "CoLA dev MCC")]}
ROWS = [("BiLSTM, random embeddings", "bilstm", {}), ("BiLSTM + ELMo (input)", "bilm", {}),
        ("BiLSTM + ELMo (input+output)", "bilm", {"elmo": "input+output"})]
BASELINES = [("word TF-IDF", "tfidf-logreg"), ("char TF-IDF", "tfidf-char"), ("majority", "majority")]
SUITE = {"ko": "ko", "en": "glue"}  # where glue_baselines.json keeps each language's tasks
# the lab's best pretrained transformer per language: an `nlplab bench` result of benchmarks/bench_suite.py
TRANSFORMER = {"ko": ("BERT-mini, MLM-pretrained on ko-reviews (nlplab bench)", "bench_suite_ko_mlm.json"),
               "en": ("MiniLM (all-MiniLM-L6-v2, nlplab bench)", "bench_suite_glue.json")}
SMOKE = {"max_train_samples": 300, "max_eval_samples": 200, "epochs": 2}


def nlplab(*args) -> int:
    from nlplab.cli import main

    args = [str(a) for a in args]
    print("$ nlplab " + shlex.join(args), flush=True)
    with contextlib.redirect_stdout(io.StringIO()):
        return main(args)


def smoke_data(work: Path) -> Path:
    """shared/data with NSMC test cut to its first 1,000 rows (every other folder linked)."""
    root = work / "data"
    (root / "nsmc").mkdir(parents=True, exist_ok=True)
    for sub in ("glue", "korsts", "korean-hate-speech"):
        if not (root / sub).exists():
            (root / sub).symlink_to(SHARED / sub)
    if not (root / "nsmc" / "ratings_train.txt").exists():
        (root / "nsmc" / "ratings_train.txt").symlink_to(SHARED / "nsmc" / "ratings_train.txt")
    lines = (SHARED / "nsmc" / "ratings_test.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    (root / "nsmc" / "ratings_test.txt").write_text("".join(lines[:1001]), encoding="utf-8")
    return root


def smoke_lm(lang: str, work: Path) -> Path:
    """A tiny sentence-mode biLM on 2,000 lines of the language."""
    out = work / f"lm-{lang}"
    if (out / "model.pt").is_file():
        return out
    corpus = work / f"lm-{lang}.txt"
    if lang == "ko":
        lines = (SHARED / "ko-text" / "unlabeled_comments_5.txt").read_text(encoding="utf-8").splitlines()[:2000]
    else:
        with open(SHARED / "glue" / "SST-2" / "train.tsv", encoding="utf-8", newline="") as f:
            lines = [r["sentence"] for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)][:2000]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    extra = ["--pretokenize", "mecab"] if lang == "ko" else []
    assert nlplab("lm", "train", corpus, "--preset", "tiny", "--mode", "sentence", "-o", out, "--force",
                  "--no-progress", *extra) == 0
    return out


def test_score(run: Path, data: Path, task: str) -> float:
    """The main score of RUN/<TASK>.test.tsv against the labelled test split."""
    from nlplab.glue import Glue, metrics

    src = Glue(data)
    t = src.task(task)
    gold = src.load(t, "test")
    with open(run / f"{t.name}.test.tsv", encoding="utf-8", newline="") as f:
        pred = {r["index"]: r["prediction"] for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)}
    y_pred = [t.labels.index(pred[i]) for i in gold.ids]
    got = metrics.compute(t.metrics, [t.labels.index(v) for v in gold.labels], y_pred)
    return metrics.entry_score(got, t.metrics, t.main)


def bench_row(lang: str, kind: str, opts: dict, lm: Path, seeds: list[int], data: Path, work: Path, smoke: bool,
              workers: int, resume: bool, epochs: dict | None = None) -> list[dict]:
    """One row of the table: `nlplab bench` of the language's suite over the model, its tasks
    and seeds (the sweep's worker pool, --cpu-workers), finetune.yaml's ELMo presets, the
    row's options and the shared feature cache in a --config file; then each run's record."""
    tasks = [task for task, _, _ in TASKS[lang]]
    out = work / lang / f"{kind}{'-io' if opts.get('elmo') == 'input+output' else ''}"
    default = {**opts, **(SMOKE if smoke else {})}
    if kind == "bilm":
        default["elmo_cache"] = str(work / "cache" / lang)  # biLM layers once per task, for both ELMo rows and all seeds
    out.mkdir(parents=True, exist_ok=True)
    config = out.parent / f"{out.name}.yaml"
    per_task = {task: {"epochs": n} for task, n in (epochs or {}).items() if task in tasks}
    config.write_text(yaml.safe_dump({"default": default, **({"tasks": per_task} if per_task else {})},
                                     sort_keys=False), encoding="utf-8")
    model = f"{kind}:{lm}"
    t0 = time.perf_counter()
    code = nlplab("bench", SUITE[lang], "--model", model, "--data-dir", data, "-o", out, "--tasks", ",".join(tasks),
                  "--seeds", ",".join(map(str, seeds)), "--cpu-workers", workers, "--config", config, "--no-progress",
                  *(["--resume"] if resume else []))
    bench = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    split = {task: sp for task, sp, _ in TASKS[lang]}
    runs = []
    for r in bench["runs"]:
        if r["status"] != "done":
            print(f"  {r['run']} failed: {r['error']}", flush=True)
            continue
        run = out / r["run"]
        test = split[r["task"]] == "test"
        runs.append({"task": r["task"], "split": split[r["task"]], "model": model, "options": opts, "seed": r["seed"],
                     "run": str(run), "score": test_score(run, data, r["task"]) if test else r["score"],
                     "dev_score": r["score"], "steps": r["steps"], "wall_s": round(r["wall_s"], 1)})
    print(f"  {out}: {len(runs)} runs done, bench exit {code}, {time.perf_counter() - t0:.0f}s", flush=True)
    return runs


def baselines(lang: str) -> dict:
    """{row label: {task: score}} from glue_baselines.json (NSMC: its test entry)."""
    data = json.loads((RESULTS / "glue_baselines.json").read_text(encoding="utf-8"))
    suite = data["suites"][SUITE[lang]]["results"]
    out = {}
    for label, kind in BASELINES:
        r = suite[kind]
        out[label] = {task: (r["test"]["entries"] if split == "test" else r["entries"])[task]["score"]
                      for task, split, _ in TASKS[lang]}
    return out


# Wang et al., GLUE (ICLR 2019), Table 4, "Single-Task Training": test sets (ours: dev). MRPC there is
# accuracy/F1; the cell gives their mean, the harness's MRPC score, and the pair.
PUBLISHED = {"en": [("GLUE paper: BiLSTM (test)", {"SST-2": "85.90", "MRPC": "74.35 (69.3/79.4)", "CoLA": "15.70"}),
                    ("GLUE paper: BiLSTM + ELMo (test)", {"SST-2": "90.20", "MRPC": "74.90 (69.0/80.8)",
                                                          "CoLA": "35.00"})],
             "ko": []}


def transformer(lang: str) -> tuple[str, dict]:
    """(row label, {task: [score per seed]}) from the bench result; {} when it is not there."""
    label, name = TRANSFORMER[lang]
    path = RESULTS / name
    if not path.is_file():
        return label, {}
    suite = json.loads(path.read_text(encoding="utf-8"))["suites"][SUITE[lang]]
    rows = {r["row"]: r["values"] for r in suite["rows"]}
    out = {}
    for task, split, _ in TASKS[lang]:
        if split == "test":  # bench_suite.py scores each NSMC run (runs/NSMC, or NSMC-s<SEED>) on the labelled test
            out[task] = [v["score"] for k, v in suite.get("nsmc_test", {}).items()
                         if v and (k == task or k.startswith(task + "-s"))]
        elif task == "MRPC":  # the harness's main MRPC score: the mean of F1 and accuracy
            out[task] = [(f + a) / 2 for f, a in zip(rows["MRPC f1"], rows["MRPC accuracy"])]
        else:
            out[task] = next((v for k, v in rows.items() if k.startswith(task + " ")), [])
    return label, out


def cell(values: list[float]) -> str:
    """x100; one value as it is, several as mean ± sample std."""
    v = [100 * x for x in values]
    return "-" if not v else f"{v[0]:.2f}" if len(v) == 1 else f"{statistics.fmean(v):.2f} ± {statistics.stdev(v):.2f}"


def table(lang: str, runs: list[dict]) -> str:
    """Mean ± sample std over the seeds (one seed: its value), x100; the baselines' one run."""
    head = ["model"] + [h for _, _, h in TASKS[lang]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, kind, opts in ROWS:
        cells = [cell([r["score"] for r in runs if r["task"] == task and r["model"].startswith(kind + ":")
                       and r["options"] == opts]) for task, _, _ in TASKS[lang]]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    label, scores = transformer(lang)
    if scores:
        lines.append(f"| {label} | " + " | ".join(cell(scores.get(t, [])) for t, _, _ in TASKS[lang]) + " |")
    for label, cells in PUBLISHED[lang]:
        lines.append(f"| {label} | " + " | ".join(cells[t] for t, _, _ in TASKS[lang]) + " |")
    for label, scores in baselines(lang).items():
        lines.append(f"| {label} | " + " | ".join(f"{100 * scores[t]:.2f}" for t, _, _ in TASKS[lang]) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ko-lm", help="Korean `nlplab lm train` run (sentence mode)")
    ap.add_argument("--en-lm", help="English `nlplab lm train` run (sentence mode)")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--data-dir", default=str(SHARED))
    ap.add_argument("--work", default=str(ROOT / "runs" / "elmo_tasks"), help="run folders, caches (and --smoke's biLMs)")
    ap.add_argument("--smoke", action="store_true", help="tiny biLMs, 300 rows, 1 seed: the script works, nothing measured")
    ap.add_argument("--cpu-workers", type=int, default=2, help="nlplab bench --cpu-workers: runs at once, the cores "
                    "shared out (2 on this box; 0: one after another in-process)")
    ap.add_argument("--resume", action="store_true", help="continue the benches in --work (nlplab bench --resume)")
    ap.add_argument("--epochs", default="", help="TASK=N,...: a task's epochs over the ELMo preset's (e.g. NSMC=1 "
                    "for a budget: its 140k rows are 4,400 steps an epoch)")
    ap.add_argument("--out", help="results JSON (default benchmarks/results/elmo_tasks[_smoke].json)")
    args = ap.parse_args()
    work = Path(args.work + ("-smoke" if args.smoke else ""))
    seeds = [1] if args.smoke else [int(s) for s in args.seeds.split(",")]
    data = smoke_data(work) if args.smoke else Path(args.data_dir)
    lms = {"ko": smoke_lm("ko", work), "en": smoke_lm("en", work)} if args.smoke else \
        {lang: Path(p) for lang, p in (("ko", args.ko_lm), ("en", args.en_lm)) if p}
    if not lms:
        sys.exit("give --ko-lm and/or --en-lm (runs of `nlplab lm train`), or --smoke")
    epochs = {k: int(v) for k, v in (e.split("=") for e in args.epochs.split(",") if e)}
    t0, runs, tables = time.perf_counter(), [], {}
    for lang, lm in lms.items():
        for _, kind, opts in ROWS:
            runs += bench_row(lang, kind, opts, lm, seeds, data, work, args.smoke, args.cpu_workers, args.resume, epochs)
        tables[lang] = table(lang, [r for r in runs if r["task"] in {t for t, _, _ in TASKS[lang]}])
        print(f"\n{lang}: biLM {lm}\n{tables[lang]}\n", flush=True)
    import torch

    out = Path(args.out or RESULTS / f"elmo_tasks{'_smoke' if args.smoke else ''}.json")
    result = {"smoke": args.smoke, "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
              f"{'cuda' if torch.cuda.is_available() else 'cpu'}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}",
              "seeds": seeds, "lms": {k: str(v) for k, v in lms.items()}, "data": str(data),
              "options": SMOKE if args.smoke else {}, "epochs": epochs, "runs": runs, "tables": tables,
              "seconds": round(time.perf_counter() - t0, 1)}
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{out}: {len(runs)} runs, {result['seconds']:.0f}s")


if __name__ == "__main__":
    main()
