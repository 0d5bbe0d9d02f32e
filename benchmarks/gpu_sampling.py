"""Sampling speed of LLaDA-8B's shape on one GPU: the plain path against the fast one (issue 6).

Random bfloat16 weights are made on the GPU (nothing is downloaded or read from disk); LLaDA's
step time does not depend on what the weights are. Every timed case is one sampling run after
a warm-up call of the same shape, timed with the host clock between CUDA synchronisations:
ms_per_step = the call's time / the forwards it ran. Settings (prompt 64, block 32):
  - gen 256, steps 256, recording off and on (top-k 5, written to a trace file): whole runs;
  - gen 1024, steps 1024, recording on: the first two blocks (64 forwards; the recorder stops the
    run when the 64th is queued, as it sees each step one forward late on a GPU),
    which are the dearest to record (the most still-masked positions to rank);
  - gen 512, steps 512, recording on: one block, for peak memory.
Paths: "plain" is the model run eagerly, as on the CPU; "fast" is the fast path (core/fast.py: the
same forward captured as CUDA graphs); "fast-compiled" adds torch.compile (with --compile).
Each case also names its KV cache ("none", or Fast-dLLM's "prefix" / "dual", core/cached.py) and
sampler ("reference": the reference's schedule, one token per step at steps = gen_length;
"threshold": Fast-dLLM's confidence threshold 0.9, which random weights never reach, so it runs
as many forwards but asks the GPU after each whether the block is full). A cached run's
ms_per_step is its time over its forwards, the block-start (full) forwards included. On the fast
paths the script also times the forwards alone (`forwards`: CUDA events around 30 calls of one
kind, as the sampler makes them: the uncached forward, the block-start forward, a dual span).
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

from llada_tui.core.cached import generate_cached
from llada_tui.core.config import LLaDAConfig
from llada_tui.core.fast import FastLLaDA
from llada_tui.core.kv_cache import KVCache
from llada_tui.core.llada import LLaDAModel, init_weights
from llada_tui.core.records import Header
from llada_tui.core.sampler import StopSampling, generate
from llada_tui.core.step_capture import record_lag
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
FAST_DLLM_DUAL_MS = 40.9  # Fast-dLLM's own dual cache, per forward, H200, gen 256 (issue 16)
TOPK = 5
THRESHOLD = 0.9  # Fast-dLLM's default


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

    def run(
        self,
        model,
        setting: Setting,
        recording: bool,
        max_steps: int | None = None,
        cache: str = "none",
        sampler: str = "reference",
    ) -> float:
        """One sampling run; its ms per step (per forward)."""
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

        # On a GPU the recorder gets each step one forward late: stopping after max_steps - 1 records
        # stops with exactly max_steps forwards run (the last one queued, then waited for).
        stop_after = None if max_steps is None else max_steps - record_lag(self.device)

        def recorder(step) -> None:
            nonlocal recorded
            writer.write_step(step)
            recorded += 1
            if stop_after is not None and recorded >= stop_after:
                raise StopSampling

        shape = dict(
            steps=setting.steps,
            gen_length=setting.gen_length,
            block_length=setting.block_length,
            mask_id=self.config.mask_token_id,
            recorder=recorder if recording else None,
            topk=TOPK,
        )
        threshold = THRESHOLD if sampler == "threshold" else None
        forwards = setting.steps
        synchronize(self.device)
        started = time.perf_counter()
        try:
            if cache == "none":
                generate(model, prompt, **shape)
            else:
                forwards = generate_cached(model, prompt, **shape, threshold=threshold, cache=cache)[1]
        except StopSampling:
            forwards = max_steps
        synchronize(self.device)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        if writer is not None:
            writer.close()
        return elapsed_ms / forwards

    def case(
        self,
        path: str,
        model,
        setting: Setting,
        recording: bool,
        repeats: int | None = None,
        cache: str = "none",
        sampler: str = "reference",
    ) -> dict:
        if recording is False and setting.timed_steps is not None:
            raise ValueError("a run without a recorder cannot be stopped early")
        # Warm-up (graph captures, kernel choices, compiling): the prefix cache has a shape per block.
        warm_up = setting.timed_steps if cache == "prefix" else 3
        self.run(model, setting, recording=True, max_steps=warm_up, cache=cache, sampler=sampler)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
        runs = [
            self.run(model, setting, recording, setting.timed_steps, cache=cache, sampler=sampler)
            for _ in range(repeats or self.repeats)
        ]
        gib = 2**30
        on_gpu = self.device.type == "cuda"
        label = path if cache == "none" else f"{path} {cache}"
        label += " threshold" if sampler == "threshold" else ""
        case = {
            "name": f"{label} gen{setting.gen_length} recording {'on' if recording else 'off'}",
            "path": path,
            "cache": cache,
            "sampler": sampler,
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
        print(f"  {case['name']:<48} {case['ms_per_step']:8.2f} ms/step  runs {case['runs_ms_per_step']}", flush=True)
        return case


def profile(model, bench: Bench, setting: Setting, out: Path, cache: str = "none", steps: int = 4) -> None:
    """The kernels of a few recorded steps, as the PyTorch profiler sees them (a text table)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    bench.run(model, setting, recording=True, max_steps=3, cache=cache)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if bench.device.type == "cuda" else [])
    try:
        with torch_profile(activities=activities) as prof:
            bench.run(model, setting, recording=True, max_steps=steps, cache=cache)
    except RuntimeError as error:  # no CUPTI, ...: the timings matter more than the profile
        print(f"  profiler failed: {str(error).splitlines()[0]}")
        return
    sort = "cuda_time_total" if bench.device.type == "cuda" else "cpu_time_total"
    out.write_text(prof.key_averages().table(sort_by=sort, row_limit=40, max_name_column_width=100))


