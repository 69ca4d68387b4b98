"""Benchmark: whole-suite runs with `nlplab bench` (issue 23): the GLUE tasks shared/data
holds (CoLA, SST-2, MRPC) with MiniLM and the presets, and the Korean suite (NSMC, KorSTS,
KorHate) with a BERT from scratch; wall time per run and per suite, the GLUE-table rows
(mean ± std over seeds) beside the quality table's (BENCHMARKS.md, finetune_quality.py).

    .venv/bin/python benchmarks/bench_suite.py                 # full: 3 seeds each (CPU: many hours; schedule it)
    .venv/bin/python benchmarks/bench_suite.py --smoke         # minutes: 1 seed, 64 train/eval rows, 4 steps
    python benchmarks/bench_suite.py --gpus auto --data-dir .devdata   # a GPU machine

Each suite is the one command a user types, printed and recorded, e.g.
`nlplab bench glue --model minilm --data-dir ../shared/data/glue --seeds 1,2,3 -o WORK/glue
--config WORK/glue.yaml`, the --config file holding only what the quality table ran
differently (SST-2 in bf16 autocast) and, with --smoke, the subsets. The Korean scratch
model needs a vocabulary: `nlplab subword train` on shared/data's Korean comments (Mecab
pre-split; --smoke: 5,000 lines, no pre-split), or --ko-tokenizer DIR; --ko-model PATH runs
the Korean suite with another model (a pretraining run) instead. --smoke figures check
that the script works; they measure nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("NLPLAB_SHARED", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"
# the quality table's raw results (BENCHMARKS.md, "Quality with no hyperparameter flags")
QUALITY = ("finetune_quality_cpu.json", "finetune_quality_cpu_seed2.json", "finetune_quality_cpu_seed3.json",
           "finetune_quality_cpu_sst2_bf16.json", "finetune_quality_cpu_sst2_bf16_seeds23.json")


def nlplab(*args) -> tuple[int, float, str]:
    """One CLI command in-process: (exit code, seconds, stdout)."""
    from nlplab.cli import main

    args = [str(a) for a in args]
    print("$ nlplab " + shlex.join(args), flush=True)
    out = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = main(args)
    print(out.getvalue(), flush=True)
    return code, time.perf_counter() - t0, out.getvalue()


def rows(bench: dict) -> list[dict]:
    """The bench's GLUE-table rows: per entry and metric, mean ± std over seeds and each seed's."""
    out = []
    for task, a in bench["tasks"].items():
        for entry, v in a["entries"].items():
            for m in v["metrics"]:
                out.append({"task": task, "row": f"{entry} {m}", "mean": v[m]["mean"], "std": v[m]["std"],
                            "seeds": a["seeds"], "values": v[m]["values"]})
    return out


def quality_table() -> dict:
    """{(task, metric): {seed: value}} of the quality table's runs."""
    got = {}
    for name in QUALITY:
        path = RESULTS / name
        if path.is_file():
            for r in json.loads(path.read_text())["runs"]:
                for m, v in r["dev"].items():
                    if m != "score":
                        got.setdefault(f"{r['task']} {m}", {})[r["seed"]] = v
    return got


def suite(name: str, a, work: Path, model: str, data: Path, extra: list, config: dict) -> dict:
    cfg = work / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    args = ["bench", name, "--model", model, "--data-dir", data, "--seeds", a.seeds, "-o", work / name, "--config", cfg,
            "--gpus", a.gpus, *(["--cpu-workers", a.cpu_workers] if a.cpu_workers else []), "--no-progress",
            *(["--resume"] if a.resume else []), *extra]
    code, seconds, table = nlplab(*args)
    s = json.loads((work / name / "bench.json").read_text())
    return {"command": "nlplab " + shlex.join(map(str, args)), "config": config, "exit_code": code, "wall_s": seconds,
            "runs": [{k: r[k] for k in ("task", "seed", "status", "wall_s", "train_samples_per_s", "steps", "error")}
                     for r in s["runs"]],
            "rows": rows(s), "score": s["score"], "submitted_score": s["submitted_score"], "missing": s["missing"],
            "submission": s.get("submission"), "table": table}


