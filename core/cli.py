"""The `llada-tui` command: record, live, play, info, export.

Commands that sample import the engine (torch) lazily, so `play`, `info` and `export` work
with the base install only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from llada_tui.core.trace import Trace, TraceError, TraceIndex, load_trace

ENGINE_MODULES = ("torch", "transformers", "safetensors", "tokenizers")
ENGINE_HINT = "pip install 'llada-tui[engine]'"


class UsageError(Exception):
    """A mistake on the command line; printed as one line, exit status 2."""


class RunError(Exception):
    """A failure the user can act on (missing model, no GPU, ...); one line, exit status 1."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except UsageError as error:
        print(f"llada-tui: error: {error}", file=sys.stderr)
        return 2
    except (RunError, TraceError, OSError) as error:  # OSError: a file that cannot be written, a full disk
        print(f"llada-tui: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("llada-tui: interrupted", file=sys.stderr)
        return 130


# ---------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llada-tui",
        description="Watch a masked diffusion language model (LLaDA) denoise, step by step.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    live = commands.add_parser("live", help="sample a prompt and watch it in the player as it runs")
    live.add_argument("prompt", help="the message to send to the model")
    add_sampling_arguments(live)
    live.add_argument("-o", "--output", type=Path, help="trace file to write (default: ./traces/TIME-PROMPT.trace)")
    live.set_defaults(handler=run_live)

    record = commands.add_parser("record", help="sample a prompt and record every step to a trace")
    record.add_argument("prompt", help="the message to send to the model")
    add_sampling_arguments(record)
    record.add_argument("-o", "--output", type=Path, required=True, help="trace file to write")
    record.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    record.set_defaults(handler=run_record)

    play = commands.add_parser("play", help="replay a trace in the terminal")
    play.add_argument("trace", help="trace file")
    play.add_argument("--follow", action="store_true", help="keep reading as another process writes it")
    play.set_defaults(handler=run_play)

    info = commands.add_parser("info", help="summarise a trace")
    info.add_argument("trace", help="trace file")
    info.set_defaults(handler=run_info)

    export = commands.add_parser("export", help="convert a trace to JSON")
    export.add_argument("trace", help="trace file")
    export.add_argument("--format", choices=["json"], default="json", help="output format (json)")
    export.add_argument("--candidates", action="store_true", help="include every step's top-k candidates")
    export.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    export.set_defaults(handler=run_export)
    return parser


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    model = parser.add_argument_group("model")
    model.add_argument("--model", help="local checkpoint folder or Hub id (default: the embedded demo model)")
    model.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available, else cpu")
    model.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        help="default: float32 on cpu, bfloat16 on cuda",
    )
    model.add_argument("--compile", action="store_true", help="torch.compile the CUDA fast path (slower start)")
    sampling = parser.add_argument_group("sampling (as in LLaDA's generate.py)")
    sampling.add_argument("--steps", type=int, help="sampling steps (default: the model's, else 128)")
    sampling.add_argument("--gen-length", type=int, help="tokens to generate (default: the model's, else 128)")
    sampling.add_argument("--block-length", type=int, help="semi-autoregressive block (default: model's, else 32)")
    sampling.add_argument("--temperature", type=float, default=0.0, help="Gumbel noise temperature (default 0)")
    sampling.add_argument("--cfg-scale", type=float, default=0.0, help="classifier-free guidance (default 0)")
    sampling.add_argument("--remasking", choices=["low_confidence", "random"], default="low_confidence")
    sampling.add_argument("--logits-eos-inf", action="store_true", help="never sample EOS")
    sampling.add_argument(
        "--confidence-eos-eot-inf",
        action="store_true",
        help="give EOS/EOT zero confidence (reference quirk kept)",
    )
    sampling.add_argument("--seed", type=int, default=0, help="torch seed set right before sampling (default 0)")
    sampling.add_argument("--topk", type=int, default=5, help="candidates recorded per masked position (0: none)")
    sampling.add_argument("--no-chat-template", action="store_true", help="send the prompt as raw text")


def sampling_options(args: argparse.Namespace) -> Any:
    from llada_tui.core.recording import SamplingOptions

    return SamplingOptions(
        steps=args.steps,
        gen_length=args.gen_length,
        block_length=args.block_length,
        temperature=args.temperature,
        cfg_scale=args.cfg_scale,
        remasking=args.remasking,
        logits_eos_inf=args.logits_eos_inf,
        confidence_eos_eot_inf=args.confidence_eos_eot_inf,
        seed=args.seed,
        topk=args.topk,
        chat_template=not args.no_chat_template,
    )


