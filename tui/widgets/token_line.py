"""The token line: what the Token panel says of the picked token, in one line under the grid.

Shown only where the side panels are hidden (compare at 80x24, a narrow play; player.tcss
decides), while a token is picked (Tab, a click, a find match; Escape clears it): the cursor
then still says what it is on. Most important first, as the line is cut at the view's width:
the token's text, when it was committed and how surely, the alternatives its step had (or,
masked, the model's guesses at the next step), then its position.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from llada_tui.core.run_index import RunIndex
from llada_tui.tui.widgets.token_panel import quoted, revised

CANDIDATES_SHOWN = 3
TEXT_SHARE = 4  # the token's own text gets at most a quarter of the line (at least 12 cells)


def describe(recording: RunIndex, t: int, pos: int, width: int, dim: Style) -> Text:
    """The token at pos after t steps, in one line; `dim` for the labels."""
    token_id, step, confidence = recording.cell_at(pos, t)
    text_width = max(12, width // TEXT_SHARE)
    line = Text(no_wrap=True, overflow="ellipsis")
    if recording.is_mask(token_id):
        line.append("masked")
        if step >= 0:
            line.append(f" (re-masked at step {step + 1})")
        row = recording.candidates(pos, t)
        if row is not None:
            _candidates(line, recording, f"guesses at step {t + 1}", row, text_width, dim)
        else:
            note = "no candidates recorded" if t < recording.length else "no step left to predict it"
            line.append(f" · {note}", dim)
    else:
        line.append_text(quoted(recording, token_id, text_width))
        done = "revised" if revised(recording, pos, step) else "committed"
        line.append(f" {done} at step {step + 1} · conf {confidence:.2f}")
        row = recording.candidates(pos, step)  # the guesses of the forward that committed it, but itself
        others = None if row is None else [(i, p) for i, p in row if i != token_id]
        if others:
            _candidates(line, recording, "alternatives", others, text_width, dim)
    line.append(f" · pos {pos} · block {pos // recording.header.block_length + 1}", dim)
    return line


def _candidates(
    line: Text, recording: RunIndex, label: str, row: list[tuple[int, float]], width: int, dim: Style
) -> None:
    line.append(f" · {label} ", dim)
    for n, (candidate_id, probability) in enumerate(row[:CANDIDATES_SHOWN]):
        if n:
            line.append(" ")
        line.append_text(quoted(recording, candidate_id, width))
        line.append(f" {probability:.2f}")


class TokenLine(Static):
    # in player.tcss: its labels' look, and when it is shown (-picked, the side panels hidden)
    COMPONENT_CLASSES = {"token-line--dim"}
    DEFAULT_CSS = """
    TokenLine { height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def show(self, recording: RunIndex, t: int, pos: int | None) -> None:
        """The token at pos after t steps (pos None: no token picked, the line is not shown)."""
        picked = recording.ready and pos is not None
        self.set_class(picked, "-picked")
        if picked:
            dim = self.get_component_rich_style("token-line--dim", partial=True)
            self.update(describe(recording, t, pos, self.content_region.width or self.app.size.width, dim))
