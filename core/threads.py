"""How many CPU threads torch gets, chosen on purpose for a small, often busy machine.

torch's default is one intra-op thread per core, each spinning while it waits for work. On a
2-core machine with other load those spinning threads fight the load and the player's UI
thread: the demo model sampled ~10x slower than with one thread (measured in issue 11). So:
OpenMP threads sleep instead of spinning while they wait (OMP_WAIT_POLICY=PASSIVE), and the
live app leaves one core to the UI. A `--threads N` option or OMP_NUM_THREADS still win.

Call `use_threads` before torch is imported: OpenMP reads its settings when it loads.
"""

from __future__ import annotations

import os
import sys


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _threads_from_environment() -> int | None:
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def use_threads(requested: int | None = None, *, leave_for_ui: bool = False) -> int:
    """Set torch's intra-op thread count and return it.

    `requested` (the --threads option) wins, then OMP_NUM_THREADS, else every core this process
    may use, less one when a UI thread must stay responsive (never fewer than one).
    """
    threads = requested or _threads_from_environment()
    if threads is None:
        threads = max(1, available_cores() - (1 if leave_for_ui else 0))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    torch = sys.modules.get("torch")
    if torch is None:
        os.environ["OMP_NUM_THREADS"] = str(threads)  # read by OpenMP when torch loads
    else:  # already loaded (the Python API, tests): too late for the environment
        torch.set_num_threads(threads)
    return threads
