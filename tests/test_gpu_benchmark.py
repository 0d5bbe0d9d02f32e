"""benchmarks/gpu_sampling.py runs end to end (tiny shape, CPU) and writes the JSON that issues 6 and 16 ask for."""

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
    "cache": str,
    "sampler": str,
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
        timeout=400,
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
    seen = {(c["path"], c["cache"], c["sampler"], c["gen_length"], c["recording"]) for c in cases}
    # before and after, recording on and off, a long run and a peak-memory run
    uncached = {(path, 32, recording) for path in ("plain", "fast") for recording in (False, True)}
    assert {(path, "none", "reference", gen, on) for path, gen, on in uncached} <= seen
    assert ("fast", "none", "reference", 64, True) in seen and ("fast", "none", "reference", 48, True) in seen
    # the caches (issue 16): recording on and off, the dual cache long and with a threshold
    assert {("fast", cache, "reference", 32, on) for cache in ("prefix", "dual") for on in (False, True)} <= seen
    assert {("fast", "dual", "reference", 64, True), ("fast", "dual", "threshold", 32, True)} <= seen
    for cache in ("none", "dual", "prefix"):
        assert f"fast, cache {cache}: recording costs" in done.stdout


def test_benchmark_without_a_gpu_says_so_in_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path / "x.json")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "gpu_sampling: no CUDA device (use --tiny on the CPU)"
