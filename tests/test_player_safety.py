"""Hostile trace contents and sizes: nothing reaches the terminal as a control, nothing is parsed
as markup, nothing crashes, and a trace at the reader's limits stays quick to show."""

from __future__ import annotations

import re
from pathlib import Path

from test_player import SIZE, custom_trace, screen_text, started
from test_player_display import terminal_output

from llada_tui.core.trace import End
from llada_tui.tui.app import PlayerApp
from llada_tui.tui.sources import FileSource, FollowSource

OSC52 = "\x1b]52;c;ZWNobyBwd25lZA==\x07"  # write to the clipboard
TITLE = "\x1b]0;pwned\x07"  # retitle the terminal
HOSTILE_TEXTS = [OSC52, TITLE, "\x9b2J", "\x9d0;x\x9c", "\u202eevil\u202c", "[/]", "[bold]loud", "[link=x]y[/link]"]
HOSTILE = "".join(HOSTILE_TEXTS)
# Whatever is left once the colour codes the player itself emits are taken out must be plain text.
OWN_STYLES = re.compile(r"\x1b\[[0-9;]*m")
RAW_CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b-\u200f]")


def assert_inert(output: str) -> None:
    plain = OWN_STYLES.sub("", output)
    assert not RAW_CONTROLS.search(plain), repr(RAW_CONTROLS.search(plain))
    assert "]52;" not in plain or "␛]52;" in plain  # an OSC shows as its marks, never as itself


async def test_hostile_prompt_model_and_end_record_stay_inert(tmp_path: Path) -> None:
    end = End("interrupted" + TITLE, [], "stopped: " + HOSTILE, 1.0)
    path = custom_trace(tmp_path / "hostile.trace", prompt=HOSTILE, end=end, model={"name": HOSTILE, "dtype": TITLE})
    app = PlayerApp(FileSource.open(path))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        await pilot.pause()
        outputs = [terminal_output(app)]  # header, and the notice of how the run ended
        assert "stopped: ␛]52;c;" in screen_text(app)  # the notice, shown as text
        assert "[bold]loud" in screen_text(app)  # markup shown as typed, not applied
        await pilot.press("i")  # the whole prompt, model, end record
        outputs.append(terminal_output(app))
        assert "[/]" in screen_text(app) and "⇄evil⇄" in screen_text(app)
        await pilot.press("escape", "end", "tab")
        outputs.append(terminal_output(app))
        await pilot.press("slash", *"[/]", "enter")  # a query that is markup, in a notice
        outputs.append(terminal_output(app))
        assert "“[/]” never appears" in screen_text(app)
    for output in outputs:
        assert_inert(output)


async def test_a_status_line_with_markup_in_a_file_name(tmp_path: Path) -> None:
    # following a file that does not exist yet: the status line names it
    path = tmp_path / f"[a=b=c]{TITLE}.trace"
    app = PlayerApp(FollowSource.open(path, interval=0.01))
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(100):
            await pilot.pause(0.01)
            if "[a=b=c]" in screen_text(app):
                break
        assert "[a=b=c]␛]0;pwned␇" in screen_text(app)  # the status line wraps the long path
        assert_inert(terminal_output(app))


async def test_hostile_notices_from_elsewhere_stay_inert(tmp_path: Path) -> None:
    # live mode and Textual call notify too, some with markup=True: never parsed, always inert
    app = PlayerApp(FileSource.open(custom_trace(tmp_path / "run.trace")))
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot)
        app.notify("[bold]loud[/] " + HOSTILE, title=TITLE)  # markup=True, Textual's default
        await pilot.pause()
        assert "␛]0;pwned␇: [bold]loud[/] ␛]52;c;" in screen_text(app)
        assert_inert(terminal_output(app))
        app.notify(HOSTILE, markup=False, severity="warning")
        await pilot.pause()
        assert_inert(terminal_output(app))
