#!/usr/bin/env bash
# One prepared check of bakeoff on a lent GPU machine (bare, offline, Python 3.12, CUDA torch),
# sized to about 7 minutes so a short device lease is enough. Helpers: benchmarks/gpu_check.py.
#
#   here, once:   bash benchmarks/gpu_check.sh pack
#                 (downloads the wheels the GPU machine lacks into .whl/ and builds .gpudata/:
#                  SST-2 + RTE files, MiniLM in fp16, SmolLM2-135M's tokenizer and config)
#   GPU machine:  bash benchmarks/gpu_check.sh          with carry [".whl", ".gpudata"]
#   dry run here: GPU_CHECK_SMALL=1 GPU_CHECK_SKIP_WHEELS=1 PY=.venv/bin/python \
#                 bash benchmarks/gpu_check.sh
#                 (GPU_CHECK_PYTHONPATH=DIR puts e.g. the GPU image's transformers version first;
#                  GPU_CHECK_STEPS="make-llm prompted report" runs only those steps)
#
# The LLM steps use SmolLM2-135M's architecture with random weights (its GGUF does not fit the
# 64 MiB that travels): speed, memory and the batch-size back-off are the real model's, its
# accuracy is chance. MiniLM's weights are real (stored fp16, loaded fp32).
# Everything goes to $OUT: log.txt, summary.txt, bench.json, gpu.db, oom.db, report.tgz.
set -u -o pipefail
cd "$(dirname "$0")/.."

PY=${PY:-}   # python3 on the GPU machine; .venv/bin/python for `pack`
SMALL=${GPU_CHECK_SMALL:-}
OUT=${OUT:-/tmp/gpu_check_out}
WORK=${GPU_CHECK_WORK:-/tmp/gpucheck}
PACK=.gpudata
ENC=$PACK/minilm-fp16
LLM_ARCH=$PACK/smollm2-135m-arch
LLM=$WORK/smollm2-135m-random-weights   # built there (270 MB), never carried

# ---- every bakeoff flag used below, in one place (the CLI is being refactored) ----------------
# LLM batch size 'auto' (the default; main() names it with whichever flag `run --help` shows:
# --llm-batch-size in the old CLI, --batch-size in the new one)
LLM_BATCH=()
TASKS=sst2,rte
MEM_CAP_GIB=2            # GPU memory cap for the out-of-memory back-off step
if [[ -n $SMALL ]]; then
    BUDGET=${GPU_CHECK_BUDGET:-3000}
    SCALE=5                          # step limits x5: two shared CPU cores, not an H200
    MATMUL=(--n 512 --repeats 3)
    BENCH=(bench --models bert-base,qwen2-0.5b --limit 4 --batch-size 4 --latency-samples 1
           --max-length 32)
    EVAL=(--eval-limit 16 --latency-samples 4)
    TRAIN=(--train-limit 64 --epochs 1 --set finetune.min_steps=0)
else
    BUDGET=${GPU_CHECK_BUDGET:-450}
    SCALE=1
    MATMUL=(--n 8192 --repeats 10)
    BENCH=(bench --max-length 128,512)   # the five architectures, default limit 64 and batch 32
    EVAL=()                              # full validation splits (SST-2 872, RTE 277)
    TRAIN=(--train-limit 2000)           # fine-tuning defaults otherwise (epochs, lr, min steps)
fi
RESERVE=60               # seconds kept back for results, report and summary
# -------------------------------------------------------------------------------------------------

if [[ ${1:-} == pack ]]; then
    set -e
    PY=${PY:-.venv/bin/python}
    for dir in /.whl/ /.gpudata/; do
        grep -qxF $dir .git/info/exclude 2>/dev/null || echo $dir >>.git/info/exclude
    done
    rm -rf .whl && mkdir .whl
    # missing on the GPU image (see KINDS.md's list), with their own missing needs; nothing that is
    # there already (torch, transformers, tokenizers, ...) travels
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl \
        datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 pydantic==2.14.4 pydantic_core==2.50.5 \
        annotated-types==0.8.0 typing-inspection==0.4.5 typing_extensions==4.16.0
    "$PY" benchmarks/gpu_check.py pack --data "${BAKEOFF_TEST_DATA:-../shared/data}" --out $PACK
    du -sh .whl $PACK
    echo "travels: $(du -cb .whl $PACK $(git ls-files) $(git ls-files -o --exclude-standard) \
        | tail -1 | cut -f1) bytes"
    exit 0
fi

rm -rf "$WORK"
mkdir -p "$OUT" "$WORK"
PY=${PY:-python3}
STEPS=$WORK/steps.txt
: >"$STEPS"
START=$(date +%s)
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 TOKENIZERS_PARALLELISM=false COLUMNS=160
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HOME=$WORK/hf
export BAKEOFF_DATA_DIR=$PWD/$PACK/data BAKEOFF_CACHE=$WORK/cache

