"""Prompts per minute of `llada-tui record --prompts` on one GPU, one prompt per forward and batched.

Writes an official-layout checkpoint of LLaDA-8B's shape with random bf16 weights (as
cuda_check.py does), then records the same prompts file (N rate prompts of one token length,
gen 256, 256 steps, block 32, temperature 0, top-5 candidates) with --batch-size 1, 4, 8 and 16
(--sizes), and once under `torchrun --nproc-per-node 1` at the largest. For each: the command's
wall time (model load included), the time spent sampling (the batches' own wall times, from the
traces), prompts per minute from the latter, and how many traces equal the batch-1 run's (tokens
and steps; bf16 rows of another batch size may run other kernels, so near-ties can flip).

    python benchmarks/batch_throughput.py --out DIR [--prompts 16] [--workdir /tmp/batch_bench]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
from cuda_check import write_8b_checkpoint  # beside this script

from llada_tui.core.trace_reader import load_trace

RATE = (
    "Lily can run {} kilometers per hour for {} hours. After that, she runs {} kilometers per hour. "
    "How many kilometers can she run in {} hours?"
)
SETTINGS = ["--gen-length", "256", "--steps", "256", "--block-length", "32", "--topk", "5", "--device", "cuda"]
LLADA_TUI = [sys.executable, "-c", "import sys; from llada_tui.cli.main import main; sys.exit(main())"]


def write_prompts(path: Path, n: int) -> None:
    with open(path, "w") as file:
        for i in range(n):
            prompt = RATE.format(10 + i % 10, 2 + i % 7, 3 + i % 6, 5 + i % 5)  # one token length
            file.write(json.dumps({"id": f"rate-{i:02d}", "prompt": prompt}) + "\n")


def trace_content(path: Path) -> tuple:
    trace = load_trace(path)
    return tuple(trace.end.final_ids), tuple((tuple(s.positions), tuple(s.ids)) for s in trace.steps)


def run(name: str, command: list[str], out_dir: Path, log: Path) -> dict:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    with open(log, "a") as file:
        file.write(f"$ {' '.join(command)}\n({seconds:.1f} s, exit {done.returncode})\n{done.stderr[-3000:]}\n")
    entries = [json.loads(line) for line in (out_dir / "index.jsonl").read_text().splitlines()]
    # The rows of a batch end with its wall time: count each batch once.
    sampling = sum({load_trace(path).end.total_ms for path in out_dir.glob("*.trace")}) / 1000
    result = {
        "run": name,
        "exit": done.returncode,
        "command_s": round(seconds, 1),
        "sampling_s": round(sampling, 2),
        "complete": sum(entry["status"] == "complete" for entry in entries),
        "prompts_per_minute": round(len(entries) * 60 / sampling, 1) if sampling else None,
    }
    print(json.dumps(result), flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/batch_bench"))
    parser.add_argument("--sizes", default="1,4,8,16", help="batch sizes, comma-separated; the first is the reference")
    parser.add_argument("--no-torchrun", action="store_true", help="skip the run under torchrun")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.workdir.mkdir(parents=True, exist_ok=True)
    checkpoint = args.workdir / "llada-8b-random"
    if not (checkpoint / "config.json").exists():
        started = time.perf_counter()
        write_8b_checkpoint(checkpoint)
        torch.cuda.empty_cache()
        print(f"wrote the 8B-shaped checkpoint in {time.perf_counter() - started:.0f} s", flush=True)
    prompts = args.workdir / "prompts.jsonl"
    write_prompts(prompts, args.prompts)
    log = args.out / "batch_throughput.log"
    report = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "prompts": args.prompts, "runs": []}
    common = ["record", "--prompts", str(prompts), "--model", str(checkpoint), *SETTINGS]
    outputs = {}
    sizes = [int(size) for size in args.sizes.split(",")]
    for size in sizes:
        out_dir = args.workdir / f"b{size}"
        shutil.rmtree(out_dir, ignore_errors=True)
        command = [*LLADA_TUI, *common, "--out-dir", str(out_dir), "--batch-size", str(size)]
        report["runs"].append(run(f"batch {size}", command, out_dir, log))
        outputs[f"batch {size}"] = out_dir
    if not args.no_torchrun:
        out_dir = args.workdir / "torchrun"
        shutil.rmtree(out_dir, ignore_errors=True)
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1"]
        command = [
            *torchrun,
            "--no-python",
            shutil.which("llada-tui") or "llada-tui",
            *common,
            "--out-dir",
            str(out_dir),
        ]
        name = f"torchrun 1 GPU, batch {sizes[-1]}"
        report["runs"].append(run(name, [*command, "--batch-size", str(sizes[-1])], out_dir, log))
        outputs[name] = out_dir
    reference = {path.name: trace_content(path) for path in outputs[f"batch {sizes[0]}"].glob("*.trace")}
    for result in report["runs"]:
        traces = outputs[result["run"]]
        result["equal_to_batch_1"] = sum(trace_content(traces / name) == content for name, content in reference.items())
    (args.out / "batch_throughput.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0 if all(result["exit"] == 0 for result in report["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
