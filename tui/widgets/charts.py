"""Text charts for the side panels: probability bars and sparklines in block characters."""

from __future__ import annotations

from collections.abc import Sequence

SPARK_LEVELS = "▁▂▃▄▅▆▇█"
BAR_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(fraction: float, width: int) -> str:
    """A horizontal bar `width` cells wide, filled to `fraction` in eighths of a cell."""
    eighths = round(min(1.0, max(0.0, fraction)) * width * 8)
    full, rest = divmod(eighths, 8)
    text = "█" * full + (BAR_EIGHTHS[rest] if rest else "")
    return text.ljust(width)


def sparkline(values: Sequence[float], width: int, top: float | None = None) -> str:
    """Values squeezed into at most `width` cells (each cell the maximum of its share), 0 at the bottom."""
    if not values or width <= 0:
        return ""
    if len(values) > width:
        buckets = []
        for i in range(width):
            start, stop = i * len(values) // width, (i + 1) * len(values) // width
            buckets.append(max(values[start:stop]))
        values = buckets
    top = max(values) if top is None else top
    if top <= 0:
        return SPARK_LEVELS[0] * len(values)
    last = len(SPARK_LEVELS) - 1
    return "".join(SPARK_LEVELS[round(min(1.0, max(0.0, v / top)) * last)] for v in values)


def bucket_of(index: int, count: int, width: int) -> int:
    """The cell of a `sparkline(values, width)` that holds values[index] when there are `count` values."""
    if count <= width:
        return index
    return ((index + 1) * width - 1) // count
