"""Experiment (issue 6): does a larger cuBLASLt workspace speed up the layer GEMMs at 1088 rows?

Run on the device (session 3, H100), once per setting:
    python3 benchmarks/experiments/gemm_workspace.py
    CUBLASLT_WORKSPACE_SIZE=65536 python3 benchmarks/experiments/gemm_workspace.py
Output: benchmarks/results/h100_s3_gemm_workspace.log (ms per GEMM, and x 32 layers).
"""

import json
import os

import torch
import torch.nn.functional as F

D_MODEL, HIDDEN, ROWS = 4096, 12288, 1088
SHAPES = {
    "qkv": (3 * D_MODEL, D_MODEL),
    "attn_out": (D_MODEL, D_MODEL),
    "gate_up": (2 * HIDDEN, D_MODEL),
    "ff_out": (D_MODEL, HIDDEN),
}


def main() -> None:
    inputs = {k: torch.randn(ROWS, k, device="cuda", dtype=torch.bfloat16) for k in (D_MODEL, HIDDEN)}
    result = {}
    for name, (n, k) in SHAPES.items():
        weight = torch.randn(n, k, device="cuda", dtype=torch.bfloat16) * 0.02
        for _ in range(5):
            F.linear(inputs[k], weight)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        for _ in range(50):
            F.linear(inputs[k], weight)
        end.record()
        end.synchronize()
        result[name] = round(start.elapsed_time(end) / 50, 4)
    result["layer_x32_ms"] = round(32 * sum(result.values()), 3)
    print(os.environ.get("CUBLASLT_WORKSPACE_SIZE", "default"), json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
