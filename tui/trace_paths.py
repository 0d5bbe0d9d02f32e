"""Where live mode writes its runs' traces: a fresh name under ./traces, or beside -o FILE; never over a file."""

from __future__ import annotations

import re
import time
from collections.abc import Collection
from pathlib import Path


def default_trace_path(prompt: str, folder: Path = Path("traces"), taken: Collection[Path] = ()) -> Path:
    """./traces/20261128-031500-lily-can-run-12-kilometers.trace, never an existing or taken file."""
    slug = "-".join(re.findall(r"[a-z0-9]+", prompt.lower()))[:40].strip("-") or "run"
    return free_path(folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}.trace", taken, first_number=2)


def free_path(path: Path, taken: Collection[Path] = (), first_number: int = 2) -> Path:
    """`path` if free, else the first free of path's stem + "-2", "-3"... (from first_number).

    Free: no such file, and not in `taken` (runs of this session whose file may not exist yet).
    """
    candidate, n = path, first_number
    while candidate.exists() or candidate in taken:
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate
