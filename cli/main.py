"""The `llada-tui` command: record, live, play, compare, serve, info, export, order.

The composition root, above both layers: it wires the engine (core/) and the player (tui/)
to the command line. Commands that sample import the engine (torch) lazily, so `play`,
`info` and `export` work with the base install only.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from pathlib import Path
from typing import IO, NoReturn

from llada_tui.cli.batch import add_batch_arguments
from llada_tui.cli.compare import run_compare
from llada_tui.cli.failures import RunError, UsageError
from llada_tui.cli.order import add_order_command
from llada_tui.cli.reading import add_export_arguments, run_export, run_info, run_play
from llada_tui.cli.sampling import add_sampling_arguments, run_live, run_record
from llada_tui.cli.serve import add_serve_arguments, run_serve
from llada_tui.core.inert import inert_block, inert_text
from llada_tui.core.options import OptionError
from llada_tui.core.records import TraceError


def main(argv: list[str] | None = None) -> int:
    if sys.stderr is None:  # started with 2>&-: errors go nowhere, as the user asked
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    if sys.stdout is None:  # started with >&-: what was asked for has nowhere to go
        return fail("standard output is closed", 1)
    for stream in (sys.stdout, sys.stderr):  # a terminal that cannot show a character gets an escape
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)  # --help writes here, to a stdout that may be full
        if unknown:  # reported by the command's own parser, with its own usage line
            args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        return args.handler(args)
    except (UsageError, OptionError) as error:
        return fail(error, 2)
    except (RunError, TraceError) as error:
        return fail(error, 1)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's last flush finds no pipe
        return 141  # 128 + SIGPIPE, the status of a tool that the signal ended
    except OSError as error:  # a file that cannot be written, a full disk
        return fail(describe_os_error(error), 1)
    except KeyboardInterrupt:
        print("llada-tui: interrupted", file=sys.stderr)
        return 130


def fail(error: object, code: int) -> int:
    """Print one sanitized error line; errors quote file names, tensor names and messages from outside."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    print(f"llada-tui: error: {inert_text(lines[0])}", file=sys.stderr)
    return code


def describe_os_error(error: OSError) -> str:
    if error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror.lower()}"
    if error.strerror:  # no file named: a write to an open file or to standard output (> /dev/full)
        return error.strerror.lower()
    return str(error)


class Parser(argparse.ArgumentParser):
    """argparse, with what it echoes back (typed values, usage) sanitized like every other line."""

    def _print_message(self, message: str, file: IO[str] | None = None) -> None:
        if message:
            (file or sys.stderr).write(inert_block(message))

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {inert_text(message)}\n")


# ---------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="llada-tui",
        description="Watch a masked diffusion language model (LLaDA) denoise, step by step.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    parser.set_defaults(parser=parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    live = commands.add_parser("live", help="sample a prompt and watch it in the player as it runs")
    live.add_argument("prompt", help="the message to send to the model")
    add_sampling_arguments(live)
    live.add_argument("-o", "--output", type=Path, help="trace file to write (default: ./traces/TIME-PROMPT.trace)")
    live.set_defaults(handler=run_live, parser=live)

    record = commands.add_parser(
        "record",
        help="sample a prompt (or a file of them) and record every step to a trace",
        usage="%(prog)s PROMPT -o FILE [options]  |  %(prog)s --prompts FILE.jsonl --out-dir DIR [options]",
    )
    record.add_argument("prompt", nargs="?", help="the message to send to the model")
    record.add_argument("-o", "--output", type=Path, help="trace file to write")
    record.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    add_batch_arguments(record)
    add_sampling_arguments(record)
    record.set_defaults(handler=run_record, parser=record)

    play = commands.add_parser("play", help="replay a trace in the terminal")
    play.add_argument("trace", help="trace file")
    play.add_argument("--follow", action="store_true", help="keep reading as another process writes it")
    play.set_defaults(handler=run_play, parser=play)

    compare = commands.add_parser("compare", help="play two traces against each other under one timeline")
    compare.add_argument("first", metavar="A", help="trace file")
    compare.add_argument("second", metavar="B", help="trace file (A again is fine)")
    compare.add_argument("--follow", action="store_true", help="keep reading either as another process writes it")
    compare.set_defaults(handler=run_compare, parser=compare)

    serve = commands.add_parser("serve", help="the player in a browser (textual-serve); this machine only by default")
    add_serve_arguments(serve)
    serve.set_defaults(handler=run_serve, parser=serve)

    info = commands.add_parser("info", help="summarise a trace")
    info.add_argument("trace", help="trace file")
    info.set_defaults(handler=run_info, parser=info)

    export = commands.add_parser("export", help="a trace as JSON, a picture (SVG, HTML), a GIF or an asciicast")
    add_export_arguments(export)
    export.set_defaults(handler=run_export, parser=export)

    add_order_command(commands)
    return parser


def package_version() -> str:
    try:
        return importlib.metadata.version("llada-tui")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"
