"""`llada-tui compare A B` on the command line: a file that cannot be played is one line, exit 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from synthetic_traces import write_trace


def test_cli_errors_are_one_line_and_exit_1(tmp_path: Path) -> None:
    pair = write_trace(tmp_path / "a.trace"), write_trace(tmp_path / "b.trace")
    garbage = tmp_path / "garbage.trace"
    garbage.write_bytes(b"not a trace at all")
    for first, second in ((tmp_path / "missing.trace", pair[1]), (pair[0], garbage)):
        result = subprocess.run(
            [sys.executable, "-m", "llada_tui.cli", "compare", str(first), str(second)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith("llada-tui: error: ") and result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr
