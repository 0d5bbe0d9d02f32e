"""Where a command writes: a place that takes no file is refused in one line before the slow work.

`record -o`, `live -o`, `export -o` and `record --prompts ... --out-dir` each check, before a
model is loaded or a picture drawn, that a file can be made where it is asked for: a read-only
folder (for root, who may write in any folder, /proc stands in), a folder not there yet under
one, a path through a file. Nothing is left behind by the check.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from synthetic_traces import write_trace

from llada_tui.cli.main import main

SETTINGS = ["--steps", "8", "--gen-length", "16", "--block-length", "8"]


@pytest.fixture
def unwritable(tmp_path: Path) -> Path:
    """A folder in which no file can be made."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        return locked
    if not Path("/proc/self").is_dir():
        pytest.skip("root writes in any folder, and there is no /proc to stand in")
    return Path("/proc")


@pytest.fixture
def no_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    from llada_tui.core import recording
    from llada_tui.tui import live

    monkeypatch.setattr(recording, "load_engine", lambda *a, **k: pytest.fail("loaded the model before checking"))
    monkeypatch.setattr(live, "run_live_app", lambda *a, **k: pytest.fail("started the player before checking"))


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("llada-tui: error: "), err
    return err


@pytest.mark.parametrize("command", ["record", "live"])
@pytest.mark.parametrize("below", ["", "not-yet/"])
def test_a_run_into_a_folder_that_takes_no_file_is_refused_before_loading(
    unwritable: Path, no_loading: None, capsys: pytest.CaptureFixture[str], command: str, below: str
) -> None:
    output = unwritable / f"{below}x.trace"
    assert main([command, "the cat sat", "-o", str(output), *SETTINGS]) == 1
    assert "nothing can be written there" in one_error_line(capsys)
    assert not output.exists()


def test_live_without_o_into_a_folder_that_takes_no_file_is_refused_before_loading(
    unwritable: Path, no_loading: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(unwritable)  # its runs would go to ./traces
    assert main(["live", "the cat sat", *SETTINGS]) == 1
    assert "traces: nothing can be written there" in one_error_line(capsys)


def test_a_run_through_a_file_names_the_file(tmp_path: Path, no_loading: None, capsys) -> None:  # noqa: ANN001
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    assert main(["record", "the cat sat", "-o", str(blocker / "sub" / "x.trace"), *SETTINGS]) == 2
    assert f"{blocker} is not a folder" in one_error_line(capsys)
    assert blocker.read_text() == "mine"


@pytest.mark.parametrize("below", ["", "not-yet"])
def test_a_batch_into_a_folder_that_takes_no_file_is_refused_before_loading(
    tmp_path: Path, unwritable: Path, no_loading: None, capsys: pytest.CaptureFixture[str], below: str
) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "the cat sat"}) + "\n")
    out_dir = unwritable / below
    assert main(["record", "--prompts", str(prompts), "--out-dir", str(out_dir), *SETTINGS]) == 1
    assert "nothing can be written there" in one_error_line(capsys)


@pytest.mark.parametrize("format", ["json", "svg", "gif", "cast"])
def test_an_export_into_a_folder_that_takes_no_file_is_refused_before_drawing(
    tmp_path: Path, unwritable: Path, monkeypatch: pytest.MonkeyPatch, capsys, format: str
) -> None:  # noqa: ANN001
    if format == "gif":
        pytest.importorskip("PIL")
    from llada_tui.cli import reading

    trace = write_trace(tmp_path / "run.trace")
    monkeypatch.setattr(reading, "load_trace", lambda *a: pytest.fail("read the trace before checking"))
    assert main(["export", str(trace), "--format", format, "-o", str(unwritable / f"x.{format}")]) == 1
    assert "nothing can be written there" in one_error_line(capsys)


@pytest.mark.parametrize("command", ["record", "export"])
def test_a_link_to_nothing_is_an_existing_output(tmp_path: Path, no_loading: None, capsys, command: str) -> None:  # noqa: ANN001
    """Opened without --force, it is refused as existing: say so before the work, not after it."""
    link = tmp_path / "link.trace"
    link.symlink_to(tmp_path / "nowhere")
    first = ["the cat sat", *SETTINGS] if command == "record" else [str(write_trace(tmp_path / "run.trace"))]
    assert main([command, *first, "-o", str(link)]) == 2
    assert f"{link} exists; pass --force" in one_error_line(capsys)
    assert link.is_symlink() and not (tmp_path / "nowhere").exists()
