"""The step on screen as an SVG picture (the palette's "Export this step as SVG").

The picture is the pictures package's (`llada-tui export --format svg --step N`), coloured as
the player colours now (by commit step or by confidence). In a terminal it is written beside
the trace as TRACE-step-N.svg, never over a file (then -2, -3, as live mode names its later
runs); in a browser (`llada-tui serve`) it goes to the browser as a download instead, so the
visitor gets the picture and nothing is written on the server.
"""

from __future__ import annotations

import io
from pathlib import Path

from textual.app import App

from llada_tui.pictures.shading import Shading
from llada_tui.pictures.svg import svg_document
from llada_tui.tui.palette import ColourMode
from llada_tui.tui.trace_paths import free_path
from llada_tui.tui.trace_view import TraceView


def export_step_svg(app: App, view: TraceView) -> Path | None:
    """Export the view's step; says where in the view's notice line. Returns the file written, if one was."""
    if not view.recording.ready:
        view.notify("nothing to export yet: the trace has no header", severity="warning")
        return None
    t = view.position
    shading = Shading.CONFIDENCE if view.colours is ColourMode.CONFIDENCE else Shading.STEP
    svg = svg_document(view.recording, t, shading)
    trace = view.source.path if view.source is not None else None
    name = f"{trace.stem if trace else 'llada'}-step-{t}.svg"
    if app.is_web:
        app.deliver_text(io.StringIO(svg), save_filename=name, mime_type="image/svg+xml", name="step picture")
        view.notify(f"step {t} sent to the browser as {name}")
        return None
    if trace is None:
        view.notify("no trace file to export beside (a run not from a file)", severity="warning")
        return None
    try:
        target = write_new(trace.with_name(name), svg)
    except OSError as error:
        view.notify(f"could not export step {t}: {error.strerror or error}", severity="error")
        return None
    view.notify(f"step {t} exported as {target}")
    return target


def write_new(path: Path, text: str) -> Path:
    """Write text to path, or to the first free of path-2, path-3…; never over an existing file."""
    while True:
        target = free_path(path)
        try:
            with open(target, "x", encoding="ascii") as file:  # the SVG is ASCII (pictures/svg.py)
                file.write(text)
            return target
        except FileExistsError:  # made since free_path looked: the next number
            continue
