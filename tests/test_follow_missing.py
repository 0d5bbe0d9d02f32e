"""`play --follow FILE` started before the writer has created FILE: wait for it, saying so."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from synthetic_traces import write_trace

from llada_tui.cli.main import main
from llada_tui.core.records import TraceError
from llada_tui.tui.app import PlayerApp
from llada_tui.tui.sources.follow import FollowSource

SIZE = (120, 40)


def status_text(app: PlayerApp) -> str:
    return str(app.query_one("#status").render())


async def until(pilot, condition, what: str) -> None:  # noqa: ANN001
    for _ in range(500):
        await pilot.pause(0.01)
        if condition():
            return
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_missing_file_is_waited_for_then_followed(tmp_path: Path) -> None:
    path = tmp_path / "not-yet.trace"
    app = PlayerApp(FollowSource.open(path, interval=0.01))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "to appear" in status_text(app), "the waiting message")
        assert f"waiting for {path} to appear…" in status_text(app)
        await pilot.pause(0.1)
        assert app.is_running and not app.recording.ready  # still waiting, not failed
        path.write_bytes(b"")  # the writer creates the file before it writes the header
        await until(pilot, lambda: "to get a header" in status_text(app), "the header message")
        with path.open("ab") as file:  # the writer goes on in the same file
            file.write(write_trace(tmp_path / "whole.trace", steps=16).read_bytes())
        await until(pilot, lambda: app.recording.ended, "the whole run")
        assert app.recording.length == 16 and app.recording.problem is None
    assert app.return_code in (None, 0)


async def test_a_folder_appearing_where_the_file_was_awaited_ends_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "soon-a-folder"
    app = PlayerApp(FollowSource.open(path, interval=0.01))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "to appear" in status_text(app), "the waiting message")
        path.mkdir()
        await until(pilot, lambda: not app.is_running, "the app to exit")
    assert app.return_code not in (None, 0)


def test_what_can_never_become_a_trace_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a_file = write_trace(tmp_path / "a.trace")
    cases = {tmp_path: "is a directory", a_file / "inside.trace": "is not a folder"}
    for path, reason in cases.items():
        with pytest.raises(TraceError, match=reason):
            FollowSource.open(path)
        assert main(["play", "--follow", str(path)]) == 1
        err = capsys.readouterr().err
        assert reason in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_is_refused_at_once(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "secret.trace")
    path.chmod(0)
    with pytest.raises(TraceError, match="cannot open"):
        FollowSource.open(path)
