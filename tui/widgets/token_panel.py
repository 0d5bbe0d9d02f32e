"""The token panel: the token under the cursor, its commit, its candidates and their history."""

from __future__ import annotations

from typing import NamedTuple

from rich.cells import cell_len
from rich.console import Group
from rich.style import Style
from rich.text import Span, Text
from textual.events import Resize
from textual.reactive import reactive
from textual.widget import Widget

from llada_tui.core.inert import inert_text
from llada_tui.core.run_index import RunIndex
from llada_tui.tui.palette import SPECIAL_MARK, ColourMode
from llada_tui.tui.widgets.charts import bar, bucket_of, sparkline

MAX_TEXT_CELLS = 200  # a hostile token can be megabytes long; show its head
# Until a token is picked, the panel says how to read the screen (the help screen says more).
COLOUR_MEANS = {
    ColourMode.STEP: "step committed",
    ColourMode.CONFIDENCE: "confidence",
    ColourMode.ORDER: "commit order",
}
GUIDE = [  # (row, its look in the panel, if any); at most 26 cells a row: the narrow panel's room
    ("Tab/click: pick a token", "heading"),
    ("(candidates and history)", "dim"),
    ("", ""),
    ("··· masked, undecided", ""),
    ("colour: {colour}", ""),
    ("bold underline: this step", ""),
    (f"{SPECIAL_MARK} special (end of text…)", ""),
    ("block: filled in turn", ""),
    ("", ""),
    ("? help · i whole prompt", "dim"),
]


def quoted(recording: RunIndex, token_id: int, width: int) -> Text:
    """A token's text, inert, in quotes, cut to `width` cells."""
    shown = inert_text(recording.text(token_id)[:MAX_TEXT_CELLS])
    text = Text(f"“{shown}”", no_wrap=True, overflow="ellipsis")
    text.truncate(max(3, width), overflow="ellipsis")
    return text


def fitted(width: int, whole: str, *parts: str) -> list[str]:
    """`whole` as one row if it fits in `width` cells, else its parts a row each: a narrow panel
    keeps what the end of a row says (a confidence, the steps) rather than cut it off."""
    return [whole] if cell_len(whole) <= width else list(parts)


def revised(recording: RunIndex, pos: int, step: int) -> bool:
    """Whether the change of pos at `step` replaced a token (rather than a mask)."""
    history = recording.history(pos)
    i = next(i for i, change in enumerate(history) if change.step == step)
    return i > 0 and not recording.is_mask(history[i - 1].token_id)


class Row(NamedTuple):
    """A panel's row as a value: its text, base style and spans (a Rich Text compares its text
    and spans only), so that equal rows compare equal."""

    plain: str
    style: str | Style
    spans: tuple[Span, ...]

    @classmethod
    def of(cls, text: Text) -> Row:
        return cls(text.plain, text.style, tuple(text.spans))

    def text(self) -> Text:
        # panels are narrow: a row that does not fit ends in an ellipsis
        return Text(self.plain, self.style, spans=list(self.spans), no_wrap=True, overflow="ellipsis")


class Panel(Widget):
    """A side panel of one-line rows, repainted only when a row changed (stepping often changes none).

    Rows are cut to the panel's width: shown before the panel has its size, or resized, the
    panel shows the same again at its new width.
    """

    # styled in player.tcss: headings, secondary text, the charts, the current step's mark in a chart
    COMPONENT_CLASSES = {"panel--heading", "panel--dim", "panel--chart", "panel--now"}

    rows: reactive[tuple[Row, ...]] = reactive(tuple, layout=False)  # the same rows again draw nothing
    _asked: tuple = ()  # the arguments of the last show()

    def look(self, part: str) -> Style:
        """The style of a part of the panel (heading, dim, chart, now), as player.tcss has it."""
        return self.get_component_rich_style(f"panel--{part}", partial=True)

    def on_resize(self, event: Resize) -> None:
        if self._asked:
            self.show(*self._asked)

    def show_rows(self, rows: list[Text]) -> None:
        self.rows = tuple(Row.of(row) for row in rows)

    def render(self) -> Group:
        return Group(*(row.text() for row in self.rows))


