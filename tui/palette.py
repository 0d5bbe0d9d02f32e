"""Cell styles: colour by commit step (early -> late) or by confidence, and their legends.

With NO_COLOR the colouring falls back to marks: plain text for committed tokens, bold
underline for the tokens of the current step, dim dots for masked positions, reverse video
for the cursor. Colours are truecolor; Textual downgrades them for 256- and 16-colour terminals,
where the marks (bold, underline, reverse) still tell the states apart.
"""

from __future__ import annotations

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
CURSOR = Style(color="black", bgcolor="#ff87d7", bold=True, underline=True)
CURSOR_MONO = Style(reverse=True, bold=True)


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


def committed_style(mode: ColourMode, step: int, total_steps: int, confidence: float) -> Style:
    """A committed cell: its colour from the step that committed it, or its confidence then."""
    if mode is ColourMode.STEP:
        fraction = step / max(1, total_steps - 1)
    else:
        fraction = confidence
    level = round(min(1.0, max(0.0, fraction)) * (GRADIENT_LEVELS - 1))
    return _gradient_style(mode, level)


def legend(mode: ColourMode, total_steps: int, monochrome: bool, width: int) -> Text:
    """One line explaining the colours (or, without colour, the marks)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if monochrome:
        text.append("committed", Style())
        text.append("  ")
        text.append("this step", CURRENT_MONO)
        text.append("  ")
        text.append(f"{PLACEHOLDER * 3} masked", MASKED_MONO)
        text.append("  ")
        text.append("cursor", CURSOR_MONO)
        return text
    if mode is ColourMode.STEP:
        low, high, label = "1", str(total_steps), "commit step "
    else:
        low, high, label = "0", "1", "confidence "
    text.append(label + low + " ", "dim")
    for i in range(width):
        level = round(i / max(1, width - 1) * (GRADIENT_LEVELS - 1))
        text.append(" ", Style(bgcolor=_gradient_style(mode, level).bgcolor))
    text.append(" " + high, "dim")
    text.append("   ")
    text.append("this step", CURRENT)
    text.append("  ")
    text.append(f"{PLACEHOLDER * 3} masked", MASKED)
    return text
