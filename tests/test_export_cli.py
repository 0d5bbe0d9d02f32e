"""`llada-tui export --format svg|html|gif|cast`: the files it writes, what it refuses, and how."""

from __future__ import annotations

import builtins
import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from synthetic_traces import write_trace

from llada_tui.cli.main import main

LILY = Path(__file__).resolve().parent.parent / "sample_traces" / "lily.trace"
SVG_TEXT = "{http://www.w3.org/2000/svg}text"


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llada-tui: error: "), err
    assert "Traceback" not in err
    return lines[0]


def cell_texts(document: str) -> str:
    root = ElementTree.fromstring(document)
    return "".join(element.text or "" for element in root.iter(SVG_TEXT) if element.get("textLength"))


def test_svg_and_html_go_to_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(LILY), "--format", "svg"]) == 0
    svg = capsys.readouterr().out
    assert "The answer is" in cell_texts(svg) and svg.isascii()
    assert main(["export", str(LILY), "--format", "html", "--colour", "confidence"]) == 0
    html = capsys.readouterr().out
    assert html.startswith("<!DOCTYPE html>") and "confidence 0" in html and "kilometers" in html


def test_each_format_writes_its_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    for name in ("lily.svg", "lily.html", "lily.gif", "lily.cast"):
        output = tmp_path / name
        assert main(["export", str(LILY), "--format", output.suffix[1:], "-o", str(output)]) == 0
        assert output.stat().st_size > 1000
    assert capsys.readouterr().out == ""  # the files only
    ElementTree.parse(tmp_path / "lily.svg")
    assert Image.open(tmp_path / "lily.gif").n_frames == 65
    header = json.loads((tmp_path / "lily.cast").read_text().splitlines()[0])
    assert header["version"] == 2 and header["width"] == 100


def test_step_shows_the_answer_after_n_steps(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(LILY), "--format", "svg", "--step", "0"]) == 0
    assert set(cell_texts(capsys.readouterr().out)) <= {"·", " "}  # all masked
    assert main(["export", str(LILY), "--format", "svg", "--step", "10"]) == 0
    at_ten = cell_texts(capsys.readouterr().out)
    assert " 4 hours: " in at_ten and "First" not in at_ten and "The answer is" not in at_ten


def test_gif_options(tmp_path: Path) -> None:
    from PIL import Image

    output = tmp_path / "lily.gif"
    assert main(["export", str(LILY), "--format", "gif", "--every", "16", "--fps", "5", "-o", str(output)]) == 0
    image = Image.open(output)
    assert image.n_frames == 5 and image.info["duration"] == 200