def labelled_test(work: Path) -> dict:
    """NSMC's test split has labels: score each NSMC run's best checkpoint on it (`nlplab
    finetune eval RUN --json`, the 50,000 rows; dev chose the checkpoint, test never did)."""
    got = {}
    for run in sorted((work / "ko" / "runs").glob("NSMC*")):
        if (run / "metrics.json").is_file():
            r = subprocess.run([sys.executable, "-m", "nlplab", "finetune", "eval", str(run), "--json"],
                               cwd=ROOT, capture_output=True, text=True, check=True)
            got[run.name] = json.loads(r.stdout).get("test")
    return got


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=str(SHARED), help="root laid out as shared/data (glue/, nsmc/, korsts/, ...)")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--suites", default="glue,ko")
    ap.add_argument("--glue-model", default="minilm")
    ap.add_argument("--ko-model", default="scratch", help="scratch (a BERT of --ko-size over --ko-tokenizer) or a model folder")
    ap.add_argument("--ko-tokenizer", help="nlplab subword folder (default: trained here)")
    ap.add_argument("--ko-size", default="mini")
    ap.add_argument("--gpus", default="0")
    ap.add_argument("--cpu-workers", type=int, default=0, help="bench --cpu-workers: N runs at once on the CPU "
                    "(2 on this box: one torch thread a run, as the quality table ran)")
    ap.add_argument("--ko-lr", type=float, help="lr for every Korean task (default: 5e-4 from scratch, the presets' "
                    "otherwise); pretrain_quality.py's recipe is 3e-4")
    ap.add_argument("--add-test", metavar="RESULTS_JSON", help="only score the NSMC runs of --work on NSMC's "
                    "labelled test split and add them to this results file (done after every ko suite anyway)")
    ap.add_argument("--ko-nsmc-epochs", type=int, help="NSMC epochs (default: the preset's 2; pretrain_quality.py: 1)")
    ap.add_argument("--smoke", action="store_true", help="1 seed, 64 train and eval rows, 4 steps: checks the script only")
    ap.add_argument("--work", default=str(ROOT / "out" / "bench-suite"), help="bench folders and the vocabulary")
    ap.add_argument("--fill-missing", action="store_true", help="glue: --fill-missing majority, so the zip is written")
    ap.add_argument("--resume", action="store_true", help="continue the benches in --work (`nlplab bench --resume`: "
                    "finished runs skipped, interrupted ones resumed); per-run wall times come from each bench.json")
    ap.add_argument("--out", help="results file (default: benchmarks/results/bench_suite.json, or bench_suite_smoke.json)")
    a = ap.parse_args()
    if a.smoke and a.seeds == "1,2,3":
        a.seeds = "1"
    if a.add_test:
        result = json.loads(Path(a.add_test).read_text())
        result["suites"]["ko"]["nsmc_test"] = labelled_test(Path(a.work))
        Path(a.add_test).write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps(result["suites"]["ko"]["nsmc_test"]))
        return 0
    a.out = a.out or str(RESULTS / ("bench_suite_smoke.json" if a.smoke else "bench_suite.json"))
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    subset = {"max_train_samples": 64, "max_eval_samples": 64, "max_steps": 4} if a.smoke else {}
    import torch

    result = {"machine": f"{platform.processor() or platform.machine()}, "
                         + (torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"),
              "smoke": a.smoke, "command": "python benchmarks/bench_suite.py " + shlex.join(sys.argv[1:]), "suites": {}}
    for name in a.suites.split(","):
        if (work / name).exists() and not a.resume:
            raise SystemExit(f"{work / name}: exists; continue it with --resume, remove it or give another --work")
        if name == "glue":
            # the quality table ran SST-2 in bf16 autocast (CoLA and MRPC in fp32): the same here
            config = {"default": subset, "tasks": {"SST-2": {"precision": "bf16"}}}
            fill = ["--fill-missing", "majority"] if a.fill_missing else []
            result["suites"]["glue"] = suite("glue", a, work, a.glue_model, Path(a.data_dir) / "glue", fill, config)
        elif name == "ko":
            extra = []
            if a.ko_model == "scratch":
                tok = a.ko_tokenizer
                if tok is None:  # a Korean vocabulary from the comments corpus (shared/data/ko-text)
                    tok, corpus = work / "ko-vocab", Path(a.data_dir) / "ko-text" / "unlabeled_comments_5.txt"
                    if a.smoke:
                        small = work / "ko-comments-5k.txt"
                        small.write_text("".join(corpus.read_text(encoding="utf-8").splitlines(True)[:5000]), encoding="utf-8")
                        corpus = small
                    code, seconds, _ = nlplab("subword", "train", corpus, "-o", tok, "--lang", "ko", "--force",
                                              "--vocab-size", 2000 if a.smoke else 8000,
                                              "--pretokenize", "none" if a.smoke else "mecab")
                    if code:
                        raise SystemExit("nlplab subword train failed")
                    result["ko_vocab"] = {"path": str(tok), "seconds": seconds}
                extra = ["--tokenizer", tok, "--size", a.ko_size]
            # a BERT from scratch learns with a higher lr than a pretrained one (benchmarks/nsmc_scratch.py: 5e-4)
            lr = a.ko_lr or (5.0e-4 if a.ko_model == "scratch" else None)
            config = {"default": {**subset, **({"lr": lr} if lr else {})},
                      "tasks": {"NSMC": {"epochs": a.ko_nsmc_epochs}} if a.ko_nsmc_epochs else {}}
            result["suites"]["ko"] = suite("ko", a, work, a.ko_model, Path(a.data_dir), extra, config)
            result["suites"]["ko"]["nsmc_test"] = labelled_test(work)
    if "glue" in result["suites"] and not a.smoke:
        quality = quality_table()
        for r in result["suites"]["glue"]["rows"]:
            r["quality_table"] = [quality.get(r["row"], {}).get(s) for s in r["seeds"]]
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    for name, s in result["suites"].items():
        print(f"{name}: exit {s['exit_code']}, {s['wall_s']:.0f}s for {len(s['runs'])} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
