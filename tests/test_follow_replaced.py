"""Following a file that another run replaces or rewrites: say so, never show its steps as ours."""

from __future__ import annotations

import os
from pathlib import Path

from synthetic_traces import HOSTILE, write_trace

from llada_tui.tui.app import PlayerApp
from llada_tui.tui.sources.follow import FollowSource

SIZE = (120, 40)


async def until(pilot, condition, what: str, tries: int = 300) -> None:  # noqa: ANN001
    for _ in range(tries):
        await pilot.pause(0.01)
        if condition():
            return
    raise AssertionError(f"timed out waiting for {what}")


async def follow_then(tmp_path: Path, other_run) -> PlayerApp:  # noqa: ANN001
    """Follow run A (5 of 16 steps, writer still busy), let `other_run(path)` happen, wait for the end."""
    path = write_trace(tmp_path / "run.trace", steps=16, stop_after=5, ending="none")
    app = PlayerApp(FollowSource.open(path, interval=0.01))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.recording.length == 5, "run A's five steps")
        prompt_a = app.recording.header.prompt_text
        other_run(path)
        await until(pilot, lambda: app.recording.ended, "the follower to notice", tries=500)
        await pilot.pause(0.1)
        assert app.recording.length == 5  # run B's steps were not taken for run A's
        assert app.recording.header.prompt_text == prompt_a
        assert app.recording.end is None  # nor run B's end for A's
    return app


async def test_a_followed_file_replaced_by_another_run_is_reported(tmp_path: Path) -> None:
    def replace(path: Path) -> None:  # `record --force` to a temporary file, then renamed over
        other = write_trace(tmp_path / "other.trace", HOSTILE, steps=9, block_length=len(HOSTILE), sure=())
        os.replace(other, path)

    app = await follow_then(tmp_path, replace)
    assert "replaced" in app.recording.problem and "step 5" in app.recording.problem


async def test_a_followed_file_rewritten_in_place_is_reported(tmp_path: Path) -> None:
    def rewrite(path: Path) -> None:  # `record --force`: the same file truncated, another run written
        other = write_trace(tmp_path / "other.trace", HOSTILE, steps=9, block_length=len(HOSTILE), sure=())
        path.write_bytes(other.read_bytes())

    app = await follow_then(tmp_path, rewrite)
    assert app.recording.problem is not None and "step 5" in app.recording.problem
