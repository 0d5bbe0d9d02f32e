"""benchmarks/gpu_sampling.py runs end to end (tiny shape, CPU) and writes the JSON that issue 6 asks for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "gpu_sampling.py"
CASE_FIELDS = {
    "name": str,
    "prompt_len": int,
    "gen_length": int,
    "steps": int,
    "block_length": int,
    "recording": bool,
    "ms_per_step": float,
    "peak_gib": float,
}


def test_tiny_benchmark_writes_the_results_json(tmp_path):
    out = tmp_path / "results" / "cpu.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "--repeats", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert isinstance(result["device"], str) and result["device"] == "cpu"
    assert isinstance(result["date"], str) and result["date"][:2] == "20"
    assert isinstance(result["torch"], str) and result["torch"]
    cases = result["cases"]
    for case in cases:
        for field, kind in CASE_FIELDS.items():
            assert isinstance(case[field], kind), (field, case)
        assert case["ms_per_step"] > 0
        assert case["gen_length"] % case["block_length"] == 0
    seen = {(c["path"], c["gen_length"], c["recording"]) for c in cases}
    # before and after, recording on and off, a long run and a peak-memory run
    assert {("plain", 32, False), ("plain", 32, True), ("fast", 32, False), ("fast", 32, True)} <= seen
    assert ("fast", 64, True) in seen and ("fast", 48, True) in seen
    assert "recording costs" in done.stdout


def test_benchmark_without_a_gpu_says_so_in_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path / "x.json")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "gpu_sampling: no CUDA device (use --tiny on the CPU)"
