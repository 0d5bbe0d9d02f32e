"""`llada-tui live` runs after the first: what the run line says, where traces go, re-runs, errors."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_for

from llada_tui.core.options import SamplingOptions
from llada_tui.core.trace_reader import load_trace
from llada_tui.tui import live
from llada_tui.tui.live import RERUN_TEMPERATURE, LiveApp, run_live_app
from llada_tui.tui.sources.engine import EngineCache, ModelChoice
from llada_tui.tui.widgets.timeline import Timeline

PROMPT = "the cat sat on the mat"
OPTIONS = SamplingOptions(steps=16, gen_length=32, block_length=8, topk=3)


class GatedEngines(EngineCache):
    """An engine cache that holds every run at "loading the model" until the test opens the gate."""

    def __init__(self, choice: ModelChoice):
        super().__init__(choice)
        self.gate = threading.Event()
        self.gate.set()

    def get(self, deliver, prompt_line: str) -> Any:  # noqa: ANN001
        assert self.gate.wait(60)
        return super().get(deliver, prompt_line)


class FailingEngines(EngineCache):
    """An engine cache with a bug: the worker meets an exception nobody planned for."""

    def get(self, deliver, prompt_line: str) -> Any:  # noqa: ANN001
        raise RuntimeError("\x1b]0;boom\x07 [bold]unforeseen[/]")


def line_text(app: LiveApp) -> str:
    """The run line as drawn (it is a table: read it from the screen)."""
    strips = app.screen._compositor.render_strips()
    return strips[app.query_one("#run-file").region.y].text


def status_text(app: LiveApp) -> str:
    return str(app.query_one("#status").render())


def capture_notices(app: LiveApp) -> list[str]:
    notices: list[str] = []
    app.notify = lambda message, **_: notices.append(message)  # type: ignore[method-assign]
    return notices


async def test_the_run_line_says_loading_until_the_trace_is_recording(tmp_path: Path, tiny_checkpoint: Path) -> None:
    engines = GatedEngines(ModelChoice(str(tiny_checkpoint)))
    engines.gate.clear()
    app = LiveApp(engines, PROMPT, OPTIONS, tmp_path / "run.trace")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        assert "loading model…" in line_text(app) and "recording" not in line_text(app)
        assert "x cancel" in line_text(app)
        engines.gate.set()
        await wait_for(lambda: app.recording.ended)
        await pilot.pause()
        assert "■ saved" in line_text(app) and "run.trace" in line_text(app)


async def test_an_empty_prompt_typed_with_e_is_refused_at_once(tmp_path: Path, tiny_checkpoint: Path) -> None:
    app = LiveApp(EngineCache(ModelChoice(str(tiny_checkpoint))), PROMPT, OPTIONS, tmp_path / "run.trace")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app.recording.ended)
        notices = capture_notices(app)
        await pilot.press("e", "ctrl+u", "space", "space", "enter")
        await pilot.pause()
        assert notices == ["the prompt is empty: nothing to run"]
        assert len(app.runs) == 1 and app.query_one("#prompt-bar").display  # still open, to fix it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.trace"]


async def test_later_runs_go_beside_the_output_file_and_clear_the_last_run_at_once(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    (tmp_path / "a-3.trace").write_text("someone else's")
    engines = GatedEngines(ModelChoice(str(tiny_checkpoint)))
    app = LiveApp(engines, PROMPT, OPTIONS, tmp_path / "a.trace")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app.recording.ended)
        engines.gate.clear()  # the next run waits before its header: the old run must be gone
        await pilot.press("e", "ctrl+u", *"a dog ran", "enter")
        await wait_for(lambda: app.source is app.runs[1])
        await pilot.pause()
        timeline = app.query_one(Timeline)
        assert (timeline.length, timeline.total, timeline.boundaries) == (0, 0, [])
        assert not app.grid.display and "a dog ran" in status_text(app)
        assert "a-2.trace" in line_text(app) and "○ starting…" in line_text(app)
        engines.gate.set()
        await wait_for(lambda: app.recording.ended)
        await pilot.press("r")
        await wait_for(lambda: len(app.runs) == 3 and app.source is app.runs[2] and app.recording.ended)
    assert [run.path.name for run in app.runs] == ["a.trace", "a-2.trace", "a-4.trace"]
    assert (tmp_path / "a-3.trace").read_text() == "someone else's"
    assert [load_trace(run.path).header.prompt_text for run in app.runs] == [PROMPT, "a dog ran", "a dog ran"]


async def test_rerun_at_temperature_0_says_why_and_samples_at_a_temperature(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    app = LiveApp(EngineCache(ModelChoice(str(tiny_checkpoint))), PROMPT, OPTIONS, tmp_path / "a.trace")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app.recording.ended)
        notices = capture_notices(app)
        await pilot.press("r")
        await wait_for(lambda: len(app.runs) == 2 and app.source is app.runs[1] and app.recording.ended)
        reruns = [notice for notice in notices if "re-running" in notice]
        assert reruns[0].startswith(f"temp 0 ignores the seed: re-running at temp {RERUN_TEMPERATURE:g}, seed")
        await pilot.press("r")  # now at a temperature: a seed is all it takes
        await wait_for(lambda: len(app.runs) == 3 and app.source is app.runs[2] and app.recording.ended)
        reruns = [notice for notice in notices if "re-running" in notice]
        assert reruns[1].startswith("re-running with seed")
        await pilot.press("e", "enter")  # a new prompt starts from the session's options again
        await wait_for(lambda: len(app.runs) == 4 and app.source is app.runs[3] and app.recording.ended)
    first, second, third, fourth = (load_trace(run.path).header.params for run in app.runs)
    assert first["temperature"] == 0 and second["temperature"] == third["temperature"] == RERUN_TEMPERATURE
    assert len({first["seed"], second["seed"], third["seed"]}) == 3
    assert (fourth["temperature"], fourth["seed"]) == (0, first["seed"])


async def test_rerun_with_random_remasking_keeps_temperature_0(tmp_path: Path, tiny_checkpoint: Path) -> None:
    options = SamplingOptions(steps=16, gen_length=32, block_length=8, topk=3, remasking="random")
    app = LiveApp(EngineCache(ModelChoice(str(tiny_checkpoint))), PROMPT, options, tmp_path / "a.trace")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app.recording.ended)
        await pilot.press("r")
        await wait_for(lambda: len(app.runs) == 2 and app.source is app.runs[1] and app.recording.ended)
    assert load_trace(app.runs[1].path).header.params["temperature"] == 0


async def test_rerun_and_a_new_prompt_keep_the_decoding_strategy(tmp_path: Path, tiny_checkpoint: Path) -> None:
    options = SamplingOptions(gen_length=32, block_length=8, topk=3, sampler="wino", threshold=0.3, threshold_back=0.7)
    app = LiveApp(EngineCache(ModelChoice(str(tiny_checkpoint))), PROMPT, options, tmp_path / "a.trace")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app.recording.ended)
        await pilot.press("r")
        await wait_for(lambda: len(app.runs) == 2 and app.source is app.runs[1] and app.recording.ended)
        await pilot.press("e", "enter")
        await wait_for(lambda: len(app.runs) == 3 and app.source is app.runs[2] and app.recording.ended)
    for run in app.runs:
        header = load_trace(run.path).header
        assert header.version == (2, 0)
        assert (header.sampler, header.params["threshold"], header.params["threshold_back"]) == ("wino", 0.3, 0.7)


async def test_the_run_keys_are_visible_at_80_columns(tmp_path: Path, tiny_checkpoint: Path) -> None:
    slow = SamplingOptions(steps=256, gen_length=256, block_length=256, topk=3)
    app = LiveApp(EngineCache(ModelChoice(str(tiny_checkpoint))), PROMPT, slow, tmp_path / "a.trace")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(lambda: app.recording.length >= 1)
        await pilot.pause()
        assert all(keys in line_text(app) for keys in ("x cancel", "e new prompt", "r re-run"))
        await pilot.press("x")
        await wait_for(lambda: app.recording.ended)
        await pilot.pause()
        assert "x cancel" not in line_text(app) and "r re-run" in line_text(app)


async def test_prompts_and_paths_with_markup_and_escapes_are_shown_as_typed(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    prompt = "what is [/] 2+2 [bold]? \x1b]0;pwned\x07"
    output = tmp_path / "[a=b=c].trace"
    app = LiveApp(EngineCache(ModelChoice(str(tiny_checkpoint))), prompt, OPTIONS, output)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert "what is [/] 2+2 [bold]? ␛]0;pwned␇" in status_text(app)
        await wait_for(lambda: app.recording.ended)
        await pilot.pause()
        assert "[a=b=c].trace" in line_text(app)
        await pilot.press("e", "ctrl+u", *"[red]x[/]", "enter")
        await wait_for(lambda: len(app.runs) == 2 and app.source is app.runs[1] and app.recording.ended)
    assert load_trace(output).header.prompt_text == prompt
    assert not app.runs[0].failed and not app.runs[1].failed


async def test_a_prompt_that_is_not_utf8_is_a_message_not_a_silent_death(tmp_path: Path, tiny_checkpoint: Path) -> None:
    app = LiveApp(EngineCache(ModelChoice(str(tiny_checkpoint))), "2+2=\udcff?", OPTIONS, tmp_path / "x.trace")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app.runs[0].finished.is_set())
        await pilot.pause()
        assert "not valid UTF-8" in status_text(app) and "not recorded" in line_text(app)
    assert app.runs[0].failed and not (tmp_path / "x.trace").exists()


def test_an_unforeseen_worker_error_is_reported_and_the_exit_status_is_1(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def quit_when_the_run_is_over(pilot) -> None:  # noqa: ANN001
        app = pilot.app
        await wait_for(lambda: app.runs[0].finished.is_set())
        await pilot.pause()
        shown.append(status_text(app) + line_text(app))
        await pilot.press("q")

    shown: list[str] = []
    monkeypatch.setattr(live, "EngineCache", FailingEngines)

    def run_in_a_test_terminal(app: LiveApp) -> None:
        async def drive() -> None:
            async with app.run_test(size=(120, 40)) as pilot:
                await quit_when_the_run_is_over(pilot)

        asyncio.run(drive())

    monkeypatch.setattr(LiveApp, "run", run_in_a_test_terminal)
    assert run_live_app(PROMPT, OPTIONS, ModelChoice(), tmp_path / "x.trace") == 1
    assert "unexpected error: RuntimeError: ␛]0;boom␇ [bold]unforeseen[/]" in shown[0]
    assert "✗ not recorded" in shown[0]
    err = capsys.readouterr().err
    assert "not recorded: unexpected error: RuntimeError" in err and "\x1b" not in err
    assert not (tmp_path / "x.trace").exists()


async def test_torch_threads_are_chosen_before_the_model_loads(
    tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llada_tui.core import recording, threads

    calls: list[tuple] = []
    monkeypatch.setattr(threads, "use_threads", lambda n, *, leave_for_ui: calls.append(("threads", n, leave_for_ui)))
    load_engine = recording.load_engine
    monkeypatch.setattr(recording, "load_engine", lambda *a: calls.append(("load",)) or load_engine(*a))
    app = LiveApp(EngineCache(ModelChoice(str(tiny_checkpoint), threads=3)), PROMPT, OPTIONS, tmp_path / "a.trace")
    async with app.run_test(size=(120, 40)):
        await wait_for(lambda: app.recording.ended)
    assert calls == [("threads", 3, True), ("load",)]


async def test_cancelling_while_the_model_loads_says_nothing_was_recorded(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    engines = GatedEngines(ModelChoice(str(tiny_checkpoint)))
    engines.gate.clear()
    app = LiveApp(engines, PROMPT, OPTIONS, tmp_path / "a.trace")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("x")
        engines.gate.set()
        await wait_for(lambda: app.runs[0].finished.is_set())
        await pilot.pause()
        assert "cancelled before the run began" in status_text(app)
        assert "✗ not recorded: cancelled before the run began" in line_text(app)
    assert not app.runs[0].failed and not (tmp_path / "a.trace").exists()
