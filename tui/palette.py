"""Cell styles: colour by commit step (early -> late) or by confidence, and their legends.

The colour scale is computed here; the fixed looks (the current step's tokens, masked positions,
and without colour the marks) are player.tcss's, as component classes of the grid and of the
legend line under it (CELL_CLASSES). With NO_COLOR the colouring falls back to marks, and no
colour code is emitted at all: the commit step (or confidence) in thirds, dim / plain / bold;
bold underline for the tokens of the current step, dim dots for masked positions. Colours are
truecolor; Textual downgrades them for 256- and 16-colour terminals, where the marks (bold,
underline, reverse) still tell the states apart.
"""

from __future__ import annotations

import math
from enum import Enum
from functools import lru_cache
from typing import NamedTuple

from rich.color import Color
from rich.style import Style
from textual.widget import Widget

from llada_tui.pictures.shading import BLACK, CONFIDENCE_STOPS, STEP_STOPS, mix, text_on
from llada_tui.tui.layout import PLACEHOLDER

GRADIENT_LEVELS = 64

SPECIAL_MARK = "⋄"  # special tokens (end of text, end of turn...) take one cell; the token panel names them
ANSWER_MARK = "◆"  # the order overlay: on the timeline, the step at which the answer span was complete

# The fixed looks, "cells--" + a name: with colour, and without (-mono: the scale in thirds,
# early / low dim, middle plain, late / high bold), and the labels at the ends of the scale.
# A revising sampler's marks: a token that is not the position's first (rewritten, or committed
# again after a re-mask), and a masked position that held a token (re-masked). The order
# overlay's: the answer span and its lead-in ("The answer is"). Compare's: a token that is not
# in the other run's final text.
LOOK_NAMES = (
    "current",
    "current-mono",
    "masked",
    "masked-mono",
    "early-mono",
    "late-mono",
    "scale-label",
    "revised",
    "revised-mono",
    "remasked",
    "remasked-mono",
    "answer",
    "lead-in",
    "differs",
    "differs-mono",
)
CELL_CLASSES = {f"cells--{name}" for name in LOOK_NAMES}  # declared by the widgets that draw cells


class CellLooks(NamedTuple):
    """The fixed looks of the grid's cells, as player.tcss gives them to a widget."""

    current: Style  # committed by the step just applied
    masked: Style  # masked positions and special tokens
    thirds: tuple[Style, Style, Style] | None  # without colour: the scale in thirds; None: the colours
    revised: Style  # over a committed cell's look: the position held another token or was masked again
    remasked: Style  # a masked position that held a token


def look(widget: Widget, name: str) -> Style:
    """A fixed look (one of LOOK_NAMES) of a widget that declares CELL_CLASSES.

    A plain style if it has none (a grid removed for live mode's next run may paint once after
    its styles are gone)."""
    return widget.get_component_rich_style(f"cells--{name}", partial=True, default=Style())


def cell_looks(widget: Widget, monochrome: bool) -> CellLooks:
    """The cells' looks a widget has from player.tcss, with colour or without (NO_COLOR)."""
    if monochrome:
        thirds = (look(widget, "early-mono"), Style(), look(widget, "late-mono"))
        marks = look(widget, "revised-mono"), look(widget, "remasked-mono")
        return CellLooks(look(widget, "current-mono"), look(widget, "masked-mono"), thirds, *marks)
    marks = look(widget, "revised"), look(widget, "remasked")
    return CellLooks(look(widget, "current"), look(widget, "masked"), None, *marks)


class ColourMode(Enum):
    STEP = "step"
    CONFIDENCE = "confidence"
    ORDER = "order"  # the order overlay: the rank of the step that gave a token its final text


@lru_cache(maxsize=2 * GRADIENT_LEVELS)
def _gradient_style(mode: ColourMode, level: int) -> Style:
    """A level of the scale (pictures/shading.py's, which the exported pictures share)."""
    stops = CONFIDENCE_STOPS if mode is ColourMode.CONFIDENCE else STEP_STOPS
    background = mix(stops, level / (GRADIENT_LEVELS - 1))
    return Style(color="black" if text_on(background) == BLACK else "white", bgcolor=Color.from_rgb(*background))


def _fraction(mode: ColourMode, step: int, total_steps: int, confidence: float) -> float:
    fraction = step / max(1, total_steps - 1) if mode is ColourMode.STEP else confidence
    return min(1.0, max(0.0, fraction))


def committed_style(
    mode: ColourMode, step: int, total_steps: int, confidence: float, thirds: tuple[Style, Style, Style] | None = None
) -> Style:
    """A committed cell: its colour from the step that committed it, or its confidence then.

    With `thirds` (no colour): the same scale in thirds, each third its look.
    """
    return shade(mode, _fraction(mode, step, total_steps, confidence), thirds)


