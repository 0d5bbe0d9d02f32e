"""The demo model's sampling time on a small CPU, idle and beside busy processes, per thread setting.

    python benchmarks/cpu_load.py --out benchmarks/results/cpu_load.json [--busy 3] [--repeats 3]

Each measurement is one fresh process that loads the demo model and records the article's
first question (gen 64, steps 64, block 16) to a temporary trace; only the sampling is timed.
Settings, interleaved so that a change in the machine's own load hits all of them alike:
- `torch default`: torch's own thread count and OpenMP's default waiting (what llada-tui did
  before issue 11);
- `llada-tui default`: `use_threads()` as `record` calls it (every core, waiting threads sleep);
- `live default`: `use_threads(leave_for_ui=True)`, as `live` calls it;
- `1 thread`.
Then the same with `--busy` processes spinning on the CPU. Compare ratios within one run; the
absolute times depend on whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LILY = (
    "Lily can run 12 kilometers per hour for 4 hours. After that, she runs 6 kilometers per hour. "
    "How many kilometers can she run in 8 hours?"
)
SETTINGS = {
    "torch default": None,
    "llada-tui default": {"leave_for_ui": False},
    "live default": {"leave_for_ui": True},
    "1 thread": {"requested": 1},
}


def worker(setting: str) -> None:
    """One measurement, in this process: prints the sampling time in seconds and the thread count."""
    choice = SETTINGS[setting]
    if choice is not None:
        from llada_tui.core.threads import use_threads

        use_threads(**choice)
    import torch

    from llada_tui.core import recording
    from llada_tui.core.options import SamplingOptions

    engine = recording.load_engine(None, "cpu")
    params = recording.resolve_params(engine, SamplingOptions())
    header = recording.make_header(engine, LILY, params)
    with tempfile.TemporaryDirectory() as folder:
        end = recording.record_run(engine, header, Path(folder) / "run.trace")
    print(json.dumps({"seconds": end.total_ms / 1000, "threads": torch.get_num_threads()}))


def measure(setting: str) -> dict:
    result = subprocess.run([sys.executable, __file__, "--worker", setting], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def spinner() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    parser.add_argument("--busy", type=int, default=3, help="spinning processes in the loaded half")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    results: dict[str, dict[str, list[float]]] = {}
    for load in ("idle", "busy"):
        spinners = [spinner() for _ in range(args.busy)] if load == "busy" else []
        try:
            time.sleep(1)
            for _ in range(args.repeats):
                for setting in SETTINGS:
                    got = measure(setting)
                    results.setdefault(f"{load}: {setting}", {"seconds": [], "threads": got["threads"]})
                    results[f"{load}: {setting}"]["seconds"].append(got["seconds"])
                    print(f"{load:5} {setting:18} {got['threads']} threads  {got['seconds']:.2f} s", file=sys.stderr)
        finally:
            for process in spinners:
                process.kill()
    summary = {name: {**r, "median": statistics.median(r["seconds"])} for name, r in results.items()}
    base = summary["idle: torch default"]["median"]
    print(f"\n{'setting':32} {'threads':>7} {'median s':>9} {'vs idle torch default':>22}")
    for name, r in summary.items():
        print(f"{name:32} {r['threads']:>7} {r['median']:>9.2f} {r['median'] / base:>21.1f}x")
    if args.out:
        machine = {"cores": len(os.sched_getaffinity(0)), "busy_processes": args.busy, "repeats": args.repeats}
        args.out.write_text(json.dumps({"machine": machine, "results": summary}, indent=1) + "\n")


if __name__ == "__main__":
    main()
