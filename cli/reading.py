"""`llada-tui play`, `info` and `export`: what a trace holds, for a person or a program.

These need the base install only (no torch); a GIF needs Pillow (the `[export]` extra).
The pictures are cli/pictures.py's.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from llada_tui.cli.failures import UsageError, check_output
from llada_tui.cli.output_file import write_output
from llada_tui.cli.pictures import PICTURES, check_picture_arguments, progress_bar, write_picture
from llada_tui.core.inert import inert_text
from llada_tui.core.run_index import RunIndex
from llada_tui.core.run_summary import sampler_line, steps_line
from llada_tui.core.trace_reader import Trace, load_trace


def run_play(args: argparse.Namespace) -> int:
    from llada_tui.tui.app import run_player

    return run_player(args.trace, follow=args.follow)


def final_state(trace: Trace) -> tuple[list[int], str]:
    """The generated ids and text at the end of what the trace holds (masked positions as ·)."""
    run = RunIndex.of_trace(trace)
    if trace.complete:
        return trace.end.final_ids, trace.end.final_text or run.decode(trace.end.final_ids)
    ids = run.ids_at(run.length)
    return ids, partial_text(run, ids)


def partial_text(run: RunIndex, ids: list[int]) -> str:
    """An unfinished answer as it stands: committed tokens' texts, a dot for each masked position."""
    hidden = set(run.header.special_ids)
    return "".join(
        "·" if i == run.mask_id else run.texts.get(i, "") for i in ids if i not in hidden or i == run.mask_id
    )


INFO_PARAMS = ("steps", "gen_length", "block_length", "temperature", "cfg_scale", "remasking", "seed")


def run_info(args: argparse.Namespace) -> int:
    trace = load_trace(args.trace)
    header = trace.header
    params = header.params
    model = header.model
    ids, text = final_state(trace)
    shown = {key: inert_text(str(model.get(key, "?"))) for key in ("name", "dtype", "device")}
    lines = [
        f"prompt:   {inert_text(header.prompt_text)}",
        f"model:    {shown['name']} ({shown['dtype']} on {shown['device']})",
        "params:   "
        + ", ".join(f"{key}={inert_text(str(params[key]))}" for key in INFO_PARAMS if params.get(key) is not None),
        f"sampler:  {sampler_line(header)}",
        f"steps:    {steps_line(RunIndex.of_trace(trace), trace.complete)}",
        f"status:   {inert_text(trace.warning or 'complete')}",
    ]
    if trace.complete:
        lines.append(f"answer:   {inert_text(text)}")
    else:
        lines.append(f"partial:  {inert_text(text)}")
        lines.append(f"          (the answer as it stood after step {len(trace.steps)}; · is a still-masked token)")
    print("\n".join(lines))
    return 0


EXPORT_FORMATS = ("json", *PICTURES)
Progress = Callable[[int, int], None]  # (done, total)


def add_export_arguments(export: argparse.ArgumentParser) -> None:
    export.add_argument("trace", help="trace file")
    export.add_argument(
        "--format", choices=EXPORT_FORMATS, default="json", help="json (default), svg, html, gif or cast (asciicast v2)"
    )
    export.add_argument("--candidates", action="store_true", help="json: include every step's top-k candidates")
    pictures = export.add_argument_group("pictures (svg, html, gif, cast)")
    pictures.add_argument(
        "--step", type=int, metavar="N", help="svg, html: the answer after N steps (default: the end)"
    )
    pictures.add_argument(
        "--colour",
        "--color",
        choices=["step", "confidence"],
        help="shade tokens by commit step (default) or confidence",
    )
    pictures.add_argument("--fps", type=float, metavar="F", help="gif: frames per second (default 10)")
    pictures.add_argument(
        "--every", type=int, metavar="N", help="gif: a frame every N steps (default: every step, at most 256 frames)"
    )
    pictures.add_argument(
        "--width", type=int, metavar="N", help="svg, gif: characters per line (default 80); cast: columns (default 100)"
    )
    pictures.add_argument("--height", type=int, metavar="N", help="cast: lines of the terminal (default 30)")
    export.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    export.add_argument("--force", action="store_true", help="overwrite the output file if it exists")