# step NAME MAX_SECONDS [final] -- CMD...: run CMD under a time limit that also respects the budget
step() {
    local name=$1 max=$(($2 * SCALE)) end=$((START + BUDGET - RESERVE))
    shift 2
    if [[ $1 == final ]]; then end=$((START + BUDGET)); shift; fi
    shift # --
    if [[ -n ${GPU_CHECK_STEPS:-} && " $GPU_CHECK_STEPS " != *" $name "* ]]; then
        echo "== $name: not in GPU_CHECK_STEPS"
        return
    fi
    local left=$((end - $(date +%s)))
    local limit=$((max < left ? max : left))
    if ((limit < 15)); then
        echo "== $name: SKIPPED (budget spent)"
        echo "$name skipped 0" >>"$STEPS"
        return
    fi
    echo "== $name (limit ${limit}s, at $(($(date +%s) - START))s): $*"
    local t0=$SECONDS rc
    timeout -k 10 "$limit" "$@"
    rc=$?
    echo "$name $rc $((SECONDS - t0))" >>"$STEPS"
    echo "== $name: rc=$rc in $((SECONDS - t0)) s"
}

BAKEOFF=("$PY" benchmarks/gpu_check.py cli --)   # the bakeoff CLI, run through bakeoff.cli.main

main() {
    echo "gpu_check: small=${SMALL:-no} budget=${BUDGET}s at $(date -u +%FT%TZ) in $PWD"
    if [[ -z ${GPU_CHECK_SKIP_WHEELS:-} ]]; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target "$WORK/site" .whl/*.whl || { echo "wheel install failed"; return 3; }
        export PYTHONPATH=$WORK/site:$PWD/src
    else  # dry run: the local environment, plus an optional folder of other package versions
        export PYTHONPATH=${GPU_CHECK_PYTHONPATH:+$GPU_CHECK_PYTHONPATH:}$PWD/src
    fi
    local help
    help=$("${BAKEOFF[@]}" run --help 2>&1)
    if grep -q -- '--llm-batch-size' <<<"$help"; then
        LLM_BATCH=(--llm-batch-size auto)
    elif grep -q -- '--batch-size' <<<"$help"; then
        LLM_BATCH=(--batch-size auto)
    fi
    echo "gpu_check: LLM batch size flag: ${LLM_BATCH[*]:-none (auto by default)}"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.max.sm --format=csv
    step env 90 -- "$PY" benchmarks/gpu_check.py env "${MATMUL[@]}"
    step make-llm 90 -- "$PY" benchmarks/gpu_check.py make-llm $LLM_ARCH $LLM
    step bench 200 -- "$PY" benchmarks/gpu_check.py cli --stand-in-tokenizers $ENC $LLM_ARCH \
        -- "${BENCH[@]}" --json "$OUT/bench.json"
    step llm-auto 100 -- "${BAKEOFF[@]}" run --task sst2 --model $LLM --method zero-shot \
        "${LLM_BATCH[@]}" "${EVAL[@]}" --db "$WORK/gpu.db"
    step oom-backoff 100 -- "$PY" benchmarks/gpu_check.py cli --mem-cap-gib $MEM_CAP_GIB -- run \
        --task rte --model $LLM --method few-shot "${LLM_BATCH[@]}" "${EVAL[@]}" --db "$WORK/oom.db"
    # two runs, not one grid: bakeoff knows a folder's kind only for aliases, so a grid of two
    # folders would also prompt the encoder and fine-tune the LLM
    step finetune 150 -- "${BAKEOFF[@]}" run --task $TASKS --model $ENC --method finetune \
        "${EVAL[@]}" "${TRAIN[@]}" --db "$WORK/gpu.db"
    # issue 10: default fine-tuning on 200 SST-2 labels must learn; the study's preset beside it
    step ft200 80 -- "${BAKEOFF[@]}" run --task sst2 --model $ENC --method finetune \
        --train-limit 200 "${EVAL[@]}" --db "$WORK/gpu.db"
    step ft200-study 60 -- "${BAKEOFF[@]}" run --task sst2 --model $ENC --method finetune \
        --train-limit 200 --preset study "${EVAL[@]}" --db "$WORK/gpu.db"
    step prompted 150 -- "${BAKEOFF[@]}" run --task $TASKS --model $LLM --method zero-shot,few-shot \
        "${LLM_BATCH[@]}" "${EVAL[@]}" --db "$WORK/gpu.db"
    step results 30 final -- "${BAKEOFF[@]}" results --db "$WORK/gpu.db"
    rm -rf "$WORK/report"
    step report 60 final -- "${BAKEOFF[@]}" report --db "$WORK/gpu.db" --out "$WORK/report"
    [[ -d $WORK/report ]] && tar czf "$OUT/report.tgz" -C "$WORK" report
    echo "gpu_check: done in $(($(date +%s) - START)) s"
}

main 2>&1 | tee "$OUT/log.txt"
rc=$?
"$PY" benchmarks/gpu_check.py summary --steps "$STEPS" --bench "$OUT/bench.json" \
    --log "$OUT/log.txt" --export "$OUT" "$WORK/gpu.db" "$WORK/oom.db" 2>&1 | tee "$OUT/summary.txt"
exit $rc
