"""torch's CPU threads: --threads wins, then OMP_NUM_THREADS, else the cores, less one for a UI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from llada_tui.core import threads


@pytest.fixture(autouse=True)
def restore_torch_threads(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    yield
    torch.set_num_threads(before)


def test_every_core_for_record_one_left_for_the_ui_in_live() -> None:
    assert threads.use_threads() == 4 and torch.get_num_threads() == 4
    assert threads.use_threads(leave_for_ui=True) == 3 and torch.get_num_threads() == 3


def test_never_fewer_than_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "available_cores", lambda: 1)
    assert threads.use_threads(leave_for_ui=True) == 1


def test_the_option_wins_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.use_threads(leave_for_ui=True) == 2
    assert threads.use_threads(1) == 1 and torch.get_num_threads() == 1


def test_set_before_torch_loads() -> None:
    """The CLI calls it before importing torch: OpenMP then starts with these settings."""
    script = (
        "import os; from llada_tui.core.threads import use_threads\n"
        "chosen = use_threads(2)\n"
        "import torch\n"
        "print(chosen, torch.get_num_threads(), os.environ['OMP_WAIT_POLICY'])\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["2", "2", "PASSIVE"]
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OMP_WAIT_POLICY": "ACTIVE"},
    )
    assert result.stdout.split() == ["2", "2", "ACTIVE"]  # the user's choice stands
