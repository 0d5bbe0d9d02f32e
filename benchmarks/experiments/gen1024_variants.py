"""Experiment (issue 6): where gen-1024 time goes on the compiled fast path, and what would help.

Run on the device (session 3, H100) as `python3 benchmarks/experiments/gen1024_variants.py OUTDIR`;
its output is benchmarks/results/h100_s3_gen1024_before.* (the code before commit 116f700).
`--tiny` runs a tiny shape on the CPU (checks the script, numbers meaningless).
Writes OUTDIR/gen1024.json (appended as it goes) and profiler tables.
"""

import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, "benchmarks")
from gpu_sampling import LLADA_8B, TINY, Bench, random_model, settings  # noqa: E402

from llada_tui.core.fast import FastLLaDA  # noqa: E402
from llada_tui.core.llada import block_forward  # noqa: E402

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
tiny = "--tiny" in sys.argv
cuda = torch.cuda.is_available() and not tiny
dev = torch.device("cuda" if cuda else "cpu")
config = TINY if tiny else LLADA_8B
dtype = torch.bfloat16 if cuda else torch.float32
results: dict = {"device": torch.cuda.get_device_name() if cuda else "cpu", "torch": torch.__version__}
T0 = time.perf_counter()


def save():
    results["elapsed_s"] = round(time.perf_counter() - T0, 1)
    (out / "gen1024.json").write_text(json.dumps(results, indent=1))


def log(*a):
    print(f"[{time.perf_counter() - T0:6.1f}s]", *a, flush=True)


def timed(fn, iters=20, warm=3):
    """ms per call, CUDA events (host clock on CPU)."""
    for _ in range(warm):
        fn()
    if cuda:
        torch.cuda.synchronize()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(iters):
            fn()
        b.record()
        b.synchronize()
        return a.elapsed_time(b) / iters
    s = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - s) * 1000 / iters


# ---- 1. GEMMs of one layer and the head, alone
d, h, V = config.d_model, config.mlp_hidden_size, config.vocab_size
gemm = {}
for rows in (1024, 1088, 1152) if not tiny else (72,):
    x = torch.randn(rows, d, device=dev, dtype=dtype)
    xh = torch.randn(rows, h, device=dev, dtype=dtype)
    shapes = {"qkv": (3 * d, d), "attn_out": (d, d), "gate_up": (2 * h, d), "ff_out": (d, h), "head": (V, d)}
    for name, (n, k) in shapes.items():
        w = torch.randn(n, k, device=dev, dtype=dtype) * 0.02
        inp = xh if k == h else x
        ms = timed(lambda inp=inp, w=w: F.linear(inp, w))
        gemm[f"{name} M={rows}"] = {"ms": round(ms, 4), "tflops": round(2 * rows * n * k / ms / 1e9, 1)}
results["gemm"] = gemm
layer_ms = sum(gemm[f"{n} M={1088 if not tiny else 72}"]["ms"] for n in ("qkv", "attn_out", "gate_up", "ff_out"))
results["gemm_layers_x32_ms"] = round(layer_ms * config.n_layers, 3)
log("gemm", json.dumps(gemm))
save()

# ---- 2. attention alone, [1, 32, 1088, 128], q/k/v as the layer makes them (strided views)
if cuda:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    L, H, D = 1088, config.n_heads, d // config.n_heads
    qkv = torch.randn(1, L, 3 * H, D, device=dev, dtype=dtype)
    q, k, v = (t.transpose(1, 2) for t in qkv.chunk(3, dim=2))
    att = {}
    for backend in (None, SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION):
        name = "default" if backend is None else backend.name
        try:
            ctx = sdpa_kernel([backend]) if backend else contextlib.nullcontext()
            with ctx:
                ms = timed(lambda: F.scaled_dot_product_attention(q, k, v))
            tflops = round(4 * L * L * H * D / ms / 1e9, 1)
            att[name] = {"ms": round(ms, 4), "x32_ms": round(32 * ms, 3), "tflops": tflops}
        except RuntimeError as e:
            att[name] = str(e).splitlines()[0]
    results["attention"] = att
    log("attention", json.dumps(att))
    save()

# ---- 3. recording's candidates over [R, V]: the current pack and alternatives
R = 1024 if not tiny else 64
logits = (torch.randn(R, V, device=dev, dtype=torch.float32) * 3).to(dtype)
x0 = logits.argmax(-1)


def current():
    probs = F.softmax(logits, dim=-1)
    torch.gather(probs, -1, x0[:, None])
    torch.topk(probs, 5, dim=-1)