class TokenPanel(Panel):
    def show(self, recording: RunIndex, t: int, pos: int | None, mode: ColourMode = ColourMode.STEP) -> None:
        """The token at pos after t steps; with no token picked, the guide (its colour line as `mode` colours)."""
        self._asked = (recording, t, pos, mode)
        self.border_title = "Token"
        if not recording.ready or pos is None:
            colour = COLOUR_MEANS[mode]
            self.show_rows(
                [Text(row.format(colour=colour), style=self.look(look) if look else "") for row, look in GUIDE]
            )
            return
        width = max(10, self.content_region.width or 30)
        token_id, step, confidence = recording.cell_at(pos, t)
        block = pos // recording.header.block_length
        rows: list[Text] = []
        if recording.is_mask(token_id):
            rows.append(Text("masked", style=self.look("heading")))
            rows.append(Text(f"pos {pos} · block {block + 1}", style=self.look("dim")))
        else:
            rows.append(quoted(recording, token_id, width))
            rows.append(Text(f"id {token_id} · pos {pos} · block {block + 1}", style=self.look("dim")))
            done = f"{'revised' if revised(recording, pos, step) else 'committed'} at step {step + 1}"
            conf = f"conf {confidence:.2f}"
            rows.extend(Text(row) for row in fitted(width, f"{done} · {conf}", done, conf))
        if step >= 0 and recording.is_mask(token_id):
            rows.append(Text(f"re-masked at step {step + 1}"))
        rows.extend(self._candidates(recording, pos, t, token_id, width))
        rows.extend(self._top_history(recording, pos, t, width))
        rows.extend(self._changes(recording, pos, width))
        self.show_rows(rows)

    def _candidates(self, recording: RunIndex, pos: int, t: int, token_id: int, width: int) -> list[Text]:
        """A masked position's candidates; a decoded one's where the sampler checks it again (a
        revising sampler records what the model now thinks of the positions it may revise)."""
        masked = recording.is_mask(token_id)
        row = recording.candidates(pos, t)
        if row is None:
            if not masked:
                return []
            note = "no candidates recorded" if t < recording.length else "no step left to predict it"
            return [Text(note, style=self.look("dim"))]
        heading = f"candidates at step {t + 1}" + ("" if masked else " (a second look)")
        rows = [Text(heading, style=self.look("heading"))]
        chart = self.look("chart")
        label_width = max(6, width // 3)
        bar_width = max(4, width - label_width - 7)
        for candidate_id, probability in row:
            line = quoted(recording, candidate_id, label_width)
            line.pad_right(label_width - line.cell_len)
            line.append(" " + bar(probability, bar_width), chart)
            line.append(f"{probability:5.2f}"[-5:])
            rows.append(line)
        return rows

    _series: tuple[object, int, int, list[tuple[int, float]]] | None = None  # (index, pos, steps, series)

    def _top_history(self, recording: RunIndex, pos: int, t: int, width: int) -> list[Text]:
        # the same for every step shown: worked out once per token (it walks all the steps it was masked in)
        cached = self._series
        if cached is None or cached[0] is not recording or cached[1:3] != (pos, recording.length):
            cached = self._series = (recording, pos, recording.length, recording.top_candidate_history(pos))
        series = cached[3]
        if len(series) < 2:
            return []
        values = [p for _, p in series]
        line = sparkline(values, width, top=1.0)
        steps = [s for s, _ in series]
        text = Text(line, style=self.look("chart"), no_wrap=True)
        if t in steps:
            at = bucket_of(steps.index(t), len(steps), width)
            text.stylize(self.look("now"), at, at + 1)
        guess, span = f"top guess p {values[0]:.2f}→{values[-1]:.2f}", f"over steps {steps[0] + 1}–{steps[-1] + 1}"
        head = [Text(row, style=self.look("dim")) for row in fitted(width, f"{guess} {span}", guess, span)]
        return [*head, text]

    def _changes(self, recording: RunIndex, pos: int, width: int) -> list[Text]:
        history = recording.history(pos)
        if len(history) < 2:
            return []
        rows = [Text("changes", style=self.look("heading"))]
        dim = self.look("dim")
        for change in history:
            line = Text(f"step {change.step + 1:<4} ", style=dim, no_wrap=True, overflow="ellipsis")
            if recording.is_mask(change.token_id):
                line.append("masked")
            else:
                line.append(quoted(recording, change.token_id, width - 16))
                line.append(f" {change.confidence:.2f}")
            rows.append(line)
        return rows
