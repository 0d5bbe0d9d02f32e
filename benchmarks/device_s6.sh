#!/bin/bash
# Session 6 (issue 16): the device calls, as run (`bash benchmarks/device_s6.sh A|B|C|D` in the repository root).
# Needs .bench_before (git archive of the session's start, 2c2b5e4) and .bench_after (of the commit
# measured) carried beside the working tree; results land in $OUT.
set -u
OUT=${OUT:-/tmp/out}
install() { python -m pip install -q --no-deps --no-index --no-build-isolation "$@" 2>&1 | tail -3; }
nvidia-smi --query-gpu=name,power.limit,clocks.max.sm,clocks.sm,memory.total --format=csv > "$OUT/smi.csv"
case "$1" in
A)  # before (the eager cached path), then after with compile and profiles, then the CUDA checks
    install --target /tmp/before .bench_before
    PYTHONPATH=/tmp/before timeout 150 python benchmarks/gpu_sampling.py --no-before --repeats 1 \
        --out "$OUT/before.json" > "$OUT/before.log" 2>&1; echo "before: $?"
    install .bench_after
    timeout 270 python benchmarks/gpu_sampling.py --no-before --compile --profile "$OUT/profile" \
        --out "$OUT/after1.json" > "$OUT/after1.log" 2>&1; echo "after1: $?"
    timeout 150 python benchmarks/cuda_check.py --skip-8b --out "$OUT/cuda_check" > "$OUT/cuda_check.log" 2>&1
    echo "cuda_check: $?" ;;
B)  # the final code twice (the rerun), and the CUDA checks again
    install .bench_after
    for run in 2 3; do
        timeout 230 python benchmarks/gpu_sampling.py --no-before --compile --out "$OUT/after$run.json" \
            > "$OUT/after$run.log" 2>&1; echo "after$run: $?"
    done
    timeout 100 python benchmarks/cuda_check.py --skip-8b --out "$OUT/cuda_check" > "$OUT/cuda_check.log" 2>&1
    echo "cuda_check: $?" ;;
C)  # the CLI on the 8B-shaped checkpoint (cuda_check's parts 4 and 6)
    install .bench_after
    timeout 500 python benchmarks/cuda_check.py --out "$OUT/cuda_check_8b" > "$OUT/cuda_check_8b.log" 2>&1
    echo "cuda_check 8b: $?" ;;
D)  # after the timing fix for runs stopped early (two runs, the checks unchanged)
    install .bench_after
    for run in 4 5; do
        timeout 240 python benchmarks/gpu_sampling.py --no-before --compile --out "$OUT/after$run.json" \
            > "$OUT/after$run.log" 2>&1; echo "after$run: $?"
    done ;;
esac
for log in "$OUT"/*.log; do echo "== $log"; tail -25 "$log"; done
