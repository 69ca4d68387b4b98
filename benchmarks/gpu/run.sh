#!/usr/bin/env bash
# Run on the GPU machine (device tool, carry [".devdata", ".whl"]). A task is lent 15 minutes of
# device time in all, the machine's start included: one ~9.5-minute call is what fits.
#   bash benchmarks/gpu/run.sh issue6     # issue 6's open targets in one call: ptb (7.5 min) and downstream side by side
#   bash benchmarks/gpu/run.sh ptb        # issue 6: --preset ptb alone, 8.3 min: the < 78.4 PTB target
#   bash benchmarks/gpu/run.sh downstream # issue 6: elmo-small on SST-2 + WikiText-2 text, then the SST-2 features check
#   bash benchmarks/gpu/run.sh finetune   # issue 5: finetune_vs_trainer --full --bf16: SST-2, MRPC, alone
#   bash benchmarks/gpu/run.sh quality    # issue 5: finetune_quality, 3 seeds, bf16, full data
#   bash benchmarks/gpu/run.sh lm         # issue 6: lm.py elmo-small on PTB: perplexity, tokens/s, peak memory
#   bash benchmarks/gpu/run.sh all        # session 7's plan: throughput alone, then five jobs sharing the GPU
#   bash benchmarks/gpu/run.sh pretrain   # issue 22 (kit: prepare.sh pretrain RUNS): pretrain_speed on the GPU
#                                         # (~1 min), ELECTRA-small on ko-reviews (~6 min), NSMC fine-tune + test
# Results land in $OUT (JSON + log), to copy into benchmarks/results/.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
mkdir -p /tmp/data && tar -C /tmp/data -xJf .devdata/data.tar.xz
export NLPLAB_SHARED=/tmp/data
[ -d .devdata/minilm ] && export NLPLAB_MINILM=$PWD/.devdata/minilm
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
# Results of the parts below go to $RES and come back packed in $OUT/results.tgz (the device
# returns at most 8 files): every 45 s while they run, and once at the end.
RES=/tmp/res; mkdir -p "$RES"
DEADLINE=$(( $(date +%s) + ${BUDGET:-565} ))  # a device call is cut at 600 s: every job ends by then
until_deadline() { local s=$(( DEADLINE - $(date +%s) - ${1:-0} )); echo $(( s > 10 ? s : 10 )); }
minutes_left() {  # minutes_left MARGIN_S [SHARE]: a training budget that ends MARGIN_S before the deadline
    python3 -c "print(round(max(0.5, ($(until_deadline) - $1) / 60 * ${2:-1}), 2))"; }
pack() { tar -C "$RES" -czf "$OUT/results.tgz.part" --exclude='*.pt' --exclude='tb' . 2>/dev/null \
         && mv "$OUT/results.tgz.part" "$OUT/results.tgz"; }