def shade(mode: ColourMode, fraction: float, thirds: tuple[Style, Style, Style] | None = None) -> Style:
    """The look of a fraction (0 to 1) of a mode's scale; with `thirds` (no colour), its third's."""
    if thirds is not None:
        return thirds[min(2, int(fraction * 3))]
    return _gradient_style(mode, round(fraction * (GRADIENT_LEVELS - 1)))


def _thirds_shown(mode: ColourMode, total_steps: int) -> tuple[str, str]:
    """What the dim and the bold third stand for, as the monochrome legend says it."""
    if mode is ColourMode.CONFIDENCE:
        return "<0.33", "≥0.67"
    span = max(1, total_steps - 1)  # step s (from 0) is in third int(s / span * 3)
    first_plain, first_bold = math.ceil(span / 3), math.ceil(2 * span / 3)
    return f"≤{first_plain}", f"≥{first_bold + 1}"  # as 1-based steps


Piece = tuple[str, str | Style | None]  # a run of text and its look: a name of LOOK_NAMES, a colour, or none


def legend(
    mode: ColourMode, total_steps: int, monochrome: bool, width: int, compact: bool = False, revisions: bool = False
) -> list[Piece]:
    """One line explaining the colours (or, without colour, the marks); `width` cells of gradient.

    As pieces of text, each with the name of its look (the legend line draws them in
    player.tcss's looks) or with its colour on the scale. Compact (a narrow screen): shorter
    labels, so that every mark keeps its place. With revisions (a sampler that revises), the
    marks of revised and re-masked cells too, in the room of the long labels (and, compact, of
    the other marks). Without colour, where labels are short, "dim→bold" stands for the thirds'
    bounds (the help names the thirds).
    """
    short = compact or revisions  # the revising marks take the room of the longer labels
    if mode is ColourMode.STEP:
        label = "step " if short else "commit step "
    else:
        label = "conf " if short else "confidence "
    pieces: list[Piece] = []
    if monochrome and short:  # the thirds' bounds would take the room of the marks after them
        pieces += [(label, None), ("dim", "early-mono"), ("→", None), ("bold", "late-mono"), (" ", None)]
    elif monochrome:
        dim, bold = _thirds_shown(mode, total_steps)
        pieces += [(label, None), (f"dim {dim}", "early-mono"), (" · ", None), ("plain", None), (" · ", None)]
        pieces += [(f"bold {bold}", "late-mono"), (" ", None)]
    else:
        low, high = ("1", str(total_steps)) if mode is ColourMode.STEP else ("0", "1")
        pieces.append((label + low + " ", "scale-label"))
        for i in range(width):
            level = round(i / max(1, width - 1) * (GRADIENT_LEVELS - 1))
            pieces.append((" ", Style(bgcolor=_gradient_style(mode, level).bgcolor)))
        pieces.append((" " + high + " ", "scale-label"))
    current, masked = ("current-mono", "masked-mono") if monochrome else ("current", "masked")
    if not (compact and revisions):  # narrow, the revising marks take their place (the Token panel's guide has them)
        pieces += [(" ", None), ("this step", current), ("  ", None), (f"{PLACEHOLDER * 3} masked", masked)]
        pieces += [("  ", None), (f"{SPECIAL_MARK} special", masked)]
    if revisions:
        revised, remasked = ("revised-mono", "remasked-mono") if monochrome else ("revised", "remasked")
        pieces += [("  ", None), ("revised", revised), ("  ", None), (f"{PLACEHOLDER * 3} re-masked", remasked)]
    return pieces


def order_legend(complete_step: int | None, monochrome: bool, width: int, compact: bool = False) -> list[Piece]:
    """The order overlay's line: the rank shading (first to last), the span's marks and the step
    at which it was complete (the timeline's ◆), or that the text has no answer span."""
    pieces: list[Piece] = []
    if monochrome:
        if not compact:
            pieces.append(("order ", None))
        pieces += [("dim first", "early-mono"), (" · " if compact else " · plain · ", None), ("bold last", "late-mono")]
    else:
        pieces.append(("order: first " if not compact else "first ", "scale-label"))
        for i in range(width):
            level = round(i / max(1, width - 1) * (GRADIENT_LEVELS - 1))
            pieces.append((" ", Style(bgcolor=_gradient_style(ColourMode.ORDER, level).bgcolor)))
        pieces.append((" last", "scale-label"))
    if complete_step is None:
        return pieces + [("  no “answer is …” in the text", None)]
    if not compact:
        pieces += [("  ", None), ("answer is", "lead-in")]
    complete = "at step" if compact and monochrome else "complete at step"  # the step is what must not be cut
    return pieces + [(" ", None), ("answer", "answer"), (f" {ANSWER_MARK} {complete} {complete_step}", None)]


def differs_legend(monochrome: bool) -> list[Piece]:
    """Compare's mark, after a legend: a token not in the other run's final text."""
    return [("  ", None), ("differs", "differs-mono" if monochrome else "differs")]
