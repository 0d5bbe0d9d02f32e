"""Cell styles: colour by commit step (early -> late) or by confidence, and their legends.

With NO_COLOR the colouring falls back to marks, and no colour code is emitted at all: the
commit step (or confidence) in thirds, dim / plain / bold; bold underline for the tokens of
the current step, dim dots for masked positions (the cursor's look is in player.tcss). Colours are
truecolor; Textual downgrades them for 256- and 16-colour terminals, where the marks (bold,
underline, reverse) still tell the states apart.
"""

from __future__ import annotations

import math
from enum import Enum
from functools import lru_cache

from rich.color import Color
from rich.style import Style
from rich.text import Text

from llada_tui.tui.layout import PLACEHOLDER

# Ordered, perceptually even, readable on dark and light terminals (after viridis).
STEP_STOPS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
# Low confidence red, middling amber, high green (LLaDA's demo uses the same reading).
CONFIDENCE_STOPS = ((215, 48, 39), (244, 109, 67), (254, 224, 139), (145, 207, 96), (26, 152, 80))
GRADIENT_LEVELS = 64

MASKED = Style(color="grey50")
MASKED_MONO = Style(dim=True)
CURRENT = Style(color="black", bgcolor="white", bold=True, underline=True)
CURRENT_MONO = Style(bold=True, underline=True)
THIRDS_MONO = (Style(dim=True), Style(), Style(bold=True))  # early / middle / late, or low / middle / high
SPECIAL_MARK = "⋄"  # special tokens (end of text, end of turn...) take one cell; the token panel names them


class ColourMode(Enum):
    STEP = "step"
    CONFIDENCE = "confidence"


def _mix(stops: tuple[tuple[int, int, int], ...], fraction: float) -> tuple[int, int, int]:
    fraction = min(1.0, max(0.0, fraction)) * (len(stops) - 1)
    i = min(int(fraction), len(stops) - 2)
    local = fraction - i
    a, b = stops[i], stops[i + 1]
    return tuple(round(a[c] + (b[c] - a[c]) * local) for c in range(3))  # type: ignore[return-value]


@lru_cache(maxsize=2 * GRADIENT_LEVELS)
def _gradient_style(mode: ColourMode, level: int) -> Style:
    stops = STEP_STOPS if mode is ColourMode.STEP else CONFIDENCE_STOPS
    red, green, blue = _mix(stops, level / (GRADIENT_LEVELS - 1))
    luminance = 0.299 * red + 0.587 * green + 0.114 * blue
    text = "black" if luminance > 140 else "white"
    return Style(color=text, bgcolor=Color.from_rgb(red, green, blue))


def _fraction(mode: ColourMode, step: int, total_steps: int, confidence: float) -> float:
    fraction = step / max(1, total_steps - 1) if mode is ColourMode.STEP else confidence
    return min(1.0, max(0.0, fraction))


def committed_style(
    mode: ColourMode, step: int, total_steps: int, confidence: float, monochrome: bool = False
) -> Style:
    """A committed cell: its colour from the step that committed it, or its confidence then.

    Monochrome: the same scale in thirds, dim / plain / bold.
    """
    fraction = _fraction(mode, step, total_steps, confidence)
    if monochrome:
        return THIRDS_MONO[min(2, int(fraction * 3))]
    return _gradient_style(mode, round(fraction * (GRADIENT_LEVELS - 1)))


def _thirds_shown(mode: ColourMode, total_steps: int) -> tuple[str, str]:
    """What the dim and the bold third stand for, as the monochrome legend says it."""
    if mode is ColourMode.CONFIDENCE:
        return "<0.33", "≥0.67"
    span = max(1, total_steps - 1)  # step s (from 0) is in third int(s / span * 3)
    first_plain, first_bold = math.ceil(span / 3), math.ceil(2 * span / 3)
    return f"≤{first_plain}", f"≥{first_bold + 1}"  # as 1-based steps


def legend(mode: ColourMode, total_steps: int, monochrome: bool, width: int, compact: bool = False) -> Text:
    """One line explaining the colours (or, without colour, the marks); `width` cells of gradient.

    Compact (a narrow screen): shorter labels, so that every mark keeps its place.
    """
    if mode is ColourMode.STEP:
        label = "step " if compact else "commit step "
    else:
        label = "conf " if compact else "confidence "
    text = Text(no_wrap=True, overflow="ellipsis")
    if monochrome:
        dim, bold = _thirds_shown(mode, total_steps)
        dim_style, plain_style, bold_style = THIRDS_MONO
        text.append(label)
        text.append(f"dim {dim}", dim_style)
        text.append(" · ")
        text.append("plain", plain_style)
        text.append(" · ")
        text.append(f"bold {bold}", bold_style)
        text.append(" ")
    else:
        low, high = ("1", str(total_steps)) if mode is ColourMode.STEP else ("0", "1")
        text.append(label + low + " ", "dim")
        for i in range(width):
            level = round(i / max(1, width - 1) * (GRADIENT_LEVELS - 1))
            text.append(" ", Style(bgcolor=_gradient_style(mode, level).bgcolor))
        text.append(" " + high + " ", "dim")
    text.append(" ")
    text.append("this step", CURRENT_MONO if monochrome else CURRENT)
    text.append("  ")
    text.append(f"{PLACEHOLDER * 3} masked", MASKED_MONO if monochrome else MASKED)
    text.append("  ")
    text.append(f"{SPECIAL_MARK} special", MASKED_MONO if monochrome else MASKED)
    return text
