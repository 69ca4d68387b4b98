"""Benchmark: do a trained biLM's ELMo features carry sentence meaning? SST-2 sentiment with
a logistic regression on mean-pooled scalar-mix features, against the same classifier on
bag-of-words features, both trained on the same SST-2 train rows and scored on the full dev.

    .venv/bin/python -m nlplab lm train ../shared/data/ptb/train.txt --valid ../shared/data/ptb/valid.txt \
        --preset small -o runs/ptb-small
    .venv/bin/python benchmarks/elmo_sst2.py --run runs/ptb-small [--sizes 1000,5000,0] [--seeds 1,2,3]

Features per sentence (ELMo section 3.2, task-agnostic weights): the scalar mix with w = 0
and gamma = 1 (the mean of the L + 1 layers), averaged over the sentence's tokens; an
ablation uses layer 0 alone (the token encoder: context-free). Bag of words: binary unigram
counts of the same lower-cased tokens. The classifier is LogisticRegressionCV (5 folds over
10 values of C, lbfgs) for every feature set, on standardised features for the dense ones.
Train subsets of each size are drawn with each seed (size 0: all 67,349 rows); mean and
std of dev accuracy over the seeds. Writes benchmarks/results/elmo_sst2.json.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NLPLAB_SHARED", ROOT.parent / "shared" / "data"))


def read_sst2(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r["sentence"].strip() for r in rows], np.array([int(r["label"]) for r in rows])


def sentence_features(bilm, sentences: list[str], batch_size: int) -> dict[str, np.ndarray]:
    """Mean over tokens of the scalar mix (all layers) and of layer 0, one row per sentence."""
    mix, layer0 = [], []
    for out in bilm.embed(sentences, batch_size=batch_size):
        if not out["tokens"]:  # an empty sentence: a zero vector keeps rows aligned
            mix.append(np.zeros(out["mix"].shape[-1], np.float32))
            layer0.append(np.zeros(out["mix"].shape[-1], np.float32))
            continue
        mix.append(out["mix"].mean(0).numpy())
        layer0.append(out["layers"][0].mean(0).numpy())
    return {"elmo_mix": np.stack(mix), "elmo_layer0": np.stack(layer0)}


def fit_score(X_train, y_train, X_dev, y_dev, dense: bool, seed: int, jobs: int = 1) -> float:
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = LogisticRegressionCV(Cs=10, cv=5, max_iter=3000, random_state=seed, n_jobs=jobs)
    model = make_pipeline(StandardScaler(), clf) if dense else clf
    model.fit(X_train, y_train)
    return float((model.predict(X_dev) == y_dev).mean())


def write_lm_corpus(train_tsv: Path, out: Path) -> None:
    """Unlabelled in-domain text for the biLM (ELMo section 3.4: a biLM tuned on the task's
    domain): SST-2 train sentences only, never dev."""
    import random

    sentences = [s for s in read_sst2(train_tsv)[0] if s]
    random.Random(0).shuffle(sentences)
    held = len(sentences) // 50
    out.mkdir(parents=True, exist_ok=True)
    (out / "valid.txt").write_text("\n".join(sentences[:held]) + "\n", encoding="utf-8")
    (out / "train.txt").write_text("\n".join(sentences[held:]) + "\n", encoding="utf-8")
    print(f"{out}: {len(sentences) - held:,} train and {held:,} valid sentences", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", help="a biLM run folder (nlplab lm train)")
    ap.add_argument("--write-lm-corpus", metavar="DIR",
                    help="write DIR/train.txt and DIR/valid.txt (SST-2 train sentences, labels dropped, shuffled with "
                         "seed 0, 1 in 50 held out) for an in-domain biLM, then stop")
    ap.add_argument("--data", default=str(SHARED / "glue" / "SST-2"))
    ap.add_argument("--sizes", default="1000,5000,0", help="train subset sizes (0: all)")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--jobs", type=int, default=1, help="processes for the classifier's cross-validation folds")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "elmo_sst2.json"))
    args = ap.parse_args()
    if args.write_lm_corpus:
        write_lm_corpus(Path(args.data) / "train.tsv", Path(args.write_lm_corpus))
        return
    if not args.run:
        ap.error("give --run RUN (or --write-lm-corpus DIR)")
    warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")  # LogisticRegressionCV's 1.10 notices
    if args.threads:
        torch.set_num_threads(args.threads)
    from sklearn.feature_extraction.text import CountVectorizer

    from nlplab.lm.model import BiLM

    bilm = BiLM.from_run(args.run)
    train_x, train_y = read_sst2(Path(args.data) / "train.tsv")
    dev_x, dev_y = read_sst2(Path(args.data) / "dev.tsv")
    sizes = [int(s) or len(train_x) for s in args.sizes.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]

    t = time.perf_counter()
    feats = {"train": sentence_features(bilm, train_x, args.batch_size), "dev": sentence_features(bilm, dev_x, args.batch_size)}
    embed_s = time.perf_counter() - t
    n_tokens = sum(len(s.split()) for s in train_x + dev_x)
    print(f"embedded {len(train_x) + len(dev_x):,} sentences in {embed_s:.0f}s", file=sys.stderr)
    # the same tokens for bag of words as the biLM reads (its tokenizer, lower-cased like PTB)
    tok = lambda s: bilm.tokenizer([s])[0]  # noqa: E731

    results = {}
    for size in sizes:
        row = {}
        for name in ("bow", "elmo_layer0", "elmo_mix"):
            accs = []
            for seed in seeds if size < len(train_x) else seeds[:1]:  # all rows: one draw
                idx = np.random.default_rng(seed).permutation(len(train_x))[:size]
                if name == "bow":
                    vec = CountVectorizer(tokenizer=tok, lowercase=False, binary=True, token_pattern=None)
                    X_train = vec.fit_transform([train_x[i] for i in idx])
                    accs.append(fit_score(X_train, train_y[idx], vec.transform(dev_x), dev_y, False, seed, args.jobs))
                else:
                    accs.append(fit_score(feats["train"][name][idx], train_y[idx], feats["dev"][name], dev_y, True, seed, args.jobs))
            row[name] = {"mean": statistics.mean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                         "runs": accs}
            print(f"train {size:>6,}  {name:<12} dev accuracy {row[name]['mean']:.4f} ± {row[name]['std']:.4f}",
                  file=sys.stderr)
        results[str(size)] = row

    cfg = dataclasses.asdict(bilm.lm_config)
    out = {"run": str(args.run), "bilm": {k: cfg.get(k) for k in ("encoder", "hidden_dim", "proj_dim", "layers", "train")},
           "parameters": sum(p.numel() for p in bilm.parameters()), "dev_rows": len(dev_x),
           "embed_seconds": embed_s, "embed_tokens_per_s": n_tokens / embed_s, "results": results,
           "machine": f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch {torch.__version__}"}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({s: {k: round(v["mean"], 4) for k, v in r.items()} for s, r in results.items()}))


if __name__ == "__main__":
    main()
