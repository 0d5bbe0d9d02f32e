"""`llada-tui live`: the player fed by the sampler in a worker, each run kept as a trace."""

from __future__ import annotations

from pathlib import Path

import pytest
from waiting import wait_for

from llada_tui.core.options import SamplingOptions
from llada_tui.core.trace_reader import load_trace
from llada_tui.tui.live import LiveApp, run_live_app
from llada_tui.tui.sources.engine import EngineCache, ModelChoice

PROMPT = "the cat sat on the mat"
OPTIONS = SamplingOptions(steps=16, gen_length=32, block_length=8, topk=3)


def make_app(checkpoint: Path, output: Path, options: SamplingOptions = OPTIONS) -> LiveApp:
    return LiveApp(EngineCache(ModelChoice(str(checkpoint))), PROMPT, options, output)


LILY = (
    "Lily can run 12 kilometers per hour for 4 hours. After that, she runs 6 kilometers per hour. "
    "How many kilometers can she run in 8 hours?"
)


async def test_live_with_the_demo_model_matches_record(tmp_path: Path) -> None:
    """The main job: no --model, the embedded demo model on the CPU, run to the end."""
    from llada_tui.cli.main import main

    output = tmp_path / "live.trace"
    app = LiveApp(EngineCache(ModelChoice(device="cpu")), LILY, SamplingOptions(), output)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app.recording.ended)
        await pilot.pause()
        steps = app.recording.header.params["steps"]
        assert app.recording.length == steps and app.position == steps  # followed the live edge
        assert app.grid.display and str(output) in str(app.query_one("#run-file").render())
        grid_text = "".join(app.grid.render_line(y).text for y in range(app.grid.size.height))
        assert "The answer is 72." in grid_text  # the grid shows the finished answer
    live = load_trace(output)
    assert live.complete and app.runs[0].outcome == f"trace: {output}"
    assert live.end.final_text.endswith("The answer is 72.")

    recorded = tmp_path / "record.trace"
    assert main(["record", LILY, "--device", "cpu", "-o", str(recorded)]) == 0
    reference = load_trace(recorded)
    assert live.header.prompt_ids == reference.header.prompt_ids
    assert live.header.params == reference.header.params
    assert live.end.final_ids == reference.end.final_ids
    for a, b in zip(live.steps, reference.steps, strict=True):
        assert (list(a.positions), list(a.ids), list(a.confidences)) == (
            list(b.positions),
            list(b.ids),
            list(b.confidences),
        )
        assert list(a.candidates.ids) == list(b.candidates.ids)


async def test_quitting_mid_run_leaves_an_interrupted_playable_trace(tmp_path: Path, tiny_checkpoint: Path) -> None:
    output = tmp_path / "cancelled.trace"
    slow = SamplingOptions(steps=256, gen_length=256, block_length=256, topk=3)
    app = make_app(tiny_checkpoint, output, slow)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app.recording.length >= 3)
        await pilot.press("x")
        await wait_for(lambda: app.recording.ended)
    app.runs[0].finished.wait(30)
    trace = load_trace(output)
    assert trace.end is not None and trace.end.status == "interrupted"
    assert 3 <= len(trace.steps) < 256
    assert trace.warning.startswith(f"interrupted after step {len(trace.steps)} of 256")
    assert "interrupted after step" in app.runs[0].outcome


async def test_new_prompt_and_rerun_keep_each_run(tmp_path: Path, tiny_checkpoint: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    app = LiveApp(EngineCache(ModelChoice(str(tiny_checkpoint))), PROMPT, OPTIONS)  # no -o: ./traces
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app.recording.ended)
        await pilot.press("e")
        await pilot.press("ctrl+u", *"a dog ran", "enter")
        await wait_for(lambda: len(app.runs) == 2 and app.source is app.runs[1] and app.recording.ended)
        assert app.recording.header.prompt_text == "a dog ran"
        await pilot.press("r")
        await wait_for(lambda: len(app.runs) == 3 and app.source is app.runs[2] and app.recording.ended)
        assert app.recording.header.prompt_text == "a dog ran"
    first, second, third = (load_trace(run.path) for run in app.runs)
    assert first.header.prompt_text == PROMPT and first.complete
    assert second.header.prompt_text == third.header.prompt_text == "a dog ran"
    assert second.complete and third.complete
    assert third.header.params["seed"] != second.header.params["seed"]
    assert all(run.path.parent == Path("traces") for run in app.runs)
    assert len({run.path for run in app.runs}) == 3


async def test_a_model_that_cannot_load_is_a_message_in_the_app(tmp_path: Path) -> None:
    app = LiveApp(EngineCache(ModelChoice(str(tmp_path / "no-such-model"))), PROMPT, OPTIONS, tmp_path / "x.trace")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app.runs[0].finished.is_set())
        await pilot.pause()
        status = str(app.query_one("#status").render())
        assert "could not load the model" in status and "no-such-model" in status
        assert PROMPT in status  # the prompt stays on screen
    assert app.runs[0].failed
    assert not (tmp_path / "x.trace").exists()


def test_run_live_app_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    output = tmp_path / "precious.trace"
    output.write_text("mine")
    assert run_live_app(PROMPT, OPTIONS, ModelChoice(), output=output) == 2
    assert "exists" in capsys.readouterr().err and output.read_text() == "mine"


async def test_help_lists_the_live_keys_too(tmp_path: Path, tiny_checkpoint: Path) -> None:
    app = make_app(tiny_checkpoint, tmp_path / "run.trace")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app.recording.ended)
        await pilot.press("question_mark")
        await pilot.pause()
        text = app.export_screenshot().replace("&#160;", " ")
        assert "New prompt" in text and "Re-run the prompt with a new seed" in text
        assert "seed changes nothing, so the re-run samples at temperature 1" in text
        assert "Cancel the run at its next step" in text
        assert "Step back" in text and "llada-tui live · keys" in text