def test_cast_size(tmp_path: Path) -> None:
    output = tmp_path / "lily.cast"
    assert main(["export", str(LILY), "--format", "cast", "--width", "80", "--height", "24", "-o", str(output)]) == 0
    header = json.loads(output.read_text().splitlines()[0])
    assert (header["width"], header["height"]) == (80, 24)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--format", "gif"], "--format gif writes a file: give it with -o FILE"),
        (["--format", "cast"], "--format cast writes a file: give it with -o FILE"),
        (["--format", "svg", "--fps", "5"], "--fps is for --format gif"),
        (["--format", "gif", "--step", "3", "-o", "x.gif"], "--step is for --format svg or --format html"),
        (["--format", "json", "--step", "0"], "--step is for --format svg or --format html"),
        (["--format", "svg", "--candidates"], "--candidates is for --format json"),
        (["--format", "html", "--width", "90"], "--width is for --format svg or --format gif or --format cast"),
        (["--format", "svg", "--step", "65"], "--step 65: the trace holds 64 steps"),
        (["--format", "svg", "--step", "-1"], "--step -1: give a step from 0"),
        (["--format", "gif", "--fps", "0", "-o", "x.gif"], "--fps 0: give frames per second above 0, at most 50"),
        (["--format", "gif", "--every", "0", "-o", "x.gif"], "--every 0: give a number of steps, at least 1"),
        (["--format", "cast", "--width", "20", "-o", "x.cast"], "--width 20: give 40 to 400 columns"),
        (["--format", "cast", "--height", "5", "-o", "x.cast"], "--height 5: give 10 to 200 lines"),
    ],
)
def test_refusals_are_one_line_and_exit_2(
    arguments: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(LILY), *arguments]) == 2
    captured = capsys.readouterr()
    assert message in one_error_line(captured.err) and captured.out == ""
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("kind", ["svg", "html", "gif", "cast"])
def test_an_existing_file_is_kept_without_force(kind: str, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    mine = tmp_path / f"mine.{kind}"
    mine.write_text("my work")
    assert main(["export", str(LILY), "--format", kind, "-o", str(mine)]) == 2
    assert "exists; pass --force" in one_error_line(capsys.readouterr().err) and mine.read_text() == "my work"
    if kind in ("svg", "gif"):
        assert main(["export", str(LILY), "--format", kind, "-o", str(mine), "--force"]) == 0
        assert mine.read_bytes() != b"my work"


@pytest.mark.parametrize("format", ["json", "svg"])
@pytest.mark.parametrize("force", [False, True])
def test_a_write_that_fails_leaves_no_part_of_a_file(
    format: str, force: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from llada_tui.cli import output_file

    class FullDisk:  # a file whose every write fails halfway, as on a disk that fills up
        def __init__(self, file) -> None:  # noqa: ANN001
            self.file = file

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *exc: object) -> None:
            self.file.close()

        def write(self, data: bytes) -> None:
            self.file.write(data[: len(data) // 2])
            self.file.flush()
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(output_file, "open", lambda *args: FullDisk(builtins.open(*args)), raising=False)
    out = tmp_path / f"lily.{format}"
    if force:
        out.write_text("the picture from before")
    assert main(["export", str(LILY), "--format", format, "-o", str(out), *(["--force"] if force else [])]) == 1
    assert one_error_line(capsys.readouterr().err) == "llada-tui: error: no space left on device"
    assert [p.name for p in tmp_path.iterdir()] == ([out.name] if force else [])  # no temporary file left
    if force:
        assert out.read_text() == "the picture from before"


def test_json_shows_its_progress_a_step_at_a_time(monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    """A big trace's candidates take seconds to encode: the bar follows the steps; the document is as ever."""
    from contextlib import contextmanager

    from llada_tui.cli import reading

    seen: list[tuple[str, int, int]] = []

    @contextmanager
    def progress_bar(description: str):  # noqa: ANN202
        yield lambda done, total: seen.append((description, done, total))

    monkeypatch.setattr(reading, "progress_bar", progress_bar)
    assert main(["export", str(LILY), "--candidates"]) == 0
    document = json.loads(capsys.readouterr().out)
    steps = len(document["steps"])
    assert steps > 1 and seen == [("encoding steps", done, steps) for done in range(1, steps + 1)]
    assert list(document) == ["format", "version", "prompt", "model", "params", "steps", "final", "complete", "warning"]
    assert all("candidates" in step for step in document["steps"]) and document["final"]["nfe"] == steps


@pytest.mark.parametrize("format", ["json", "svg"])
def test_force_never_writes_over_the_trace_itself(tmp_path: Path, capsys, format: str) -> None:  # noqa: ANN001
    trace = tmp_path / "run.trace"
    trace.write_bytes(LILY.read_bytes())
    (tmp_path / "link.trace").symlink_to(trace)
    for output in (trace, tmp_path / "." / "run.trace", tmp_path / "link.trace"):
        assert main(["export", str(trace), "--format", format, "-o", str(output), "--force"]) == 2
        assert "is the trace itself" in one_error_line(capsys.readouterr().err)
    assert trace.read_bytes() == LILY.read_bytes()


def test_a_missing_pillow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    real_import = builtins.__import__

    def without_pillow(name: str, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_pillow)
    assert main(["export", str(LILY), "--format", "gif", "-o", str(tmp_path / "x.gif")]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "pip install 'llada-tui[export]'" in line
    assert not (tmp_path / "x.gif").exists()
    assert main(["export", str(LILY), "--format", "svg", "-o", str(tmp_path / "x.svg")]) == 0  # no Pillow needed


def test_a_trace_cut_short_exports_what_it_holds(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    trace = write_trace(tmp_path / "cut.trace", ending="none", stop_after=5)
    assert main(["export", str(trace), "--format", "svg"]) == 0
    captured = capsys.readouterr()
    assert "after step 5 of 16" in captured.out and "warning:" in captured.err  # of the steps asked for
    assert main(["export", str(tmp_path / "missing.trace"), "--format", "svg"]) == 1
    one_error_line(capsys.readouterr().err)


def test_a_gif_too_big_to_hold_takes_fewer_frames_or_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # noqa: ANN001
    from PIL import Image

    from llada_tui.pictures import gif

    monkeypatch.setattr(gif, "FRAME_MEMORY", 799 * 160 * 10)  # room for ten frames of the Lily sample
    output = tmp_path / "lily.gif"
    assert main(["export", str(LILY), "--format", "gif", "-o", str(output)]) == 0
    assert Image.open(output).n_frames == 9  # every 8 steps: 0, 8, ..., 64
    assert main(["export", str(LILY), "--format", "gif", "--every", "2", "-o", str(tmp_path / "x.gif")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "33 frames of 799×160 pixels" in line and "give --every 8 or more" in line
    assert not (tmp_path / "x.gif").exists()
    monkeypatch.setattr(gif, "MAX_SIDE", 100)
    assert main(["export", str(LILY), "--format", "gif", "-o", str(tmp_path / "x.gif")]) == 2
    assert "more than 100 a side: give a larger --width" in one_error_line(capsys.readouterr().err)