def time_forwards(model, bench: Bench, setting: Setting, path: str, calls: int = 30) -> dict:
    """ms per forward of each kind the samplers make, alone: CUDA events around `calls` calls."""
    config, device = bench.config, bench.device
    length = setting.prompt_len + setting.gen_length
    ids = torch.randint(0, config.mask_token_id, (1, length), device=device)
    block = slice(setting.prompt_len, setting.prompt_len + setting.block_length)
    kept = KVCache(config.n_layers)
    kinds = {
        "uncached": lambda: model.predict(ids, setting.prompt_len),
        "block start (fills the cache)": lambda: model.predict_cached(
            ids, setting.prompt_len, KVCache(config.n_layers)
        ),
        "dual span": lambda: model.predict_cached(ids[:, block], 0, kept.at(block.start)),
    }
    timings = {}
    for kind, forward in kinds.items():
        if kind == "dual span":
            model.predict_cached(ids, setting.prompt_len, kept)
        for _ in range(3):
            forward()  # warm-up: capture
        times = []
        for _ in range(3):
            begin, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            begin.record()
            for _ in range(calls):
                forward()
            end.record()
            end.synchronize()
            times.append(begin.elapsed_time(end) / calls)
        timings[kind] = round(statistics.median(times), 3)
        print(f"  {path} gen{setting.gen_length}: {kind:<30} {timings[kind]:7.3f} ms per forward", flush=True)
    return {"path": path, "gen_length": setting.gen_length, "ms_per_forward": timings}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON results")
    parser.add_argument("--tiny", action="store_true", help="a tiny model on the CPU (checks the script works)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per fast case (median reported)")
    parser.add_argument("--no-before", action="store_true", help="skip the plain (eager) path")
    parser.add_argument("--compile", action="store_true", help="also time the fast path with torch.compile")
    parser.add_argument("--profile", type=Path, help="write profiler tables (plain, fast, compiled) here")
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

    forwards = []
    with tempfile.TemporaryDirectory() as trace_dir:
        bench = Bench(config, device, Path(trace_dir), args.repeats)
        if not args.no_before:
            bench.case("plain", model, runs["short"], recording=False, repeats=1)
            bench.case("plain", model, runs["short"], recording=True, repeats=1)
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                profile(model, bench, runs["short"], args.profile / "profile_plain.txt")

        paths = {"fast": dict()} | ({"fast-compiled": dict(compile=True)} if args.compile else {})
        for path, options in paths.items():
            fast = FastLLaDA(model, **options)
            if path == "fast":
                bench.case(path, fast, runs["peak"], recording=True)
            for recording in (False, True):
                bench.case(path, fast, runs["short"], recording=recording)
            bench.case(path, fast, runs["long"], recording=True)
            # The dual cache first: its span keeps one shape, compiled as such (the prefix cache's
            # shrinking spans then compile once more, with dynamic sizes).
            for recording in (False, True):
                bench.case(path, fast, runs["short"], recording=recording, cache="dual")
            bench.case(path, fast, runs["short"], recording=True, cache="dual", sampler="threshold")
            bench.case(path, fast, runs["long"], recording=True, cache="dual")
            for recording in (False, True):
                bench.case(path, fast, runs["short"], recording=recording, cache="prefix")
            if device.type == "cuda":
                forwards += [time_forwards(fast, bench, runs[name], path) for name in ("short", "long")]
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                profile(fast, bench, runs["short"], args.profile / f"profile_{path}_dual.txt", cache="dual", steps=16)
            del fast

    result = {
        "device": gpu_name,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "torch": torch.__version__,
        "model": "LLaDA-8B shape, random weights" if not args.tiny else "tiny, random weights",
        "dtype": str(dtype).removeprefix("torch."),
        "timing": "median of whole sampling runs after a warm-up, host clock between CUDA syncs, per forward; "
        "timed_steps < steps: the recorder stopped the run when that many forwards had run",
        "cases": bench.cases,
        "forwards": forwards,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print_table(bench.cases, runs["short"].gen_length)
    print(f"wrote {args.out} ({time.perf_counter() - started:.0f} s)")
    return 0


def print_table(cases: list[dict], short: int) -> None:
    def ms(path: str, cache: str, recording: bool) -> float | None:
        for case in cases:
            if (case["path"], case["cache"], case["sampler"], case["gen_length"], case["recording"]) == (
                path, cache, "reference", short, recording,
            ):  # fmt: skip
                return case["ms_per_step"]
        return None

    print(f"\n{'case':<50} {'ms/step':>8} {'vs official':>11} {'vs Fast-dLLM dual':>17} {'peak GiB':>9}")
    for case in cases:
        at_short = case["gen_length"] == short
        speedup = f"{OFFICIAL_MS / case['ms_per_step']:.2f}x" if at_short else "-"
        dual = f"{FAST_DLLM_DUAL_MS / case['ms_per_step']:.2f}x" if at_short and case["cache"] == "dual" else "-"
        print(f"{case['name']:<50} {case['ms_per_step']:8.2f} {speedup:>11} {dual:>17} {case['peak_gib']:9.2f}")
    for path in ("fast", "fast-compiled"):
        for cache in ("none", "dual", "prefix"):
            on, off = ms(path, cache, True), ms(path, cache, False)
            if on and off:
                print(f"{path}, cache {cache}: recording costs {100 * (on / off - 1):+.1f} % at gen {short}")


if __name__ == "__main__":
    sys.exit(main())