def run_export(args: argparse.Namespace) -> int:
    check_picture_arguments(args)
    if args.output is not None:
        check_output(args.output, args.force)
        if not args.output.parent.is_dir():
            raise UsageError(f"{args.output.parent}: no such folder")
        if args.output.exists() and Path(args.trace).exists() and args.output.samefile(args.trace):
            raise UsageError(f"-o {args.output} is the trace itself; write the export to another file")
    trace = load_trace(args.trace)
    if args.format in PICTURES:
        write_picture(args, trace)
    else:
        with progress_bar("encoding steps") as progress:
            text = export_json(trace, with_candidates=args.candidates, progress=progress)
        if args.output:
            write_output(args.output, (text + "\n").encode("utf-8"), args.force)
        else:
            sys.stdout.write(text + "\n")
    if trace.warning:
        print(f"llada-tui: warning: {inert_text(trace.warning)}", file=sys.stderr)
    return 0


def export_json(trace: Trace, with_candidates: bool = False, progress: Progress | None = None) -> str:
    """The trace as one JSON document: ASCII only, so that a hostile token text cannot reach a
    terminal as a control character; encoded a step at a time, for `progress(done, total)`."""
    encode = partial(json.dumps, ensure_ascii=True, allow_nan=False)
    steps = []
    for done, entry in enumerate(step_entries(trace, with_candidates), start=1):
        steps.append(encode(entry))
        if progress is not None:
            progress(done, len(trace.steps))
    before, after = document_parts(trace)
    return f'{encode(before)[:-1]}, "steps": [{", ".join(steps)}], {encode(after)[1:]}'


def document_parts(trace: Trace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The document's fields before its steps and after them."""
    header = trace.header
    ids, text = final_state(trace)
    before = {
        "format": "llada-trace",
        "version": header.version[0],
        "prompt": {"text": header.prompt_text, "ids": header.prompt_ids},
        "model": dict(header.model),
        "params": {**header.params, "sampler": header.sampler},
    }
    after = {
        "final": {"ids": ids, "text": text, "nfe": len(trace.steps)},
        "complete": trace.complete,
        "warning": trace.warning,
    }
    return before, after


def step_entries(trace: Trace, with_candidates: bool) -> Iterator[dict[str, Any]]:
    """Each step of the document: its commits, every change (with the token it replaced), its candidates."""
    header = trace.header
    run = RunIndex.of_trace(trace)
    texts, mask_id = run.texts, header.mask_id
    current = [mask_id] * header.gen_length  # each position's token before the step at hand
    for step in trace.steps:
        changes = []
        for pos, token_id, conf in zip(step.positions, step.ids, step.confidences):
            change = {"pos": pos, "id": token_id, "prev": current[pos], "text": texts.get(token_id, "")}
            changes.append({**change, "confidence": float(conf)})
            current[pos] = token_id
        entry: dict[str, Any] = {
            "step": step.index,
            "block": step.block,
            "wall_ms": round(step.wall_ms, 3),
            "unmasked": [  # the commits: mask -> token
                {key: change[key] for key in ("pos", "id", "text", "confidence")}
                for change in changes
                if change["prev"] == mask_id and change["id"] != mask_id
            ],
            "changes": changes,
        }
        if step.forward is not None:
            entry["forward"] = step.forward
        if with_candidates and step.candidates is not None:
            candidates = step.candidates
            entry["candidates"] = [
                {
                    "pos": pos,
                    "top": [{"id": i, "text": texts.get(i, ""), "p": float(p)} for i, p in candidates.row(r)],
                }
                for r, pos in enumerate(candidates.positions)
            ]
        yield entry