def require_engine(command: str) -> None:
    missing = [name for name in ENGINE_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise RunError(f"`llada-tui {command}` needs the engine ({', '.join(missing)} missing): {ENGINE_HINT}")


# ---------------------------------------------------------------------------- record


def run_record(args: argparse.Namespace) -> int:
    require_engine("record")
    if args.output.exists() and not args.force:
        raise UsageError(f"{args.output} exists; pass --force to overwrite it")
    if args.output.is_dir():
        raise UsageError(f"{args.output} is a directory")
    options = sampling_options(args)

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from llada_tui.core import recording
    from llada_tui.core.loading import ModelLoadError

    console = Console(stderr=True)
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        loading = progress.add_task("loading model", total=None)

        def on_load(done: int, total: int, what: str) -> None:
            progress.update(loading, completed=done, total=total, description=f"loading {what}")

        try:
            engine = recording.load_engine(args.model, args.device, args.dtype, on_load, args.compile)
        except ModelLoadError as error:
            raise RunError(str(error)) from None
        progress.remove_task(loading)
        params = recording.resolve_params(engine, options)
        try:
            header = recording.make_header(engine, args.prompt, params)
        except (ValueError, ModelLoadError) as error:  # bad options; a tokenizer with no chat template
            raise UsageError(str(error)) from None
        sampling = progress.add_task("sampling", total=params["steps"])
        try:
            end = recording.record_run(engine, header, args.output, on_step=lambda _: progress.advance(sampling))
        except Exception as error:
            if recording.is_out_of_memory(error):
                raise RunError(
                    f"out of GPU memory; try a shorter --gen-length or --dtype bfloat16 (steps so far kept in "
                    f"{args.output})"
                ) from None
            raise
    console.print(end.final_text, highlight=False, markup=False)
    console.print(
        f"[dim]{params['steps']} steps in {end.total_ms / 1000:.1f} s on {engine.device}; trace: {args.output}[/]"
    )
    return 0


# ---------------------------------------------------------------------------- live / play


def run_live(args: argparse.Namespace) -> int:
    require_engine("live")
    options = sampling_options(args)
    from llada_tui.tui.live import run_live_app
    from llada_tui.tui.live_source import ModelChoice

    choice = ModelChoice(args.model, args.device, args.dtype, args.compile)
    return run_live_app(args.prompt, options, choice, output=args.output)


def run_play(args: argparse.Namespace) -> int:
    from llada_tui.tui.app import run_player

    return run_player(args.trace, follow=args.follow)


# ---------------------------------------------------------------------------- info / export


def final_state(trace: Trace) -> tuple[list[int], str]:
    """The generated ids and text at the end of what the trace holds."""
    if trace.end is not None and trace.end.status == "complete":
        text = trace.end.final_text or trace.header.decode(trace.end.final_ids)
        return trace.end.final_ids, text
    index = TraceIndex(trace.header)
    index.extend(trace.steps)
    ids = index.ids_at(len(index))
    return ids, trace.header.decode(ids)


def run_info(args: argparse.Namespace) -> int:
    trace = load_trace(args.trace)
    header = trace.header
    params = header.params
    model = header.model
    ids, text = final_state(trace)
    lines = [
        f"prompt:   {inert(header.prompt_text)}",
        f"model:    {inert(str(model.get('name', '?')))} ({model.get('dtype', '?')} on {model.get('device', '?')})",
        "params:   "
        + ", ".join(
            f"{key}={params[key]}"
            for key in (
                "steps",
                "gen_length",
                "block_length",
                "temperature",
                "cfg_scale",
                "remasking",
                "seed",
            )
            if key in params
        ),
        f"steps:    {len(trace.steps)} of {header.total_steps}" + ("" if trace.complete else " (incomplete)"),
        f"status:   {trace.warning or 'complete'}",
        f"answer:   {inert(text)}",
    ]
    print("\n".join(lines))
    return 0


def inert(text: str) -> str:
    """Text from a trace made safe to print: control characters as visible escapes."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def run_export(args: argparse.Namespace) -> int:
    trace = load_trace(args.trace)
    document = export_document(trace, with_candidates=args.candidates)
    text = json.dumps(document, ensure_ascii=False)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")
    if trace.warning:
        print(f"llada-tui: warning: {trace.warning}", file=sys.stderr)
    return 0


def export_document(trace: Trace, with_candidates: bool = False) -> dict[str, Any]:
    header = trace.header
    texts = header.token_texts
    steps = []
    for step in trace.steps:
        entry: dict[str, Any] = {
            "step": step.index,
            "block": step.block,
            "wall_ms": round(step.wall_ms, 3),
            "unmasked": [
                {"pos": pos, "id": token_id, "text": texts.get(token_id, ""), "confidence": float(conf)}
                for pos, token_id, conf in zip(step.positions, step.ids, step.confidences)
            ],
        }
        if with_candidates and step.candidates is not None:
            candidates = step.candidates
            entry["candidates"] = [
                {
                    "pos": pos,
                    "top": [{"id": i, "text": texts.get(i, ""), "p": float(p)} for i, p in candidates.row(r)],
                }
                for r, pos in enumerate(candidates.positions)
            ]
        steps.append(entry)
    ids, text = final_state(trace)
    return {
        "format": "llada-trace",
        "version": header.version[0],
        "prompt": {"text": header.prompt_text, "ids": header.prompt_ids},
        "model": header.model,
        "params": header.params,
        "steps": steps,
        "final": {"ids": ids, "text": text},
        "complete": trace.complete,
        "warning": trace.warning,
    }


if __name__ == "__main__":
    sys.exit(main())
