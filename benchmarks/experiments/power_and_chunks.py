"""Experiment (issue 6): do the gen-1024 GEMMs slow down when sustained? And chunk-maximum widths.

Run on the device (session 3, H100) as `python3 benchmarks/experiments/power_and_chunks.py OUTDIR`;
its output is benchmarks/results/h100_s3_power.json and h100_s3_power_smi*.csv. nvidia-smi samples
the SM clock, power and clock-event reasons (0x4: software power cap) every 100/250 ms while:
  A. the 128 layer GEMMs of one gen-1024 forward (1088 rows, 32 layers of distinct weights) run once;
  B. the same loop runs for 10 s (ms per forward, per batch of 10);
  C. the maximum of each chunk of [1024, 126464] bf16 logits at several widths, eager and compiled;
  D. the compiled fast path's forward at gen 1024 (LLaDA-8B shape, random weights) replays for 10 s.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, "benchmarks")
from gpu_sampling import LLADA_8B, random_model  # noqa: E402

from llada_tui.core.fast import FastLLaDA  # noqa: E402

DEVICE, BF16 = "cuda", torch.bfloat16
D_MODEL, HIDDEN, VOCAB, ROWS = 4096, 12288, 126464, 1088


def event() -> torch.cuda.Event:
    return torch.cuda.Event(enable_timing=True)


def ms_per_call(fn, calls: int) -> float:
    start, end = event(), event()
    start.record()
    for _ in range(calls):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / calls


def sustained(fn, seconds: float = 10.0) -> list[float]:
    """ms per call of fn, for each batch of 10 calls, for `seconds`."""
    per_batch, started = [], time.time()
    while time.time() - started < seconds:
        per_batch.append(round(ms_per_call(fn, 10), 3))
    return per_batch


def start_sampling_clocks(out: Path) -> list[subprocess.Popen]:
    fields = [
        ("smi.csv", "timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,power.limit", "100"),
        ("smi_reasons.csv", "timestamp,clocks_event_reasons.active", "250"),
    ]
    return [
        subprocess.Popen(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader", "-lms", period],
            stdout=open(out / name, "w"),
            stderr=subprocess.STDOUT,
        )
        for name, query, period in fields
    ]


def layer_gemms(result: dict, mark) -> None:
    x = torch.randn(ROWS, D_MODEL, device=DEVICE, dtype=BF16)
    xh = torch.randn(ROWS, HIDDEN, device=DEVICE, dtype=BF16)
    shapes = ((3 * D_MODEL, D_MODEL), (D_MODEL, D_MODEL), (2 * HIDDEN, D_MODEL), (D_MODEL, HIDDEN))
    layers = [[torch.randn(n, k, device=DEVICE, dtype=BF16) * 0.02 for n, k in shapes] for _ in range(32)]

    def forward_gemms() -> None:
        for qkv, attn_out, gate_up, ff_out in layers:
            F.linear(x, qkv)
            F.linear(x, attn_out)
            F.linear(x, gate_up)
            F.linear(xh, ff_out)

    mark("A burst start")
    for _ in range(2):
        forward_gemms()
    torch.cuda.synchronize()
    result["burst_forward_gemms_ms"] = ms_per_call(forward_gemms, 1)
    mark("B sustained start")
    result["sustained_forward_gemms_ms"] = sustained(forward_gemms)
    mark("B end")


def chunk_maxima(result: dict) -> None:
    logits = (torch.randn(1024, VOCAB, device=DEVICE) * 3).to(BF16)
    timings = {}
    for width in (128, 256, 304, 494, 512, 988):
        eager = lambda width=width: logits.view(1024, VOCAB // width, width).amax(-1)  # noqa: E731
        compiled = torch.compile(lambda t, width=width: t.view(1024, VOCAB // width, width).amax(-1), dynamic=False)
        for name, fn in ((f"eager {width}", eager), (f"compiled {width}", lambda c=compiled: c(logits))):
            for _ in range(3):
                fn()
            timings[name] = round(ms_per_call(fn, 20), 4)
    timings["softmax"] = round(ms_per_call(lambda: F.softmax(logits, -1), 20), 4)
    result["amax_ms"] = timings
    print(timings, flush=True)


def model_forward(result: dict, mark) -> None:
    fast = FastLLaDA(random_model(LLADA_8B, torch.device(DEVICE), BF16), compile=True)
    ids = torch.full((1, ROWS), LLADA_8B.mask_token_id, device=DEVICE)
    for _ in range(3):
        fast.predict(ids, 64)
    torch.cuda.synchronize()
    time.sleep(5)
    mark("D sustained model start")
    result["sustained_model_forward_ms"] = sustained(lambda: fast.predict(ids, 64))
    mark("D end")


def main() -> None:
    out = Path(sys.argv[1])
    result: dict = {"marks": []}

    def mark(name: str) -> None:
        result["marks"].append([name, time.time()])
        print(name, flush=True)

    samplers = start_sampling_clocks(out)
    try:
        layer_gemms(result, mark)
        torch.cuda.empty_cache()
        time.sleep(5)
        mark("idle 5 s")
        chunk_maxima(result)
        model_forward(result, mark)
    finally:
        (out / "diag.json").write_text(json.dumps(result, indent=1))
        for sampler in samplers:
            sampler.terminate()


if __name__ == "__main__":
    main()
