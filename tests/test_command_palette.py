"""The command palette's export of the step on screen (tui/step_picture.py) and the themes it
offers (tui/themes.py), driven through ctrl+p as a person would."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from test_player import SIZE, started
from textual.app import App, InvalidThemeError
from textual.command import CommandPalette

from llada_tui.core.run_index import RunIndex
from llada_tui.core.trace_reader import load_trace
from llada_tui.pictures.shading import Shading
from llada_tui.pictures.svg import svg_document
from llada_tui.tui import themes
from llada_tui.tui.app import PlayerApp
from llada_tui.tui.compare import CompareApp
from llada_tui.tui.palette import look
from llada_tui.tui.sources.file import FileSource
from llada_tui.tui.widgets.legend_line import LegendLine

LILY = Path(__file__).parent.parent / "sample_traces" / "lily.trace"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def lily(tmp_path: Path) -> Path:
    """A copy of lily.trace in a folder of its own: the export goes beside it."""
    return Path(shutil.copy(LILY, tmp_path / "lily.trace"))


async def run_command(app: PlayerApp, pilot, typed: str) -> None:
    await pilot.press("ctrl+p")
    await pilot.pause()
    assert isinstance(app.screen, CommandPalette)
    await pilot.press(*typed)
    for _ in range(100):  # the palette searches in a worker
        await pilot.pause(0.02)
        if app.screen.query("CommandList Option"):
            break
    await pilot.press("enter")
    for _ in range(50):
        await pilot.pause(0.02)
        if not isinstance(app.screen, CommandPalette):
            return


def svg_texts(path: Path) -> str:
    return "".join(element.text or "" for element in ElementTree.parse(path).iter(f"{SVG}text"))


def notice(app: PlayerApp) -> str:
    return app.query_one(LegendLine).notice


async def test_export_writes_the_step_on_screen_beside_the_trace_never_over_a_file(lily: Path) -> None:
    run = RunIndex.of_trace(load_trace(lily))
    app = PlayerApp(FileSource.open(lily))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        app.position = 26
        await run_command(app, pilot, "export")
        first = lily.with_name("lily-step-26.svg")
        assert first.read_text(encoding="ascii") == svg_document(run, 26, Shading.STEP)
        assert "4 hours: 6 * 4 =" in svg_texts(first) and "The answer is" not in svg_texts(first)
        assert f"step 26 exported as {first}" in notice(app)

        await pilot.press("c")  # by confidence now: the picture follows
        await run_command(app, pilot, "export this step")
        second = lily.with_name("lily-step-26-2.svg")
        assert second.read_text(encoding="ascii") == svg_document(run, 26, Shading.CONFIDENCE)
        assert first.read_text(encoding="ascii") == svg_document(run, 26, Shading.STEP)  # untouched
        assert f"exported as {second}" in notice(app)

        lily.with_name("lily-step-64.svg").write_text("mine")
        lily.with_name("lily-step-64-2.svg").mkdir()
        await pilot.press("end")
        await run_command(app, pilot, "export")
        assert lily.with_name("lily-step-64.svg").read_text() == "mine"
        assert "The answer is 72." in svg_texts(lily.with_name("lily-step-64-3.svg"))
    assert sorted(p.name for p in lily.parent.iterdir()) == [
        "lily-step-26-2.svg",
        "lily-step-26.svg",
        "lily-step-64-2.svg",
        "lily-step-64-3.svg",
        "lily-step-64.svg",
        "lily.trace",
    ]


async def test_export_in_a_browser_is_a_download_and_writes_nothing(lily: Path, monkeypatch) -> None:
    delivered = []
    monkeypatch.setattr(PlayerApp, "is_web", property(lambda app: True))  # as under `llada-tui serve`
    monkeypatch.setattr(PlayerApp, "deliver_text", lambda app, file, **how: delivered.append((file.read(), how)))
    app = PlayerApp(FileSource.open(lily))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        app.position = 64
        await run_command(app, pilot, "export")
        assert "step 64 sent to the browser as lily-step-64.svg" in notice(app)
    ((text, how),) = delivered
    assert "The answer is 72." in "".join(e.text or "" for e in ElementTree.fromstring(text).iter(f"{SVG}text"))
    assert how["save_filename"] == "lily-step-64.svg" and how["mime_type"] == "image/svg+xml"
    assert sorted(p.name for p in lily.parent.iterdir()) == ["lily.trace"]


def test_the_offered_themes_are_those_the_looks_keep_their_contrast_on() -> None:
    app = PlayerApp(FileSource.open(LILY))
    offered = set(app.available_themes)
    assert {"textual-dark", "dracula", "tokyo-night", "solarized-dark", "ansi-dark"} <= offered
    assert not {"textual-light", "solarized-light", "catppuccin-latte", "nord", "ansi-light"} & offered
    with pytest.raises(InvalidThemeError):
        app.theme = "textual-light"


@pytest.mark.parametrize("name", ["textual-dark", "dracula", "solarized-dark", "rose-pine-moon"])
async def test_on_an_offered_theme_the_grids_looks_keep_three_to_one(name: str) -> None:
    """Read from the running app: the grid's surface and player.tcss's masked and current looks."""
    app = PlayerApp(FileSource.open(LILY))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        app.theme = name
        await pilot.pause()
        surface = app.grid.styles.background
        masked = look(app.grid, "masked").color.get_truecolor()
        current = look(app.grid, "current").bgcolor.get_truecolor(app.ansi_theme)
        assert (masked.red, masked.green, masked.blue) == themes.MASKED.rgb
        theme = app.available_themes[name]
        assert (current.red, current.green, current.blue) == themes.current_background(app, theme).rgb
        assert surface == themes.surface_of(theme)
        for colour in (themes.MASKED, themes.current_background(app, theme)):
            assert themes.contrast(colour, surface) >= themes.MIN_CONTRAST


def test_a_theme_left_out_fails_the_contrast_it_is_left_out_for() -> None:
    app = App()  # Textual's own: every theme registered
    for name in ("textual-light", "nord", "atom-one-dark"):
        theme = app.available_themes[name]
        surface = themes.surface_of(theme)
        looks = (themes.MASKED, themes.current_background(app, theme))
        worst = min(themes.contrast(colour, surface) for colour in looks)
        assert worst < themes.MIN_CONTRAST, name


async def test_in_compare_the_palette_seeks_the_shared_timeline_and_exports_the_focused_run(tmp_path: Path) -> None:
    a = Path(shutil.copy(LILY, tmp_path / "a.trace"))
    b = Path(shutil.copy(Path(LILY).with_name("lily-threshold.trace"), tmp_path / "b.trace"))
    app = CompareApp(FileSource.open(a), FileSource.open(b), names=(a.name, b.name))
    async with app.run_test(size=(160, 50)) as pilot:
        for _ in range(200):
            await pilot.pause(0.02)
            if all(view.recording.ended for view in app.views) and app.shared.length == 64:
                break
        await run_command(app, pilot, "step 40")
        assert app.shared.position == 40
        first = app.focused_view()
        await run_command(app, pilot, "export")
        exported = sorted(p.name for p in tmp_path.glob("*.svg"))
        assert exported == [f"{first.source.path.stem}-step-{first.position}.svg"]
