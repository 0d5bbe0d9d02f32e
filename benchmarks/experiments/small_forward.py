"""Where a dual-cached step's forward (32 tokens, LLaDA-8B shape, bf16) could get faster: issue 16, session 6.

Each piece is timed alone over the model's 32 layers (distinct random weights, so nothing stays in
L2), captured as one CUDA graph and replayed (CUDA events, median of 5 × 10 replays):
  - the copy ceiling: a device-to-device copy of 4 GiB (bytes read + written);
  - the four layer GEMMs and the head at 32 rows: cuBLAS as F.linear calls it, cuBLASLt
    (torch.backends.cuda.preferred_blas_library), and the weight stored transposed (x @ W^T
    contiguous: another layout, other kernels);
  - attention of 32 queries over 320 and 1088 keys: cuDNN, flash, memory-efficient, math;
  - the compiled fast path's forwards (benchmarks/gpu_sampling.py: time_forwards) with cuBLAS and
    with cuBLASLt preferred.

    python benchmarks/experiments/small_forward.py --out results.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

LAYERS, D, HIDDEN, VOCAB, ROWS = 32, 4096, 12288, 126464, 32


def graph_ms(fn, replays: int = 10) -> float:
    """ms of one fn() call, as a CUDA graph replayed."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    graph.replay()
    times = []
    for _ in range(5):
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        for _ in range(replays):
            graph.replay()
        end.record()
        end.synchronize()
        times.append(begin.elapsed_time(end) / replays)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.manual_seed(0)
    result: dict = {"device": torch.cuda.get_device_name()}

    source = torch.randn(2**31 // 2, device="cuda", dtype=torch.bfloat16)  # 2 GiB... doubled below
    source = torch.cat([source, source])  # 4 GiB
    target = torch.empty_like(source)
    ms = graph_ms(lambda t=target, s=source: t.copy_(s), replays=5)
    result["copy_tb_per_s"] = 2 * source.numel() * 2 / ms / 1e9
    print(f"copy: {result['copy_tb_per_s']:.2f} TB/s (read + write)", flush=True)
    del source, target

    shapes = {"qkv": (3 * D, D), "attn_out": (D, D), "gate_up": (2 * HIDDEN, D), "ff_out": (D, HIDDEN)}
    weights = {name: [torch.randn(shape, device="cuda", dtype=torch.bfloat16) * 0.02 for _ in range(LAYERS)]
               for name, shape in shapes.items()}  # fmt: skip
    head = torch.randn((VOCAB, D), device="cuda", dtype=torch.bfloat16) * 0.02
    inputs = {
        name: torch.randn((1, ROWS, shape[1]), device="cuda", dtype=torch.bfloat16) for name, shape in shapes.items()
    }
    gemms: dict = {}
    for variant in ("cublas", "cublaslt", "transposed"):
        torch.backends.cuda.preferred_blas_library("cublaslt" if variant == "cublaslt" else "cublas")
        total = 0.0
        for name, ws in weights.items():
            x = inputs[name]
            if variant == "transposed":
                ts = [w.t().contiguous() for w in ws]
                ms = graph_ms(lambda x=x, ts=ts: [x @ t for t in ts])
                del ts
            else:
                ms = graph_ms(lambda x=x, ws=ws: [F.linear(x, w) for w in ws])
            gb = sum(w.numel() for w in ws) * 2 / 1e9
            gemms[f"{variant} {name}"] = {"ms_32_layers": round(ms, 4), "tb_per_s": round(gb / ms, 3)}
            total += ms
            print(f"{variant:>10} {name:<9} {ms:7.3f} ms for 32 layers, {gb / ms:5.2f} TB/s", flush=True)
        if variant == "transposed":
            t = head.t().contiguous()
            ms = graph_ms(lambda t=t: inputs["qkv"][..., :D] @ t)
            del t
        else:
            ms = graph_ms(lambda head=head: F.linear(inputs["qkv"][..., :D], head))
        gemms[f"{variant} head"] = {"ms": round(ms, 4), "tb_per_s": round(head.numel() * 2 / 1e9 / ms, 3)}
        print(
            f"{variant:>10} head      {ms:7.3f} ms, {head.numel() * 2 / 1e9 / ms:5.2f} TB/s; "
            f"layers + head {total + ms:.3f} ms",
            flush=True,
        )
        gemms[f"{variant} total"] = round(total + ms, 4)
    torch.backends.cuda.preferred_blas_library("cublas")
    result["gemms"] = gemms

    attention: dict = {}
    for keys in (320, 1088):
        q = torch.randn((1, 32, ROWS, 128), device="cuda", dtype=torch.bfloat16)
        shape = (1, 32, keys, 128)
        kv = [(torch.randn(shape, device="cuda", dtype=torch.bfloat16),
               torch.randn(shape, device="cuda", dtype=torch.bfloat16)) for _ in range(LAYERS)]  # fmt: skip
        for backend in (
            SDPBackend.CUDNN_ATTENTION,
            SDPBackend.FLASH_ATTENTION,
            SDPBackend.EFFICIENT_ATTENTION,
            SDPBackend.MATH,
        ):
            try:
                with sdpa_kernel(backend):
                    ms = graph_ms(lambda q=q, kv=kv: [F.scaled_dot_product_attention(q, k, v) for k, v in kv])
            except RuntimeError as error:
                print(f"attention {keys} keys {backend.name}: failed: {str(error).splitlines()[0]}")
                continue
            attention[f"{keys} {backend.name}"] = round(ms, 4)
            print(f"attention, {keys} keys, {backend.name:<20} {ms:7.3f} ms for 32 layers", flush=True)
    result["attention_ms_32_layers"] = attention
    del q, kv, weights, head

    import sys

    sys.path.insert(0, str(Path(__file__).parents[1]))
    import tempfile

    from gpu_sampling import LLADA_8B, Bench, random_model, settings, time_forwards

    from llada_tui.core.fast import FastLLaDA

    model = random_model(LLADA_8B, torch.device("cuda"), torch.bfloat16)
    bench = Bench(LLADA_8B, torch.device("cuda"), Path(tempfile.mkdtemp()), 1)
    forwards = {}
    for library in ("cublas", "cublaslt", "cublas"):
        torch.backends.cuda.preferred_blas_library(library)
        fast = FastLLaDA(model, compile=True)
        forwards[library] = time_forwards(fast, bench, settings(False)["short"], f"compiled, {library}")
        del fast
    result["forwards"] = forwards
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
