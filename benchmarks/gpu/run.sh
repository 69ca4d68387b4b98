#!/usr/bin/env bash
# Run on the GPU machine (device tool, carry [".devdata", ".whl"]). A task is lent 15 minutes of
# device time in all, the machine's start included, so the first call is the one that fits:
#   bash benchmarks/gpu/run.sh all        # finetune (seed 1) then lm, each cut at its budget (~8 min)
# and, with time left in a later task, one part per call:
#   bash benchmarks/gpu/run.sh finetune   # finetune_vs_trainer --full --bf16: SST-2, MRPC (~8 min)
#   bash benchmarks/gpu/run.sh quality    # finetune_quality, 3 seeds, bf16, full data (~8 min)
#   bash benchmarks/gpu/run.sh lm         # lm.py elmo-small on PTB: perplexity, tokens/s, peak memory
# Results land in $OUT (JSON + log), to copy into benchmarks/results/.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
mkdir -p /tmp/data && tar -C /tmp/data -xJf .devdata/data.tar.xz
export NLPLAB_SHARED=/tmp/data NLPLAB_MINILM=$PWD/.devdata/minilm
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
case "${1:?part: all, finetune, quality or lm}" in
  finetune) python3 benchmarks/finetune_vs_trainer.py --full --bf16 --tasks SST-2,MRPC \
                --out "$OUT/finetune_vs_trainer_gpu.json" 2>&1 | tee "$OUT/finetune_vs_trainer_gpu.log" ;;
  quality)  python3 benchmarks/finetune_quality.py --seeds 1,2,3 --bf16 \
                --out "$OUT/finetune_quality_gpu.json" 2>&1 | tee "$OUT/finetune_quality_gpu.log" ;;
  lm)       python3 benchmarks/lm.py --corpus ptb --preset elmo-small --device cuda \
                --json "$OUT/lm_ptb_gpu.json" 2>&1 | tee "$OUT/lm_ptb_gpu.log" ;;
  all)      # each part cut at its budget (seconds); its log comes back even when cut
            timeout "${FINETUNE_BUDGET:-240}" python3 benchmarks/finetune_vs_trainer.py --full --bf16 --tasks SST-2,MRPC \
                --seeds 1 --out "$OUT/finetune_vs_trainer_gpu.json" > "$OUT/finetune_vs_trainer_gpu.log" 2>&1 \
                || echo "finetune part ended with exit $?" | tee -a "$OUT/finetune_vs_trainer_gpu.log"
            timeout "${LM_BUDGET:-240}" python3 benchmarks/lm.py --corpus ptb --preset elmo-small --device cuda --epochs 10 \
                --json "$OUT/lm_ptb_gpu.json" > "$OUT/lm_ptb_gpu.log" 2>&1 \
                || echo "lm part ended with exit $?" | tee -a "$OUT/lm_ptb_gpu.log"
            tail -n 20 "$OUT"/*.log ;;
  *) echo "unknown part $1: all, finetune, quality or lm" >&2; exit 2 ;;
esac
