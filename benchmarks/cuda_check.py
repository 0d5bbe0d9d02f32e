"""The engine's CUDA path, checked on a GPU (the tests in tests/ run on the CPU only).

1. float32 on CUDA, a small random model: the fast path (fused weights, CUDA graph, asynchronous
   records handed over one step late) samples and records exactly what the plain path does, for
   every sampler option; StopSampling still stops at the recorder's step; logits against a
   float64 CPU reference.
2. bfloat16 on CUDA: how often the fast and plain paths choose differently (near-ties flipped
   by kernels that round differently), over many prompts, step by step.
3. No host waits inside a step: torch's sync debug mode counts the synchronising calls of a run.
4. `llada-tui record --device cuda` (the fast path) on an official-layout checkpoint of LLaDA-8B's
   shape with random weights (sharded safetensors written to local disk; the demo model's
   tokenizer), then the same checkpoint through the plain path, and how far the two traces agree.
5. The decoding strategies (threshold, prefix and dual caches, WINO) on CUDA in float32: the fast
   path (the cached forwards as CUDA graphs, also compiled) chooses what the eager model chooses,
   and what the CPU chose for the same weights; then each through `record --device cuda` on the
   8B-shaped checkpoint (forwards and ms per forward; WINO's forwards run eagerly for now).
7. The cached samplers in bfloat16: how often the fast path (graphs) and the eager model part.

    python benchmarks/cuda_check.py --out DIR [--skip-8b]
Exits 1 if a check fails; writes DIR/cuda_check.json and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch
from gpu_sampling import LLADA_8B  # beside this script
from tokenizers import Tokenizer

from llada_tui.core.cached import generate_cached
from llada_tui.core.checkpoint import DEMO_DIR
from llada_tui.core.config import LLaDAConfig
from llada_tui.core.fast import FastLLaDA
from llada_tui.core.llada import LLaDAModel
from llada_tui.core.sampler import StopSampling, generate
from llada_tui.core.saving import random_state_dict, save_checkpoint
from llada_tui.core.threshold import generate_threshold
from llada_tui.core.wino import generate_wino

SMALL = LLaDAConfig(d_model=256, n_layers=4, n_heads=8, vocab_size=1024, mlp_hidden_size=512, mask_token_id=1000)
CASES = {
    "greedy": dict(steps=32, gen_length=64, block_length=16),
    "uneven": dict(steps=10, gen_length=40, block_length=20),
    "temperature": dict(steps=16, gen_length=32, block_length=16, temperature=0.8),
    "random": dict(steps=16, gen_length=32, block_length=8, remasking="random"),
    "cfg": dict(steps=16, gen_length=32, block_length=16, cfg_scale=1.5, temperature=0.5),
    "eos-eot": dict(steps=16, gen_length=32, block_length=32, confidence_eos_eot_inf=True, logits_eos_inf=True),
}
SPECIAL = dict(mask_id=1000, eos_id=1001, eot_id=1002)
failures: list[str] = []


def check(ok: bool, what: str) -> bool:
    print(f"  {'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok:
        failures.append(what)
    return ok


def small_model(dtype: torch.dtype) -> LLaDAModel:
    model = LLaDAModel(SMALL)
    model.load_state_dict(random_state_dict(SMALL, seed=11))
    return model.to("cuda", dtype).eval().requires_grad_(False)


def sample(model, prompt, case, seed=5, **extra):
    steps = []
    torch.manual_seed(seed)
    out = generate(model, prompt, **case, **SPECIAL, recorder=steps.append, topk=5, **extra)
    return out, steps


def step_content(step):
    c = step.candidates
    return (step.index, step.block, list(step.positions), list(step.ids), list(c.positions), list(c.ids))


def float32_parity(report: dict) -> None:
    print("1. float32 on CUDA: fast path against plain path", flush=True)
    plain, fast = small_model(torch.float32), FastLLaDA(small_model(torch.float32))
    prompt = torch.randint(0, 1000, (1, 24), device="cuda")
    for name, case in CASES.items():
        out, steps = sample(plain, prompt, case)
        fast_out, fast_steps = sample(fast, prompt, case)
        same = torch.equal(out, fast_out) and [step_content(s) for s in steps] == [step_content(s) for s in fast_steps]
        conf = max(abs(a - b) for s, f in zip(steps, fast_steps) for a, b in zip(s.confidences, f.confidences))
        check(same and len(fast_steps) == case["steps"], f"{name}: same tokens and records (conf diff {conf:.1e})")
        report[f"float32 {name}"] = {"same": same, "max_confidence_diff": conf}

    ids = torch.randint(0, 1000, (2, 40), device="cuda")
    reference = small_model(torch.float32).to("cpu", torch.float64)(ids.cpu(), logits_start=8)
    for label, model in (("plain", plain), ("fast", fast)):
        got = model.predict(ids, 8).to("cpu", torch.float64)
        error = ((got - reference).norm() / reference.norm()).item()
        check(math.isfinite(error) and error < 1e-4, f"{label} logits vs float64 CPU: relative error {error:.2e}")
        report[f"float32 {label} logits rel error"] = error

    seen = []

    def stopper(step):
        seen.append(step.index)
        if step.index == 2:
            raise StopSampling

    try:
        generate(fast, prompt, **CASES["greedy"], **SPECIAL, recorder=stopper)
        stopped = False
    except StopSampling:
        stopped = True
    check(stopped and seen == [0, 1, 2], f"StopSampling from the recorder stops there (saw {seen})")


def bfloat16_flips(report: dict, prompts: int = 24) -> None:
    print("2. bfloat16 on CUDA: where fast and plain choose differently", flush=True)
    plain, fast = small_model(torch.bfloat16), FastLLaDA(small_model(torch.bfloat16))
    case = dict(steps=64, gen_length=64, block_length=16)
    generator = torch.Generator().manual_seed(3)
    identical = compared = flipped = 0
    ids = torch.randint(0, 1000, (1, 88), generator=generator).cuda()
    logits_error = ((fast.predict(ids, 0) - plain(ids)).float().norm() / plain(ids).float().norm()).item()
    for _ in range(prompts):
        prompt = torch.randint(0, 1000, (1, 24), generator=generator).cuda()
        out, steps = sample(plain, prompt, case)
        fast_out, fast_steps = sample(fast, prompt, case)
        identical += torch.equal(out, fast_out)
        for a, b in zip(steps, fast_steps):  # steps agree until the first different choice
            compared += 1
            if (list(a.positions), list(a.ids)) != (list(b.positions), list(b.ids)):
                flipped += 1
                break
    report["bfloat16"] = {
        "prompts": prompts,
        "identical_runs": identical,
        "steps_compared": compared,
        "steps_with_a_flip": flipped,
        "logits_rel_diff": logits_error,
    }
    print(
        f"  {identical}/{prompts} runs identical; {flipped} of {compared} steps (same input) chose differently; "
        f"logits differ by {logits_error:.2e} (relative)"
    )
    check(logits_error < 2e-2, "bf16 logits of fast and plain agree to bf16 rounding")


def host_syncs(report: dict) -> None:
    print("3. synchronising calls during a run (torch.cuda sync debug mode)", flush=True)
    fast = FastLLaDA(small_model(torch.bfloat16))
    prompt = torch.randint(0, 1000, (1, 24), device="cuda")
    case = CASES["greedy"]
    for recording in (False, True):
        sample(fast, prompt, case)  # warm-up: graph capture
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                if recording:
                    sample(fast, prompt, case)
                else:
                    generate(fast, prompt, **case, **SPECIAL)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        messages = [str(w.message).splitlines()[0] for w in caught]
        # (the mode's one-time "prototype feature" notice mentions synchronization but is none)
        syncs = [m for m in messages if "synchroniz" in m.lower() and "prototype" not in m]
        report[f"syncs recording={recording}"] = syncs
        check(
            len(syncs) <= 1,
            f"recording {'on' if recording else 'off'}: {len(syncs)} synchronising call(s) in "
            f"{case['steps']} steps (one allowed: the prompt's mask check before the loop)",
        )
    for name, threshold, allowed in (("prefix", None, None), ("dual", None, None), ("dual", 0.3, "per step")):
        run = dict(
            steps=32, gen_length=64, block_length=16, threshold=threshold, cache=name, mask_id=SPECIAL["mask_id"]
        )
        steps = []
        generate_cached(fast, prompt, **run, recorder=steps.append)  # warm-up: graph captures
        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                forwards = generate_cached(fast, prompt, **run, recorder=steps.append)[1]
            finally:
                torch.cuda.set_sync_debug_mode("default")
        syncs = [str(w.message).splitlines()[0] for w in caught]
        syncs = [m for m in syncs if "synchroniz" in m.lower() and "prototype" not in m]
        # with a threshold, the loop's question after each forward but a block's first: is the block full?
        limit = 1 if allowed is None else 1 + forwards - run["gen_length"] // run["block_length"]
        label = f"{name} cache{'' if threshold is None else f' threshold {threshold}'}"
        report[f"syncs {label}"] = {"syncs": len(syncs), "forwards": forwards, "messages": syncs[:3]}
        check(
            len(syncs) <= limit,
            f"{label}, recording on: {len(syncs)} synchronising call(s) in {forwards} forwards (allowed: {limit})",
        )


def write_8b_checkpoint(path: Path) -> None:
    """Official layout, LLaDA-8B's config, random bf16 weights (peaked logits), 6 shards; the demo's tokenizer."""
    state = random_state_dict(LLADA_8B, seed=0, dtype=torch.bfloat16, device="cuda")  # made where it is fast
    chat_template = json.loads((DEMO_DIR / "tokenizer_config.json").read_text())["chat_template"]
    tokenizer = Tokenizer.from_file(str(DEMO_DIR / "tokenizer.json"))
    save_checkpoint(path, LLADA_8B, state, tokenizer, chat_template, shards=6)


def cli_on_8b(report: dict, workdir: Path, out_dir: Path) -> None:
    print("4. llada-tui record --device cuda on an 8B-shaped official-layout checkpoint", flush=True)
    checkpoint = workdir / "llada-8b-random"
    started = time.perf_counter()
    write_8b_checkpoint(checkpoint)
    torch.cuda.empty_cache()
    size = sum(f.stat().st_size for f in checkpoint.glob("*.safetensors")) / 1e9
    print(f"  wrote {size:.1f} GB in 6 shards in {time.perf_counter() - started:.0f} s")
    trace = workdir / "fast.trace"  # record on CUDA takes the fast path
    settings = ["--gen-length", "64", "--steps", "64", "--block-length", "32"]
    command = [sys.executable, "-c", "import sys; from llada_tui.cli.main import main; sys.exit(main())"]
    started = time.perf_counter()
    record = subprocess.run(
        [*command, "record", "What is the capital of France?", "--model", str(checkpoint), "--device", "cuda",
         *settings, "-o", str(trace)],
        capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    info = subprocess.run([*command, "info", str(trace)], capture_output=True, text=True)
    (out_dir / "cli_record.log").write_text(
        f"$ llada-tui record ... --device cuda {' '.join(settings)}  ({seconds:.1f} s, exit {record.returncode})\n"
        f"--- stdout\n{record.stdout}\n--- stderr\n{record.stderr}\n"
        f"$ llada-tui info\n{info.stdout}{info.stderr}"
    )
    print(f"  record exited {record.returncode} after {seconds:.1f} s; info:\n{info.stdout}{info.stderr}")
    check(record.returncode == 0 and "complete" in info.stdout and "64 of 64" in info.stdout, "record + info on 8B")

    from llada_tui.core import recording
    from llada_tui.core.trace_reader import load_trace

    engine = recording.load_engine(str(checkpoint), "cuda")
    engine.predictor = engine.model  # the model itself, eagerly, instead of its fast path
    options = recording.SamplingOptions(gen_length=64, steps=64, block_length=32)
    params = recording.resolve_params(engine, options)
    header = recording.make_header(engine, "What is the capital of France?", params)
    started = time.perf_counter()
    recording.record_run(engine, header, workdir / "plain.trace")
    plain_seconds = time.perf_counter() - started
    plain_steps, fast_steps = load_trace(workdir / "plain.trace").steps, load_trace(trace).steps
    agree = 0
    for a, b in zip(plain_steps, fast_steps):
        if (list(a.positions), list(a.ids)) != (list(b.positions), list(b.ids)):
            break
        agree += 1
    report["8b"] = {
        "checkpoint_gb": size,
        "cli_record_s": seconds,
        "cli_exit": record.returncode,
        "plain_record_run_s": plain_seconds,
        "plain_steps": len(plain_steps),
        "steps_identical_before_first_difference": agree,
        "plain_step_ms": [round(s.wall_ms, 2) for s in plain_steps[-8:]],
        "fast_step_ms": [round(s.wall_ms, 2) for s in fast_steps[-8:]],
    }
    print(f"  plain path record_run: {len(plain_steps)} steps in {plain_seconds:.1f} s")
    print(f"  plain and fast traces identical for the first {agree} of 64 steps")
    print(f"  last steps' wall_ms, plain {report['8b']['plain_step_ms']}, fast {report['8b']['fast_step_ms']}")
    check(len(plain_steps) == 64, "plain path records all 64 steps on 8B")


STRATEGIES = {
    "threshold 0.3": lambda model, prompt, **kw: generate_threshold(model, prompt, 32, 64, 16, threshold=0.3, **kw),
    "prefix cache": lambda model, prompt, **kw: generate_cached(model, prompt, 32, 64, 16, cache="prefix", **kw),
    "prefix cache 0.3": lambda model, prompt, **kw: generate_cached(
        model, prompt, 32, 64, 16, threshold=0.3, cache="prefix", **kw
    ),
    "dual cache": lambda model, prompt, **kw: generate_cached(model, prompt, 64, 64, 16, cache="dual", **kw),
    "dual cache 0.3": lambda model, prompt, **kw: generate_cached(
        model, prompt, 32, 64, 16, threshold=0.3, cache="dual", **kw
    ),
    "dual cache 0.5, temperature 0.8": lambda model, prompt, **kw: generate_cached(
        model, prompt, 32, 64, 16, threshold=0.5, temperature=0.8, cache="dual", **kw
    ),
    "dual cache, random remasking": lambda model, prompt, **kw: generate_cached(
        model, prompt, 32, 64, 8, remasking="random", cache="dual", **kw
    ),
    "wino 0.2/0.6": lambda model, prompt, **kw: generate_wino(
        model, prompt, 64, 16, threshold=0.2, threshold_back=0.6, **kw
    ),
}


def strategies(report: dict) -> None:
    print("5. decoding strategies on CUDA (float32): fast path = eager model = CPU", flush=True)
    plain, fast = small_model(torch.float32), FastLLaDA(small_model(torch.float32))
    compiled = FastLLaDA(small_model(torch.float32), compile=True)
    cpu = small_model(torch.float32).to("cpu")
    prompt = torch.randint(0, 1000, (1, 24), generator=torch.Generator().manual_seed(9))
    for name, run in STRATEGIES.items():
        results = {}
        models = [("plain", plain, "cuda"), ("fast", fast, "cuda"), ("cpu", cpu, "cpu")]
        if "cache" in name:
            models.append(("fast-compiled", compiled, "cuda"))
        for label, model, device in models:
            steps = []
            torch.manual_seed(5)
            out, forwards = run(model, prompt.to(device), mask_id=SPECIAL["mask_id"], recorder=steps.append, topk=3)
            results[label] = (out.cpu(), forwards, [step_content(s) for s in steps])
        same_fast = results["fast"][0].equal(results["plain"][0]) and results["fast"][2] == results["plain"][2]
        same_cpu = results["cpu"][0].equal(results["plain"][0]) and results["cpu"][2] == results["plain"][2]
        remasks = sum(list(s[3]).count(SPECIAL["mask_id"]) for s in results["plain"][2])
        check(same_fast, f"{name}: fast = eager on CUDA ({results['plain'][1]} forwards, {remasks} re-masks)")
        same_compiled = None
        if "fast-compiled" in results:
            same_compiled = results["fast-compiled"][0].equal(results["plain"][0]) and (
                results["fast-compiled"][2] == results["plain"][2]
            )
            check(same_compiled, f"{name}: fast-compiled = eager on CUDA")
        report[f"strategy {name}"] = {
            "fast_equals_eager": same_fast,
            "compiled_equals_eager": same_compiled,
            "cuda_equals_cpu": same_cpu,
            "forwards": results["plain"][1],
        }
        print(f"  {'same' if same_cpu else 'differs'} on the CPU (float32 kernels may round differently)")


def strategies_on_8b(report: dict, workdir: Path, out_dir: Path) -> None:
    print("6. record --device cuda with each strategy on the 8B-shaped checkpoint (gen 256, block 32)", flush=True)
    checkpoint = workdir / "llada-8b-random"
    command = [sys.executable, "-c", "import sys; from llada_tui.cli.main import main; sys.exit(main())"]
    settings = ["--gen-length", "256", "--steps", "256", "--block-length", "32", "--topk", "5"]
    runs = {
        "reference": [],
        "threshold 0.9": ["--sampler", "threshold", "--threshold", "0.9"],
        "prefix cache": ["--cache", "prefix"],
        "dual cache": ["--cache", "dual"],
        "wino": ["--sampler", "wino"],
    }
    lines = []
    for name, flags in runs.items():
        trace = workdir / f"{name.replace(' ', '-')}.trace"
        done = subprocess.run(
            [*command, "record", "What is the capital of France?", "--model", str(checkpoint), "--device", "cuda",
             *settings, *flags, "-o", str(trace), "--force"],
            capture_output=True, text=True,
        )  # fmt: skip
        from llada_tui.core.trace_reader import load_trace

        ok = done.returncode == 0
        steps = load_trace(trace).steps if ok else []
        wall = sorted(s.wall_ms for s in steps)
        median = wall[len(wall) // 2] if wall else float("nan")
        check(
            ok and len(steps) > 0, f"{name}: exit {done.returncode}, {len(steps)} forwards, median {median:.2f} ms each"
        )
        report[f"8b {name}"] = {"exit": done.returncode, "forwards": len(steps), "median_ms_per_forward": median}
        lines.append(f"$ record ... {' '.join(flags)}: exit {done.returncode}\n{done.stderr[-2000:]}")
    (out_dir / "strategies_8b.log").write_text("\n".join(lines))


def cached_bfloat16(report: dict, prompts: int = 12) -> None:
    print("7. the cached samplers in bfloat16: where the fast path (graphs) and the eager model part", flush=True)
    plain, fast = small_model(torch.bfloat16), FastLLaDA(small_model(torch.bfloat16))
    generator = torch.Generator().manual_seed(4)
    for cache in ("prefix", "dual"):
        identical = compared = flipped = 0
        for _ in range(prompts):
            prompt = torch.randint(0, 1000, (1, 24), generator=generator).cuda()
            runs = []
            for model in (plain, fast):
                steps = []
                out, _ = generate_cached(model, prompt, 64, 64, 16, cache=cache, mask_id=SPECIAL["mask_id"],
                                         recorder=steps.append)  # fmt: skip
                runs.append((out, steps))
            identical += torch.equal(runs[0][0], runs[1][0])
            for a, b in zip(runs[0][1], runs[1][1]):
                compared += 1
                if (list(a.positions), list(a.ids)) != (list(b.positions), list(b.ids)):
                    flipped += 1
                    break
        report[f"bfloat16 {cache} cache"] = {"prompts": prompts, "identical_runs": identical,
                                             "steps_compared": compared, "steps_with_a_flip": flipped}  # fmt: skip
        print(f"  {cache}: {identical}/{prompts} runs identical; {flipped} of {compared} steps chose differently")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for cuda_check.json and logs")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/cuda_check"), help="scratch (16 GB for 8B)")
    parser.add_argument("--skip-8b", action="store_true", help="skip the 8B-shaped checkpoint and CLI check")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("cuda_check: no CUDA device", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    args.workdir.mkdir(parents=True, exist_ok=True)
    report: dict = {"device": torch.cuda.get_device_name(), "torch": torch.__version__}
    float32_parity(report)
    bfloat16_flips(report)
    host_syncs(report)
    strategies(report)
    cached_bfloat16(report)
    if not args.skip_8b:
        cli_on_8b(report, args.workdir, args.out)
        strategies_on_8b(report, args.workdir, args.out)
    report["failures"] = failures
    (args.out / "cuda_check.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"cuda_check: {len(failures)} failure(s)" + "".join(f"\n  {f}" for f in failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