def lse_fp32():
    top = torch.topk(logits, 5, dim=-1)
    lse = torch.logsumexp(logits.float(), dim=-1, keepdim=True)
    (top.values.float() - lse).exp()


def lse_compiled_fn(lg):
    m = lg.amax(-1, keepdim=True).float()
    return m + (lg.float() - m).exp().sum(-1, keepdim=True).log()


lse_compiled = torch.compile(lse_compiled_fn, dynamic=False)


def with_lse_compiled():
    top = torch.topk(logits, 5, dim=-1)
    (top.values.float() - lse_compiled(logits)).exp()


def chunked(width):
    def run():
        chunks = logits.view(R, V // width, width).topk(5, dim=-1)  # [R, C, 5]
        best = chunks.values.view(R, -1).topk(5, dim=-1)
        base = (torch.arange(V // width, device=dev) * width)[:, None]
        torch.gather((chunks.indices + base).view(R, -1), -1, best.indices)

    return run


rec = {}
for name, fn in {
    "softmax only": lambda: F.softmax(logits, dim=-1),
    "argmax only": lambda: logits.argmax(-1),
    "topk(logits) only": lambda: torch.topk(logits, 5, dim=-1),
    "current (softmax+gather+topk)": current,
    "topk + logsumexp fp32": lse_fp32,
    "topk + compiled lse": with_lse_compiled,
    "lse compiled only": lambda: lse_compiled(logits),
    "chunked topk 512": chunked(512) if V % 512 == 0 else None,
    "chunked topk 988": chunked(988) if V % 988 == 0 else None,
    "chunked topk 3952": chunked(3952) if V % 3952 == 0 else None,
}.items():
    if fn is None:
        continue
    try:
        rec[name] = round(timed(fn), 4)
    except Exception as e:  # noqa: BLE001
        rec[name] = f"failed: {str(e).splitlines()[0]}"
# do the chunked ones agree with topk?
ref = torch.topk(logits.float(), 5, dim=-1).values
chunks = logits.view(R, -1, 512).topk(5, dim=-1) if V % 512 == 0 else None
if chunks is not None:
    rec["chunked 512 values equal"] = bool(torch.equal(chunks.values.view(R, -1).topk(5).values.float(), ref))
results["recording_ms_R1024"] = rec
log("recording", json.dumps(rec))
save()

# ---- 4. whole steps, compiled fast path: default, then max-autotune-no-cudagraphs
model = random_model(config, dev, dtype)
fast = FastLLaDA(model, compile=True)
long = settings(tiny)["long"]
gen, P = long.gen_length, long.prompt_len


def step_variant(name, mode=None, backend=None, prof=False, repeats=3):
    torch._dynamo.reset()
    fast._captured = None
    fast._checked = False
    kw = {"mode": mode} if mode else {}
    fast.layer = torch.compile(block_forward, fullgraph=True, dynamic=False, **kw)
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(config, dev, Path(tmp), repeats)
        ctx = contextlib.nullcontext()
        if backend is not None:
            from torch.nn.attention import sdpa_kernel

            ctx = sdpa_kernel([backend])
        with ctx:
            bench.run(fast, long, recording=True, max_steps=3)
            warm = time.perf_counter() - t
            runs = [bench.run(fast, long, recording=True, max_steps=64) for _ in range(repeats)]
            ids = torch.full((1, P + gen), config.mask_token_id, device=dev)
            fwd = timed(lambda: fast.predict(ids, P), iters=20)
            median = sorted(runs)[len(runs) // 2]
            res = {"ms_per_step": median, "runs": runs, "forward_ms": round(fwd, 3), "warmup_s": round(warm, 1)}
            if prof and cuda:
                from torch.profiler import ProfilerActivity, profile

                with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as p:
                    bench.run(fast, long, recording=True, max_steps=4)
                table = p.key_averages().table(sort_by="cuda_time_total", row_limit=50, max_name_column_width=100)
                (out / f"profile_{name}.txt").write_text(table)
    results.setdefault("steps_gen1024_rec_on", {})[name] = res
    log(name, json.dumps(res))
    save()


step_variant("compile-default", prof=True)
if cuda:
    best = min((v["ms"], k) for k, v in results["attention"].items() if isinstance(v, dict) and k != "default")
    default_ms = results["attention"]["default"]["ms"]
    if best[0] < 0.95 * default_ms:
        from torch.nn.attention import SDPBackend

        step_variant(f"compile+{best[1]}", backend=getattr(SDPBackend, best[1]))
step_variant("autotune", mode="max-autotune-no-cudagraphs", prof=True)
log("done")
