"""The answer after t steps as one self-contained HTML page: selectable text, no network, no script.

The browser wraps the answer like any text; each token is a span on its step's (or
confidence's) colour, with its position, step and confidence as a tooltip. Styles are inline,
a Content-Security-Policy forbids loading anything, and the page is ASCII-only: token texts
(hostile: they come from the trace) go through core.inert, then HTML escaping, then character
references. A newline's ↵ mark is not selected with the text: copying gives the newline.
"""

from __future__ import annotations

from html import escape

from llada_tui.core.inert import NEWLINE_MARK
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

UNWRAPPED = 1 << 30  # columns: the browser wraps, the picture's layout only keeps the newlines

STYLE = """
body { margin: 0; padding: 16px; background: #ffffff; color: #1a1a1a; }
figure.llada { margin: 0; max-width: 60rem; font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; }
.prompt { font-size: 12px; color: #606060; margin: 0 0 8px 0; white-space: pre-wrap; }
.answer { font-size: 16px; line-height: 1.5; margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.answer .m { color: #808080; }
.answer .m.rev { color: #c000c0; font-weight: bold; }
.rev { font-style: italic; text-decoration: underline; }
.cur { background: #ffffff; color: #000000; font-weight: bold; text-decoration: underline; outline: 1px solid #000; }
.nl { user-select: none; }
figcaption { font-size: 12px; margin-top: 10px; display: flex; flex-wrap: wrap; gap: 0 1.5em; align-items: center; }
.scale { display: inline-block; width: 160px; height: 12px; vertical-align: middle; margin: 0 0.4em; }
.muted { color: #808080; }
"""


def html_document(run: RunIndex, t: int, shading: Shading = Shading.STEP) -> str:
    """The HTML page of the answer after t steps, as ASCII text."""
    picture = AnswerPicture(run, UNWRAPPED)
    cells = picture.cells_at(t)
    answer = "".join(cell_span(run, cell, shading) for cell in cells)
    prompt = escape(" ".join(prompt_lines(run, UNWRAPPED, 1)))
    title = escape(prompt_lines(run, 80, 1)[0])
    document = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="us-ascii">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="llada-tui">
<title>llada-tui: {title}</title>
<style>{STYLE}</style>
</head>
<body>
<figure class="llada">
<p class="prompt">{prompt}</p>
<p class="answer">{answer}</p>
<figcaption>{legend(run, cells, shading, t)}</figcaption>
</figure>
</body>
</html>
"""
    return document.encode("ascii", "xmlcharrefreplace").decode("ascii")


def cell_span(run: RunIndex, cell: Cell, shading: Shading) -> str:
    text = escape(cell.text.rstrip(" ") or cell.text).replace(NEWLINE_MARK, f'<span class="nl">{NEWLINE_MARK}</span>\n')
    revised = " rev" if cell.revised else ""
    tip = escape(cell_note(cell))
    if cell.kind is Kind.MASKED:
        return f'<span class="m{revised}" title="{tip}">{text}</span>'
    if cell.current:
        return f'<span class="cur{revised}" title="{tip}">{text}</span>'
    background = mix(shading.stops, fraction_of(shading, cell.step, run.total_steps, cell.confidence))
    colours = f"background:{hex_colour(background)};color:{hex_colour(text_on(background))}"
    kind = "s" if cell.kind is Kind.SPECIAL else "t"
    return f'<span class="{kind}{revised}" style="{colours}" title="{tip}">{text}</span>'


def legend(run: RunIndex, cells: list[Cell], shading: Shading, t: int) -> str:
    title, low, high = scale_labels(run, shading)
    stops = shading.stops
    gradient = ", ".join(f"{hex_colour(stop)} {100 * i / (len(stops) - 1):.0f}%" for i, stop in enumerate(stops))
    scale = f'<span class="scale" style="background:linear-gradient(to right, {gradient})"></span>'
    parts = [f"<span>{title} {low}{scale}{high}</span>"]
    if any(cell.current for cell in cells):
        parts.append('<span class="cur">this step</span>')
    parts += [f'<span class="muted">{PLACEHOLDER * 3} masked</span>', f"<span>{SPECIAL_MARK} special</span>"]
    if run.header.revises:
        parts += ['<span class="rev">revised</span>', f'<span class="m rev">{PLACEHOLDER * 3} re-masked</span>']
    parts.append(f'<span class="muted">after step {t} of {run.total_steps}</span>')
    return "".join(parts)
