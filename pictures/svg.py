"""The answer after t steps as a standalone SVG: each token on its step's (or confidence's) colour.

Monospace text on a grid of character cells (answer.py lays it out); every token's text is
stretched to exactly its cells (textLength), so a viewer whose monospace font is a little wider
or narrower still lines the cells up. The prompt above in small type, the legend below. The
document is ASCII-only: everything else, token texts included, is a character reference,
after core.inert made every text visible and XML escaping made it inert.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from llada_tui.core.run_index import RunIndex
from llada_tui.pictures.answer import (
    PLACEHOLDER,
    SPECIAL_MARK,
    AnswerPicture,
    Cell,
    Kind,
    cell_note,
    prompt_lines,
    scale_labels,
)
from llada_tui.pictures.shading import Shading, fraction_of, hex_colour, mix, text_on

FONT = "'DejaVu Sans Mono', Menlo, Consolas, 'Liberation Mono', monospace"
SIZE = 16  # px, the answer's type
CELL = SIZE * 0.6  # px, a monospace character's advance
LINE = 24  # px between the answer's lines
SMALL = 12  # px, the prompt's and the legend's type
SMALL_CELL = SMALL * 0.6
SMALL_LINE = 17
MARGIN = 16
GRADIENT_WIDTH = 160
BACKGROUND = "#ffffff"
INK = "#1a1a1a"
MUTED = "#808080"  # masked positions, as the player's grey50
CURRENT = ("#ffffff", "#000000")  # the last step's tokens: fill, text (the player's black on white)
REMASKED = "#c000c0"  # a position masked again, as the player's magenta


def text_element(x: float, y: float, text: str, attributes: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}"{attributes}>{escape(text)}</text>'


def svg_document(run: RunIndex, t: int, shading: Shading = Shading.STEP, columns: int = 80) -> str:
    """The SVG of the answer after t steps, as ASCII text."""
    picture = AnswerPicture(run, columns)
    width = picture.columns * CELL + 2 * MARGIN
    parts: list[str] = []
    y = MARGIN
    for line in prompt_lines(run, int(picture.columns * CELL / SMALL_CELL)):
        y += SMALL_LINE
        parts.append(text_element(MARGIN, y - 4, line, f' class="small" fill="{MUTED}"'))
    top = y + 8
    cells = picture.cells_at(t)
    for slot, cell in zip(picture.slots, cells):
        x, y = MARGIN + slot.column * CELL, top + slot.line * LINE
        parts.append(cell_elements(run, cell, shading, x, y, slot.width * CELL))
    y = top + max(1, picture.lines) * LINE + 12
    legend, legend_end = legend_elements(run, cells, shading, t, MARGIN, y)
    parts.append(legend)
    width = max(width, legend_end + MARGIN)  # a narrow picture with a long legend grows to hold it
    height = y + SMALL_LINE + MARGIN
    title = escape(f"llada-tui: {prompt_lines(run, 200, 1)[0]}")
    body = "\n".join(parts)
    document = f"""<?xml version="1.0" encoding="US-ASCII"?>
<svg xmlns="http://www.w3.org/2000/svg" xml:space="preserve" width="{width:.0f}" height="{height:.0f}" \
viewBox="0 0 {width:.0f} {height:.0f}" font-family="{escape(FONT)}" font-size="{SIZE}">
<title>{title}</title>
<style>text {{ white-space: pre; }} .small {{ font-size: {SMALL}px; }} .bold {{ font-weight: bold; }} \
.revised {{ font-style: italic; text-decoration: underline; }} .current {{ font-weight: bold; \
text-decoration: underline; }}</style>
{gradient_definition(shading)}
<rect width="100%" height="100%" fill="{BACKGROUND}"/>
{body}
</svg>
"""
    return document.encode("ascii", "xmlcharrefreplace").decode("ascii")


def cell_elements(run: RunIndex, cell: Cell, shading: Shading, x: float, y: float, width: float) -> str:
    """A cell's background and text, with its note as a tooltip; y is the top of its line."""
    return f"<g><title>{escape(cell_note(cell))}</title>{cell_drawing(run, cell, shading, x, y, width)}</g>"


def cell_drawing(run: RunIndex, cell: Cell, shading: Shading, x: float, y: float, width: float) -> str:
    fitted = f' textLength="{width:.1f}" lengthAdjust="spacingAndGlyphs"'
    baseline = y + LINE - 7
    if cell.kind is Kind.MASKED:
        colour, look = (REMASKED, ' class="bold"') if cell.revised else (MUTED, "")
        return text_element(x, baseline, cell.text, f' fill="{colour}"{look}{fitted}')
    if cell.current:
        fill, ink = CURRENT
        look = ' class="current"'
    else:
        background = mix(shading.stops, fraction_of(shading, cell.step, run.total_steps, cell.confidence))
        fill, ink = hex_colour(background), hex_colour(text_on(background))
        look = ' class="revised"' if cell.revised else ""
    outline = ' stroke="#000000"' if cell.current else ""
    box = f'<rect x="{x:.1f}" y="{y + 2:.1f}" width="{width:.1f}" height="{LINE - 2}" fill="{fill}"{outline}/>'
    return box + text_element(x, baseline, cell.text, f' fill="{ink}"{look}{fitted}')


def gradient_definition(shading: Shading) -> str:
    stops = shading.stops
    offsets = "".join(
        f'<stop offset="{i / (len(stops) - 1):.2f}" stop-color="{hex_colour(stop)}"/>' for i, stop in enumerate(stops)
    )
    return f'<defs><linearGradient id="scale">{offsets}</linearGradient></defs>'


def legend_elements(
    run: RunIndex, cells: list[Cell], shading: Shading, t: int, x: float, y: float
) -> tuple[str, float]:
    """One line: the scale from its first to its last value, then the marks the picture uses;
    and where it ends."""
    title, low, high = scale_labels(run, shading)
    small = ' class="small"'
    parts = [text_element(x, y + SMALL, f"{title} {low}", f'{small} fill="{INK}"')]
    x += (len(title) + len(low) + 2) * SMALL_CELL
    scale = f'width="{GRADIENT_WIDTH}" height="{SMALL + 2}" fill="url(#scale)"'
    parts.append(f'<rect x="{x:.1f}" y="{y + 1:.1f}" {scale}/>')
    x += GRADIENT_WIDTH + SMALL_CELL
    parts.append(text_element(x, y + SMALL, high, f'{small} fill="{INK}"'))
    x += (len(high) + 2) * SMALL_CELL
    marks = [(f"{PLACEHOLDER * 3} masked", MUTED, ""), (f"{SPECIAL_MARK} special", INK, "")]
    if any(cell.current for cell in cells):
        marks.insert(0, ("this step", CURRENT[1], " current"))
    if run.header.revises:
        marks += [("revised", INK, " revised"), (f"{PLACEHOLDER * 3} re-masked", REMASKED, " bold")]
    for text, colour, look in marks:
        parts.append(text_element(x, y + SMALL, text, f' class="small{look}" fill="{colour}"'))
        x += (len(text) + 2) * SMALL_CELL
    where = f"after step {t} of {run.total_steps}"
    parts.append(text_element(x, y + SMALL, where, f'{small} fill="{MUTED}"'))
    return "".join(parts), x + len(where) * SMALL_CELL
