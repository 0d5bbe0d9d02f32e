"""The player's commands in Textual's command palette (ctrl+p), beside Textual's own.

Each command is one of the app's actions under a name a newcomer would type (and the export
of the step on screen, tui/step_picture.py); a number typed into the palette offers to go to
that step ("12", "step 12") or that share of the run ("40%"). Textual's own commands stay:
Theme, Screenshot (an SVG of the whole screen), Keys, Quit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from llada_tui.tui.step_picture import export_step_svg

STEP_QUERY = re.compile(r"^\D*?(\d{1,9})\s*(%?)\s*$")


class PlayerCommands(Provider):
    def _commands(self) -> Iterator[tuple[str, str, Callable[[], object]]]:
        """(name, what it does, action) for every command the player offers."""
        app = self.app
        yield ("Play / pause", "Play from here; stops at the end", app.action_toggle_play)
        yield ("First step", "Go to the start: everything masked", app.action_first)
        yield ("Last step", "Go to the end (catch up when following)", app.action_last)
        yield ("Colour mode", "Colour tokens by commit step or by confidence", app.action_colour_mode)
        yield ("Placeholders", "Masked tokens: plain dots, or the width of the token to come", app.action_placeholders)
        yield ("Find text in the answer", "The first step at which a text is visible", app.action_find)
        yield (
            "Export this step as SVG",
            "The answer at this step as a picture, coloured as now, beside the trace (served: a download)",
            lambda: export_step_svg(app, app.focused_view()),  # compare: the view focused last
        )
        yield ("Run info", "The whole prompt, the model and every sampling parameter", app.action_info)
        yield ("Help: keys and marks", "Every key, and what the marks and labels mean", app.action_help)

    async def discover(self) -> Hits:
        for name, help_text, action in self._commands():
            yield DiscoveryHit(name, action, help=help_text)

    async def search(self, query: str) -> Hits:
        timeline = self.app.driven  # the one view, or compare's shared timeline
        asked = STEP_QUERY.match(query)
        if asked and self.app.focused_view().recording.ready:
            number, percent = int(asked.group(1)), asked.group(2)
            length = timeline.length
            t = round(length * min(number, 100) / 100) if percent else min(number, length)
            name = f"Go to step {t} of {length}" + (f" ({number}%)" if percent else "")
            yield Hit(1.0, name, partial(timeline.go_to, t), text=name, help="Seek the timeline")
        matcher = self.matcher(query)
        for name, help_text, action in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), action, text=name, help=help_text)
