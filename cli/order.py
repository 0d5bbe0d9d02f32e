"""`llada-tui order`: when did the answer appear, in one run or in a folder of them.

A table (one row per trace, a strip of commit order in each, a summary under several), or
JSON for programs. Needs the base install only (no torch).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from rich.cells import cell_len
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from llada_tui.cli.failures import RunError, UsageError, refuse_pipes_and_devices
from llada_tui.core.answer_order import AnswerOrder, answer_order
from llada_tui.core.inert import inert_text
from llada_tui.core.records import Header, TraceError
from llada_tui.core.run_index import RunIndex
from llada_tui.core.trace_reader import load_trace

STRIP_WIDTH = 64  # at most this many columns for a run's commit-order strip, its first step to its last
DENSITY = " ▁▂▃▄▅▆▇█"  # reasoning tokens made visible in a column's share of the steps
SPAN_MARK = "◆"  # the column in which the answer span was complete
SPAN_STYLE = "bold magenta"
PROGRESS_AFTER = 20  # traces: fewer read in about a second


def add_order_command(commands: argparse._SubParsersAction) -> None:
    order = commands.add_parser(
        "order",
        help="when did the answer appear: the answer span's steps against the reasoning's",
        description="For each trace (a folder: every *.trace in it), the answer span (by default "
        'what follows the last "the answer is", up to a full stop or the end of the line), the steps at '
        "which its first and last tokens became visible, and the share of the reasoning before it that "
        "became visible only after the answer was complete.",
    )
    order.add_argument("traces", nargs="+", metavar="TRACE_OR_DIR", help="trace files or folders of them")
    order.add_argument(
        "--span",
        metavar="REGEX",
        help="the answer span: the last match's first group if the pattern has one, else the whole match",
    )
    order.add_argument("--json", action="store_true", help="one JSON object per trace (a list when several)")
    order.set_defaults(handler=run_order, parser=order)


class Measured(NamedTuple):
    path: Path
    order: AnswerOrder | None  # None: the trace could not be read
    settings: str  # the sampler and block length, to tell runs of one prompt apart
    problem: str | None  # why it could not be read


def run_order(args: argparse.Namespace) -> int:
    pattern = span_pattern(args.span)
    paths = trace_files(args.traces)
    results = list(measure(paths, pattern))
    several = len(paths) > 1 or any(Path(name).is_dir() for name in args.traces)
    if args.json:
        documents = [order_document(result) for result in results]
        sys.stdout.write(json.dumps(documents if several else documents[0], ensure_ascii=True) + "\n")
    else:
        print_table(results, several)
    if not any(result.order and result.order.span for result in results):
        raise RunError("no trace has an answer span" + ("" if pattern else ' ("the answer is ...")'))
    return 0


def span_pattern(source: str | None) -> re.Pattern[str] | None:
    if source is None:
        return None
    if not source:
        raise UsageError("--span: give a regular expression, not an empty one (it would match nothing but '')")
    try:
        return re.compile(source, re.IGNORECASE)
    except re.error as error:
        raise UsageError(f"--span: not a regular expression: {error}") from None


def trace_files(names: list[str]) -> list[Path]:
    """The traces named: files as given, folders as every *.trace in them (in name order, numbers by
    value: p2 before p10, as a batch's default ids come); checked first."""
    paths: list[Path] = []
    for name in names:
        path = Path(name)
        refuse_pipes_and_devices(path, name)
        if path.is_dir():
            found = sorted((p for p in path.glob("*.trace") if p.is_file()), key=natural_order)
            if not found:
                raise RunError(f"{name}: no .trace files in this folder")
            paths.extend(found)
        elif path.is_file():
            paths.append(path)
        else:
            raise RunError(f"{name}: no such file")
    return paths


def natural_order(path: Path) -> list[int | str]:
    """A sort key: the name's runs of digits by their value, the rest as text."""
    parts = re.split(r"(\d+)", path.name)  # text, digits, text, …: the digits at odd places, so two
    return [int(part) if i % 2 else part for i, part in enumerate(parts)]  # keys compare like with like


def measure(paths: list[Path], pattern: re.Pattern[str] | None) -> Iterator[Measured]:
    with Progress(console=Console(stderr=True), transient=True, disable=len(paths) < PROGRESS_AFTER) as progress:
        for path in progress.track(paths, description="reading traces"):
            try:
                trace = load_trace(path)
            except TraceError as error:
                yield Measured(path, None, "", str(error))
                continue
            settings = run_settings(trace.header)
            yield Measured(path, answer_order(RunIndex.of_trace(trace), pattern), settings, None)


def run_settings(header: Header) -> str:
    """What tells runs of one prompt apart at a glance: "reference b16", "threshold b32 dual"."""
    cache = header.params.get("cache")
    return f"{header.sampler} b{header.block_length}" + (f" {cache}" if cache not in (None, "none") else "")


# ---------------------------------------------------------------------------- JSON


def order_document(result: Measured) -> dict[str, Any]:
    if result.order is None:
        return {"trace": str(result.path), "error": result.problem}
    order, span, reasoning = result.order, result.order.span, result.order.reasoning
    return {
        "trace": str(result.path),
        "span": span and {"text": span.text, "first_step": span.first_step, "complete_step": span.complete_step},
        "reasoning": reasoning
        and {"tokens": reasoning.tokens, "median_step": reasoning.median_step, "after_span": reasoning.after_span},
        "steps": order.steps,
        "complete": order.complete,
    }


# ---------------------------------------------------------------------------- table


def print_table(results: list[Measured], several: bool) -> None:
    """The numbers, a table with a row per trace; then the commit order, a strip per trace."""
    console = Console(highlight=False)
    names = display_names([result.path for result in results])
    table = Table(box=None, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
    table.add_column("trace", overflow="fold")
    table.add_column("run", no_wrap=True)
    table.add_column("answer", overflow="fold")
    for heading in ("answer at", "steps", "reasoning", "median", "after"):
        table.add_column(heading, justify="right", no_wrap=True)
    for name, result in zip(names, results):
        table.add_row(name, *row_cells(result))
    console.print(table)
    if several:
        console.print(summary_line(results))
    strips = [(name, result.order) for name, result in zip(names, results) if result.order and result.order.span]
    if not strips:
        return
    console.print(
        Text.assemble(
            "\ncommit order: the reasoning's tokens over each run's steps, ",
            (SPAN_MARK, SPAN_STYLE),
            " the answer complete",
        )
    )
    name_width = min(max(cell_len(name) for name, _ in strips), console.width // 3)
    width = max(8, min(STRIP_WIDTH, console.width - name_width - 4))
    for name, order in strips:
        label = Text(name, no_wrap=True, overflow="ellipsis")
        label.truncate(name_width, pad=True)
        console.print(Text.assemble(label, " │", commit_strip(order, width), "│"))
    console.print(
        Text(
            "answer at: the steps at which its first and last tokens became visible; reasoning: the "
            "visible tokens before it, their median step, and the share that came after the answer",
            style="dim",
        )
    )


def display_names(paths: list[Path]) -> list[str]:
    """File names (without .trace) where they tell the traces apart, else the paths as given."""
    names = [path.name.removesuffix(".trace") for path in paths]
    unique = len(set(names)) == len(names) and len({path.parent for path in paths}) == 1
    return [inert_text(name if unique else str(path)) for name, path in zip(names, paths)]


def row_cells(result: Measured) -> list[Text | str]:
    order = result.order
    if order is None:
        return ["", Text(f"cannot read: {inert_text(result.problem or '')}", style="red"), *[""] * 5]
    steps = f"{order.steps}" + ("" if order.complete else " (so far)")
    span, reasoning = order.span, order.reasoning
    if span is None or reasoning is None:
        return [inert_text(result.settings), Text("no answer span", style="dim"), "", steps, "", "", ""]
    return [
        inert_text(result.settings),
        inert_text(span.text),
        f"{span.first_step}" if span.first_step == span.complete_step else f"{span.first_step}–{span.complete_step}",
        steps,
        str(reasoning.tokens),
        "" if reasoning.median_step is None else f"{reasoning.median_step:g}",
        "" if reasoning.after_span is None else f"{reasoning.after_span:.0%}",
    ]


def commit_strip(order: AnswerOrder, width: int) -> Text:
    """The run in `width` columns, its first step to its last: how many reasoning tokens became
    visible in each column's share of the steps, and the column where the answer was complete."""
    steps = max(1, order.steps)
    per_step = [0] * (steps + 1)
    for pos in order.reasoning.positions:
        per_step[order.final_steps[pos]] += 1
    # Column c covers steps (c·S/W, (c+1)·S/W]; with fewer steps than columns a step spans several.
    counts = []
    for c in range(width):
        first = c * steps // width + 1
        counts.append(sum(per_step[first : max(first, (c + 1) * steps // width) + 1]))
    most = max(counts) or 1
    span_column = -(-order.span.complete_step * width // steps) - 1  # the last column of that step
    strip = Text()
    for c, count in enumerate(counts):
        if c == span_column:
            strip.append(SPAN_MARK, SPAN_STYLE)
        else:
            strip.append(DENSITY[-(-count * (len(DENSITY) - 1) // most)])
    return strip


def summary_line(results: list[Measured]) -> Text:
    orders = [result.order for result in results if result.order and result.order.reasoning]
    shares = [order.reasoning.after_span for order in orders if order.reasoning.after_span is not None]
    first = sum(order.reasoning.answer_first for order in orders)
    line = f"{len(orders)} of {len(results)} traces have an answer span"
    if shares:
        line += f"; mean after: {statistics.mean(shares):.0%}; answer-first (more than half after): {first}"
    return Text(line, style="bold")
