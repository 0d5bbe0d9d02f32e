"""Sampling speed of LLaDA-8B's shape on one GPU: the plain path against the fast one (issue 6).

Random bfloat16 weights are made on the GPU (nothing is downloaded or read from disk); LLaDA's
step time does not depend on what the weights are. Every timed case is one generate() call after
a warm-up call of the same shape, timed with the host clock between CUDA synchronisations:
ms_per_step = the call's time / the steps it ran. Settings (prompt 64, block 32):
  - gen 256, steps 256, recording off and on (top-k 5, written to a trace file): whole runs;
  - gen 1024, steps 1024, recording on: the first two blocks (64 steps), stopped by the recorder,
    which are the dearest to record (the most still-masked positions to rank);
  - gen 512, steps 512, recording on: one block, for peak memory.
Paths: "plain" is the model run eagerly, as on the CPU; "fast" is the fast path (core/fast.py: the
same forward captured as CUDA graphs); "fast-compiled" adds torch.compile (with --compile).
Peak memory is reset before each case, so peak_gib is the weights plus that case's working memory
(torch's allocator, no CUDA context).

    python benchmarks/gpu_sampling.py --out benchmarks/results/h100.json [--compile] [--profile DIR]
    python benchmarks/gpu_sampling.py --tiny --out /tmp/tiny.json     # a tiny shape on the CPU, for CI
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from llada_tui.core.config import LLaDAConfig
from llada_tui.core.fast import FastLLaDA
from llada_tui.core.llada import LLaDAModel, init_weights
from llada_tui.core.records import Header
from llada_tui.core.sampler import StopSampling, generate
from llada_tui.core.trace_writer import TraceWriter

# shared/LLADA.md: LLaDA-8B's config.json
LLADA_8B = LLaDAConfig(
    d_model=4096,
    n_layers=32,
    n_heads=32,
    n_kv_heads=32,
    mlp_hidden_size=12288,
    vocab_size=126464,
    embedding_size=126464,
    max_sequence_length=4096,
    rope_theta=500000.0,
    rms_norm_eps=1e-5,
    mask_token_id=126336,
    eos_token_id=126081,
    pad_token_id=126081,
)
TINY = LLaDAConfig(d_model=64, n_layers=2, n_heads=4, vocab_size=512, mlp_hidden_size=128, mask_token_id=500)
OFFICIAL_MS = 38.2  # the official sampler and modeling code, H100, gen 256 (issue 6)
TOPK = 5


@dataclass(frozen=True)
class Setting:
    prompt_len: int
    gen_length: int
    steps: int
    block_length: int
    timed_steps: int | None = None  # None: the whole run


def settings(tiny: bool) -> dict[str, Setting]:
    if tiny:
        return {
            "short": Setting(8, 32, 32, 8),
            "long": Setting(8, 64, 64, 8, timed_steps=16),
            "peak": Setting(8, 48, 48, 8, timed_steps=8),
        }
    return {
        "short": Setting(64, 256, 256, 32),
        "long": Setting(64, 1024, 1024, 32, timed_steps=64),
        "peak": Setting(64, 512, 512, 32, timed_steps=32),
    }


def random_model(config: LLaDAConfig, device: torch.device, dtype: torch.dtype) -> LLaDAModel:
    """The model with random weights made where it runs (no host copy, no float32 detour)."""
    with torch.device("meta"):
        model = LLaDAModel(config)
    model = model.to(dtype).to_empty(device=device)
    torch.manual_seed(0)
    init_weights(model)
    return model.eval().requires_grad_(False)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Bench:
    def __init__(self, config: LLaDAConfig, device: torch.device, trace_dir: Path, repeats: int):
        self.config, self.device, self.trace_dir, self.repeats = config, device, trace_dir, repeats
        self.cases: list[dict] = []
        generator = torch.Generator().manual_seed(1)
        self.prompt_ids = torch.randint(0, config.mask_token_id, (4096,), generator=generator)

    def run(self, model, setting: Setting, recording: bool, max_steps: int | None = None) -> float:
        """One generate() call; its ms per step."""
        prompt = self.prompt_ids[: setting.prompt_len][None].to(self.device)
        recorded = 0
        writer = None
        if recording:
            header = Header(
                prompt_text="benchmark",
                prompt_ids=prompt[0].tolist(),
                model={"name": "random"},
                params={
                    "steps": setting.steps,
                    "gen_length": setting.gen_length,
                    "block_length": setting.block_length,
                    "mask_id": self.config.mask_token_id,
                    "remasking": "low_confidence",
                    "temperature": 0.0,
                    "cfg_scale": 0.0,
                },
            )
            # A scratch trace, rewritten by every timed run.
            writer = TraceWriter(
                self.trace_dir / "bench.trace", header, lambda token_id: f"<{token_id}>", overwrite=True
            )

        def recorder(step) -> None:
            nonlocal recorded
            writer.write_step(step)
            recorded += 1
            if max_steps is not None and recorded >= max_steps:
                raise StopSampling

        synchronize(self.device)
        started = time.perf_counter()
        try:
            generate(
                model,
                prompt,
                steps=setting.steps,
                gen_length=setting.gen_length,
                block_length=setting.block_length,
                mask_id=self.config.mask_token_id,
                recorder=recorder if recording else None,
                topk=TOPK,
            )
        except StopSampling:
            pass
        synchronize(self.device)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        if writer is not None:
            writer.close()
        return elapsed_ms / (recorded if recording else setting.steps)

    def case(self, path: str, model, setting: Setting, recording: bool, repeats: int | None = None) -> dict:
        if recording is False and setting.timed_steps is not None:
            raise ValueError("a run without a recorder cannot be stopped early")
        self.run(model, setting, recording=True, max_steps=3)  # warm-up: graph capture, kernel choices
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
        runs = [self.run(model, setting, recording, setting.timed_steps) for _ in range(repeats or self.repeats)]
        gib = 2**30
        on_gpu = self.device.type == "cuda"
        case = {
            "name": f"{path} gen{setting.gen_length} recording {'on' if recording else 'off'}",
            "path": path,
            "prompt_len": setting.prompt_len,
            "gen_length": setting.gen_length,
            "steps": setting.steps,
            "block_length": setting.block_length,
            "recording": recording,
            "timed_steps": setting.timed_steps or setting.steps,
            "ms_per_step": round(statistics.median(runs), 3),
            "runs_ms_per_step": [round(r, 3) for r in runs],
            "peak_gib": round(torch.cuda.max_memory_allocated(self.device) / gib, 3) if on_gpu else 0.0,
            "peak_reserved_gib": round(torch.cuda.max_memory_reserved(self.device) / gib, 3) if on_gpu else 0.0,
        }
        self.cases.append(case)
        print(f"  {case['name']:<40} {case['ms_per_step']:8.2f} ms/step  runs {case['runs_ms_per_step']}", flush=True)
        return case


def profile(model, bench: Bench, setting: Setting, out: Path) -> None:
    """The kernels of a few recorded steps, as the PyTorch profiler sees them (a text table)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    bench.run(model, setting, recording=True, max_steps=3)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if bench.device.type == "cuda" else [])
    try:
        with torch_profile(activities=activities) as prof:
            bench.run(model, setting, recording=True, max_steps=4)
    except RuntimeError as error:  # no CUPTI, ...: the timings matter more than the profile
        print(f"  profiler failed: {str(error).splitlines()[0]}")
        return
    sort = "cuda_time_total" if bench.device.type == "cuda" else "cpu_time_total"
    out.write_text(prof.key_averages().table(sort_by=sort, row_limit=40, max_name_column_width=100))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON results")
    parser.add_argument("--tiny", action="store_true", help="a tiny model on the CPU (checks the script works)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per fast case (median reported)")
    parser.add_argument("--no-before", action="store_true", help="skip the plain (eager) path")
    parser.add_argument("--compile", action="store_true", help="also time the fast path with torch.compile")
    parser.add_argument("--profile", type=Path, help="write profiler tables (plain, fast, compiled at gen 1024) here")
    args = parser.parse_args(argv)

    if args.tiny:
        config, device, dtype = TINY, torch.device("cpu"), torch.float32
    else:
        if not torch.cuda.is_available():
            print("gpu_sampling: no CUDA device (use --tiny on the CPU)", file=sys.stderr)
            return 1
        config, device, dtype = LLADA_8B, torch.device("cuda"), torch.bfloat16
    runs = settings(args.tiny)
    started = time.perf_counter()
    model = random_model(config, device, dtype)
    gpu_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"{gpu_name}, torch {torch.__version__}: model of {config.num_params() / 1e9:.2f} B parameters, {dtype}")

    with tempfile.TemporaryDirectory() as trace_dir:
        bench = Bench(config, device, Path(trace_dir), args.repeats)
        if not args.no_before:
            bench.case("plain", model, runs["short"], recording=False, repeats=1)
            bench.case("plain", model, runs["short"], recording=True, repeats=1)
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                profile(model, bench, runs["short"], args.profile / "profile_plain.txt")

        fast = FastLLaDA(model)
        bench.case("fast", fast, runs["peak"], recording=True)
        for recording in (False, True):
            bench.case("fast", fast, runs["short"], recording=recording)
        bench.case("fast", fast, runs["long"], recording=True)
        if args.profile:
            profile(fast, bench, runs["short"], args.profile / "profile_fast.txt")

        if args.compile:
            del fast
            compiled = FastLLaDA(model, compile=True)
            for recording in (False, True):
                bench.case("fast-compiled", compiled, runs["short"], recording=recording)
            bench.case("fast-compiled", compiled, runs["long"], recording=True)
            if args.profile:
                profile(compiled, bench, runs["long"], args.profile / "profile_fast_compiled_long.txt")

    result = {
        "device": gpu_name,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "torch": torch.__version__,
        "model": "LLaDA-8B shape, random weights" if not args.tiny else "tiny, random weights",
        "dtype": str(dtype).removeprefix("torch."),
        "timing": "median of whole generate() calls after a warm-up, host clock between CUDA syncs; "
        "timed_steps < steps: the run was stopped by the recorder after that many steps",
        "cases": bench.cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(bench.cases, runs["short"].gen_length)
    print(f"wrote {args.out} ({time.perf_counter() - started:.0f} s)")
    return 0


def print_table(cases: list[dict], short: int) -> None:
    def ms(path: str, gen: int, recording: bool) -> float | None:
        for case in cases:
            if (case["path"], case["gen_length"], case["recording"]) == (path, gen, recording):
                return case["ms_per_step"]
        return None

    print(f"\n{'case':<42} {'ms/step':>8} {'vs official':>11} {'peak GiB':>9}")
    for case in cases:
        speedup = f"{OFFICIAL_MS / case['ms_per_step']:.2f}x" if case["gen_length"] == 256 else "-"
        print(f"{case['name']:<42} {case['ms_per_step']:8.2f} {speedup:>11} {case['peak_gib']:9.2f}")
    for path in ("fast", "fast-compiled"):
        on, off = ms(path, short, True), ms(path, short, False)
        if on and off:
            print(f"{path}: recording costs {100 * (on / off - 1):+.1f} % at gen {short}")


if __name__ == "__main__":
    sys.exit(main())