packer() { ( while sleep 45; do pack; done ) & PACKER=$!; }
finish() { kill ${PACKER:-} 2>/dev/null || true; pack || true; ls -la "$OUT"; }
ptb() {  # ptb NAME MINUTES [FLAGS]: --preset ptb, the < 78.4 target (the valid curve still fell at 15 epochs)
    local D=/tmp/data/ptb name=$1 minutes=$2; shift 2
    timeout "$(until_deadline)" python3 -m nlplab lm train $D/train.txt --valid $D/valid.txt --test $D/test.txt \
        --device cuda --preset ptb --max-minutes "$minutes" "$@" -o "$RES/$name" > "$RES/$name.out" 2>&1 || true
    grep -E "model:|valid step|test:|done" "$RES/$name/train.log" | tail -n 25 || true
}
char_encoder() {  # the char CNN once per distinct token against every position, on the GPU
    timeout 60 python3 benchmarks/lm_char_encoder.py --device cuda --steps 30 --json "$RES/lm_char_encoder_gpu.json" \
        > "$RES/lm_char_encoder_gpu.log" 2>&1 || true
    tail -n 6 "$RES/lm_char_encoder_gpu.log"
}
downstream() {  # elmo-small on in-domain text for $1 minutes, then ELMo features vs bag of words on SST-2
    local D=/tmp/data
    python3 benchmarks/elmo_sst2.py --write-lm-corpus /tmp/sst2lm
    grep -v '^ *$' $D/wikitext-2/train.reordered.txt | grep -v '^ = ' >> /tmp/sst2lm/train.txt
    timeout "$(until_deadline)" python3 -m nlplab lm train /tmp/sst2lm/train.txt --valid /tmp/sst2lm/valid.txt \
        --preset elmo-small --mode sentence --clean lowercase --min-count 2 --bptt 50 --epochs 50 --device cuda \
        --max-minutes "$1" -o "$RES/elmo_sst2_lm" > "$RES/elmo_sst2_lm.out" 2>&1 || true
    timeout "$(until_deadline)" python3 benchmarks/elmo_sst2.py --run "$RES/elmo_sst2_lm" --seeds 1 --jobs 12 --batch-size 256 \
        --json "$RES/elmo_sst2_gpu.json" > "$RES/elmo_sst2_gpu.log" 2>&1 || true
    grep -E "accuracy|embedded" "$RES/elmo_sst2_gpu.log" || true
}
pretrain() {  # issue 22: the speed ratio against run_mlm.py's recipe, then a GPU pretraining run and NSMC
    xz -dk .devdata/ko-reviews.txt.xz .devdata/ko-reviews-valid.txt.xz
    local C=$PWD/.devdata/ko-reviews.txt V=$PWD/.devdata/ko-reviews-valid.txt T=$PWD/.devdata/spm-ko
    timeout 120 python3 benchmarks/pretrain_speed.py --corpus "$C" --tokenizer "$T" --steps 150 --repeats 1 \
        --json "$RES/pretrain_speed_gpu.json" > "$RES/pretrain_speed_gpu.log" 2>&1 || true
    tail -n 6 "$RES/pretrain_speed_gpu.log"
    timeout "$(until_deadline 150)" python3 -m nlplab pretrain "$C" --valid "$V" -o "$RES/pt-electra" --tokenizer "$T" \
        --objective electra --size electra-small --batch-size 128 --lr 1e-3 --bf16 --max-steps 20000 \
        --max-minutes "$(minutes_left 170)" --scheduler constant --warmup-steps 500 --eval-every 1000 --save-every 0 \
        --no-progress > "$RES/pt-electra.out" 2>&1 || true
    timeout "$(until_deadline 10)" python3 -m nlplab finetune --task nsmc --data-dir /tmp/data/nsmc --model "$RES/pt-electra" \
        -o "$RES/ft-nsmc" --lr 3e-4 --epochs 1 --batch-size 64 --bf16 --no-progress > "$RES/ft-nsmc.out" 2>&1 \
        && python3 -m nlplab finetune eval "$RES/ft-nsmc" --json > "$RES/ft-nsmc-eval.json" || true
    cat "$RES/ft-nsmc-eval.json" 2>/dev/null || tail -n 5 "$RES/ft-nsmc.out"
}
packer
case "${1:?part: issue6, ptb, downstream, finetune, quality, lm or all}" in
  finetune) python3 benchmarks/finetune_vs_trainer.py --full --bf16 --tasks SST-2,MRPC \
                --out "$OUT/finetune_vs_trainer_gpu.json" 2>&1 | tee "$OUT/finetune_vs_trainer_gpu.log" ;;
  quality)  python3 benchmarks/finetune_quality.py --seeds 1,2,3 --bf16 \
                --out "$OUT/finetune_quality_gpu.json" 2>&1 | tee "$OUT/finetune_quality_gpu.log" ;;
  lm)       python3 benchmarks/lm.py --corpus ptb --preset elmo-small --device cuda \
                --json "$OUT/lm_ptb_gpu.json" 2>&1 | tee "$OUT/lm_ptb_gpu.log" ;;
  ptb)      ptb ptb 8.3; finish ;;
  pretrain) pretrain; finish ;;
  downstream) char_encoder; downstream 5; finish ;;
  issue6)   # both of issue 6's open targets in one call (~9.5 min), the two runs sharing the GPU
            char_encoder; ptb ptb 7.5 & P1=$!; downstream 4 & P2=$!; wait $P1 $P2 || true; finish ;;
  all)      # session 7's plan (~9.5 min): A) biLM throughput and peak memory, alone on the GPU;
            # B) at once, sharing it: two PTB runs, WikiText-2 biLM vs plain LSTM, the downstream
            # biLM and its classifiers, and the issue 5 finetune timings. Each job is cut at the deadline.
            export OMP_NUM_THREADS=3
            for p in elmo-small:100 elmo-original:40; do
                timeout 75 python3 benchmarks/lm.py --corpus ptb --preset "${p%:*}" --device cuda --max-steps "${p#*:}" \
                    --json "$RES/lm_throughput_${p%:*}.json" > "$RES/lm_throughput_${p%:*}.log" 2>&1 \
                    || echo "throughput ${p%:*} ended with exit $?" >> "$RES/lm_throughput_${p%:*}.log"
            done
            echo "phase B: $(until_deadline)s, training budget $(minutes_left 45) min"
            PIDS=()
            ptb ptb_a "$(minutes_left 45)" & PIDS+=($!)
            ptb ptb_b "$(minutes_left 45)" --hidden-dim 1500 --proj-dim 400 --dropout 0.45 & PIDS+=($!)
            timeout "$(until_deadline)" python3 benchmarks/lm.py --corpus wikitext2 --preset small --device cuda \
                --set hidden_dim=1024 --set proj_dim=256 --set epochs=40 --max-minutes "$(minutes_left 60 0.6)" \
                --json "$RES/lm_wikitext2_gpu.json" > "$RES/lm_wikitext2_gpu.log" 2>&1 & PIDS+=($!)
            downstream "$(minutes_left 200)" & PIDS+=($!)
            timeout "$(until_deadline)" python3 benchmarks/finetune_vs_trainer.py --full --bf16 --tasks MRPC,SST-2 --seeds 1 \
                --systems nlplab,trainer-dynamic,nlplab-padded,trainer-pad128 \
                --out "$RES/finetune_vs_trainer_gpu.json" > "$RES/finetune_vs_trainer_gpu.log" 2>&1 & PIDS+=($!)
            ( while sleep 20; do nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader; done ) \
                > "$RES/gpu_util.log" 2>&1 & WATCH=$!
            wait "${PIDS[@]}" 2>/dev/null || true
            kill $WATCH 2>/dev/null || true
            finish ;;
  *) echo "unknown part $1: issue6, ptb, downstream, finetune, quality, lm, pretrain or all" >&2; exit 2 ;;
esac
