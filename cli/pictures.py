"""`llada-tui export --format svg|html|gif|cast`: a run as a picture, an animation or an asciicast.

The options are checked before the trace is read and the output is made in memory before the
file is created, so a refusal or a failure leaves nothing behind. SVG and HTML may go to
standard output (ASCII text); a GIF is binary and a cast is long, so both need -o.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from llada_tui.cli.failures import RunError, UsageError
from llada_tui.cli.output_file import write_output
from llada_tui.core.run_index import RunIndex
from llada_tui.core.trace_reader import Trace

PICTURES = ("svg", "html", "gif", "cast")
TO_STDOUT = ("svg", "html")
DEFAULT_COLUMNS = 80  # svg and gif: characters per line
DEFAULT_SIZE = (100, 30)  # cast: the player's terminal
PILLOW_MISSING = "GIF export needs Pillow: pip install 'llada-tui[export]'"

# option -> the formats it is for (given to another, it is refused)
APPLIES = {
    "step": ("svg", "html"),
    "colour": ("svg", "html", "gif", "cast"),
    "fps": ("gif",),
    "every": ("gif",),
    "width": ("svg", "gif", "cast"),
    "height": ("cast",),
    "candidates": ("json",),
}


def option_name(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def check_picture_arguments(args: argparse.Namespace) -> None:
    """Refuse what cannot work before anything is read: options of another format, bad numbers."""
    for dest, formats in APPLIES.items():
        given = getattr(args, dest)
        if given is not None and given is not False and args.format not in formats:
            shown = " or ".join(f"--format {name}" for name in formats)
            raise UsageError(f"{option_name(dest)} is for {shown}")
    if args.format not in PICTURES:
        return
    if args.output is None and args.format not in TO_STDOUT:
        raise UsageError(f"--format {args.format} writes a file: give it with -o FILE")
    if args.step is not None and args.step < 0:
        raise UsageError(f"--step {args.step}: give a step from 0 (all masked) to the run's last")
    if args.fps is not None and not 0 < args.fps <= 50:
        raise UsageError(f"--fps {args.fps:g}: give frames per second above 0, at most 50")
    if args.every is not None and args.every < 1:
        raise UsageError(f"--every {args.every}: give a number of steps, at least 1")
    if args.width is not None:
        low, high = (40, 400) if args.format == "cast" else (40, 1000)
        if not low <= args.width <= high:
            raise UsageError(f"--width {args.width}: give {low} to {high} columns")
    if args.height is not None and not 10 <= args.height <= 200:
        raise UsageError(f"--height {args.height}: give 10 to 200 lines")
    if args.format == "gif":
        from llada_tui.pictures.gif import PillowMissing, pillow

        try:
            pillow()
        except PillowMissing:
            raise RunError(PILLOW_MISSING) from None


def picture_bytes(args: argparse.Namespace, trace: Trace) -> bytes:
    """The picture, animation or cast of the trace as the file's bytes."""
    from llada_tui.pictures.shading import Shading

    run = RunIndex.of_trace(trace)
    shading = Shading(args.colour or "step")
    columns = args.width or DEFAULT_COLUMNS
    if args.format in ("svg", "html"):
        step = run.length if args.step is None else args.step
        if step > run.length:
            raise UsageError(f"--step {step}: the trace holds {run.length} steps")
        if args.format == "svg":
            from llada_tui.pictures.svg import svg_document

            return svg_document(run, step, shading, columns).encode("ascii")
        from llada_tui.pictures.html import html_document

        return html_document(run, step, shading).encode("ascii")
    if args.format == "gif":
        from llada_tui.pictures.gif import GifTooLarge, write_gif

        buffer = io.BytesIO()
        with progress_bar("drawing frames") as progress:
            try:
                fps = args.fps or 10.0
                write_gif(run, buffer, shading=shading, columns=columns, fps=fps, every=args.every, progress=progress)
            except GifTooLarge as error:
                raise UsageError(str(error)) from None
        return buffer.getvalue()
    from llada_tui.tui.cast import write_cast

    text = io.StringIO()
    width, height = args.width or DEFAULT_SIZE[0], args.height or DEFAULT_SIZE[1]
    with progress_bar("recording the player") as progress:
        write_cast(trace, text, width, height, shading is Shading.CONFIDENCE, progress)
    return text.getvalue().encode("ascii")


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on standard error (a terminal only), fed (done, total)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    # the stream itself, not "standard error": the cast's app redirects sys.stderr while it runs
    console = Console(file=sys.stderr, highlight=False)
    columns = [TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(description, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


def write_picture(args: argparse.Namespace, trace: Trace) -> None:
    data = picture_bytes(args, trace)
    if args.output is None:
        sys.stdout.write(data.decode("ascii"))
        return
    write_output(args.output, data, args.force)
