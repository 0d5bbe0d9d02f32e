"""The colour scales of a run: by commit step (early -> late) or by confidence (low -> high).

The one definition of the scales, shared by the player's grid (tui/palette.py) and the
pictures: plain RGB, no Textual, no Rich. A fraction from 0 to 1 picks a colour between the
stops; the text on it is black or white, whichever reads better.
"""

from __future__ import annotations

from enum import Enum

RGB = tuple[int, int, int]

# Ordered, perceptually even, readable on dark and light backgrounds (after viridis).
STEP_STOPS: tuple[RGB, ...] = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
# Low confidence red, middling amber, high green (LLaDA's demo uses the same reading).
CONFIDENCE_STOPS: tuple[RGB, ...] = ((215, 48, 39), (244, 109, 67), (254, 224, 139), (145, 207, 96), (26, 152, 80))

BLACK: RGB = (0, 0, 0)
WHITE: RGB = (255, 255, 255)


class Shading(Enum):
    """What a token's colour stands for."""

    STEP = "step"
    CONFIDENCE = "confidence"

    @property
    def stops(self) -> tuple[RGB, ...]:
        return STEP_STOPS if self is Shading.STEP else CONFIDENCE_STOPS


def mix(stops: tuple[RGB, ...], fraction: float) -> RGB:
    """The colour a fraction (clamped to 0..1) of the way along the stops."""
    fraction = min(1.0, max(0.0, fraction)) * (len(stops) - 1)
    i = min(int(fraction), len(stops) - 2)
    local = fraction - i
    a, b = stops[i], stops[i + 1]
    return tuple(round(a[c] + (b[c] - a[c]) * local) for c in range(3))  # type: ignore[return-value]


def fraction_of(shading: Shading, step: int, total_steps: int, confidence: float) -> float:
    """Where a committed token sits on the scale: its step (from 0) of the run's, or its confidence."""
    fraction = step / max(1, total_steps - 1) if shading is Shading.STEP else confidence
    return min(1.0, max(0.0, fraction))


def text_on(background: RGB) -> RGB:
    """Black or white, whichever reads better on the background."""
    red, green, blue = background
    return BLACK if 0.299 * red + 0.587 * green + 0.114 * blue > 140 else WHITE


def hex_colour(colour: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)
