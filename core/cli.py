"""The `llada-tui` command: record, live, play, info, export.

Commands that sample import the engine (torch) lazily, so `play`, `info` and `export` work
with the base install only.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import sys
from pathlib import Path
from typing import IO, Any, NoReturn

from llada_tui.core.inert import inert_block, inert_text
from llada_tui.core.options import OptionError, SamplingOptions, check_options, check_prompt, check_threads
from llada_tui.core.trace import Trace, TraceError, TraceIndex, load_trace

ENGINE_MODULES = ("torch", "safetensors", "tokenizers", "jinja2")
ENGINE_HINT = "pip install 'llada-tui[engine]'"


class UsageError(Exception):
    """A mistake on the command line; printed as one line, exit status 2."""


class RunError(Exception):
    """A failure the user can act on (missing model, no GPU, ...); one line, exit status 1."""


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a terminal that cannot show a character gets an escape
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # reported by the command's own parser, with its own usage line
        args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return args.handler(args)
    except (UsageError, OptionError) as error:
        return fail(error, 2)
    except (RunError, TraceError) as error:
        return fail(error, 1)
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

    record = commands.add_parser("record", help="sample a prompt and record every step to a trace")
    record.add_argument("prompt", help="the message to send to the model")
    add_sampling_arguments(record)
    record.add_argument("-o", "--output", type=Path, required=True, help="trace file to write")
    record.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    record.set_defaults(handler=run_record, parser=record)

    play = commands.add_parser("play", help="replay a trace in the terminal")
    play.add_argument("trace", help="trace file")
    play.add_argument("--follow", action="store_true", help="keep reading as another process writes it")
    play.set_defaults(handler=run_play, parser=play)

    info = commands.add_parser("info", help="summarise a trace")
    info.add_argument("trace", help="trace file")
    info.set_defaults(handler=run_info, parser=info)

    export = commands.add_parser("export", help="convert a trace to JSON")
    export.add_argument("trace", help="trace file")
    export.add_argument("--format", choices=["json"], default="json", help="output format (json)")
    export.add_argument("--candidates", action="store_true", help="include every step's top-k candidates")
    export.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    export.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    export.set_defaults(handler=run_export, parser=export)
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
    model.add_argument(
        "--threads",
        type=int,
        help="CPU threads for the model (default: OMP_NUM_THREADS, else every core; live leaves one to the UI)",
    )
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
    sampling.add_argument(
        "--parse-special",
        action="store_true",
        help="read special tokens typed in the prompt (e.g. <|eot_id|>) as control tokens, not as text",
    )


def package_version() -> str:
    try:
        return importlib.metadata.version("llada-tui")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def sampling_options(args: argparse.Namespace) -> SamplingOptions:
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
        parse_special=args.parse_special,
    )


def checked_run_arguments(args: argparse.Namespace) -> SamplingOptions:
    """The options of `record` and `live`, refused (exit 2) before anything slow happens."""
    check_prompt(args.prompt)
    options = sampling_options(args)
    check_options(options)
    check_threads(args.threads)
    return options


def require_engine(command: str) -> None:
    missing = [name for name in ENGINE_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise RunError(f"`llada-tui {command}` needs the engine ({', '.join(missing)} missing): {ENGINE_HINT}")


# ---------------------------------------------------------------------------- record


def check_output(path: Path, force: bool) -> None:
    """Refuse, before any slow work, an output file that would overwrite something or cannot be made."""
    if path.is_dir():
        raise UsageError(f"{path} is a directory")
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    if path.parent.exists() and not path.parent.is_dir():
        raise UsageError(f"{path.parent} is not a folder")


def checked_against_checkpoint(args: argparse.Namespace, options: SamplingOptions) -> SamplingOptions:
    """The options with the checkpoint's default lengths filled in and checked, and the prompt
    encoded once by its tokenizer and chat template: before torch starts or a weight is read."""
    from llada_tui.core.checkpoint import ModelLoadError, resolve_checkpoint, sampling_defaults
    from llada_tui.core.tokenizer import encode_prompt, load_tokenizer

    try:
        checkpoint = resolve_checkpoint(args.model)
        resolved = options.with_lengths(sampling_defaults(checkpoint))
        check_options(resolved)
        tokenizer = load_tokenizer(checkpoint)
    except ModelLoadError as error:
        raise RunError(str(error)) from None
    try:
        encode_prompt(
            tokenizer, args.prompt, chat_template=resolved.chat_template, parse_special=resolved.parse_special
        )
    except (ValueError, ModelLoadError) as error:  # too long; a failing or missing chat template
        raise UsageError(str(error)) from None
    return resolved


def run_record(args: argparse.Namespace) -> int:
    require_engine("record")
    options = checked_run_arguments(args)
    check_output(args.output, args.force)
    from llada_tui.core.threads import use_threads

    threads = use_threads(args.threads)  # before torch is imported
    options = checked_against_checkpoint(args, options)

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from llada_tui.core import recording
    from llada_tui.core.checkpoint import ModelLoadError

    console = Console(stderr=True, highlight=False)
    columns = [TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        loading = progress.add_task("loading model", total=None)

        def on_load(done: int, total: int, what: str) -> None:
            progress.update(loading, completed=done, total=total, description=f"loading {inert_text(what)}")

        try:
            engine = recording.load_engine(args.model, args.device, args.dtype, on_load, args.compile)
        except ModelLoadError as error:
            raise RunError(str(error)) from None
        progress.remove_task(loading)
        params = recording.resolve_params(engine, options)
        try:
            header = recording.make_header(engine, args.prompt, params)
        except (ValueError, ModelLoadError) as error:  # a prompt too long for the model; no chat template
            raise UsageError(str(error)) from None
        sampling = progress.add_task("sampling", total=params["steps"])
        try:
            end = recording.record_run(
                engine, header, args.output, on_step=lambda _: progress.advance(sampling), overwrite=args.force
            )
        except FileExistsError:  # another run created it since the check above
            raise UsageError(f"{args.output} exists (another run may be writing it); pass --force") from None
        except Exception as error:
            if recording.is_out_of_memory(error):
                raise RunError(
                    f"out of GPU memory; try a shorter --gen-length or --dtype bfloat16 (steps so far kept in "
                    f"{args.output})"
                ) from None
            raise
    sys.stdout.write(inert_block(end.final_text) + "\n")  # the answer alone on stdout, for pipes
    sys.stdout.flush()
    where = (
        f"{engine.device}, {threads} CPU thread{'s' if threads > 1 else ''}"
        if engine.device == "cpu"
        else engine.device
    )
    print(
        f"{params['steps']} steps in {end.total_ms / 1000:.1f} s on {where}; trace: {inert_text(str(args.output))}",
        file=sys.stderr,
    )
    return 0


# ---------------------------------------------------------------------------- live / play


def run_live(args: argparse.Namespace) -> int:
    require_engine("live")
    options = checked_run_arguments(args)
    if args.output is not None and args.output.exists():
        raise UsageError(f"{args.output} exists; choose another -o FILE")
    if args.output is not None:
        check_output(args.output, force=False)
    from llada_tui.core.threads import use_threads

    use_threads(args.threads, leave_for_ui=True)  # before torch is imported
    options = checked_against_checkpoint(args, options)
    from llada_tui.tui.live import run_live_app
    from llada_tui.tui.live_source import ModelChoice

    choice = ModelChoice(args.model, args.device, args.dtype, args.compile, threads=args.threads)
    return run_live_app(args.prompt, options, choice, output=args.output)


def run_play(args: argparse.Namespace) -> int:
    from llada_tui.tui.app import run_player

    return run_player(args.trace, follow=args.follow)


# ---------------------------------------------------------------------------- info / export


def final_state(trace: Trace) -> tuple[list[int], str]:
    """The generated ids and text at the end of what the trace holds (masked positions as ·)."""
    if trace.complete:
        text = trace.end.final_text or trace.header.decode(trace.end.final_ids)
        return trace.end.final_ids, text
    index = TraceIndex(trace.header)
    index.extend(trace.steps)
    ids = index.ids_at(len(index))
    return ids, partial_text(trace, ids)


def partial_text(trace: Trace, ids: list[int]) -> str:
    """An unfinished answer as it stands: committed tokens' texts, a dot for each masked position."""
    header = trace.header
    hidden = set(header.special_ids)
    return "".join(
        "·" if i == header.mask_id else header.token_texts.get(i, "")
        for i in ids
        if i not in hidden or i == header.mask_id
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
        "params:   " + ", ".join(f"{key}={inert_text(str(params[key]))}" for key in INFO_PARAMS if key in params),
        f"steps:    {len(trace.steps)} of {header.total_steps}" + ("" if trace.complete else " (incomplete)"),
        f"status:   {inert_text(trace.warning or 'complete')}",
    ]
    if trace.complete:
        lines.append(f"answer:   {inert_text(text)}")
    else:
        lines.append(f"partial:  {inert_text(text)}")
        lines.append(f"          (the answer as it stood after step {len(trace.steps)}; · is a still-masked token)")
    print("\n".join(lines))
    return 0


def run_export(args: argparse.Namespace) -> int:
    if args.output is not None:
        check_output(args.output, args.force)
        if not args.output.parent.is_dir():
            raise UsageError(f"{args.output.parent}: no such folder")
    trace = load_trace(args.trace)
    document = export_document(trace, with_candidates=args.candidates)
    # ASCII-only JSON: a hostile token text cannot reach a terminal as a control character.
    text = json.dumps(document, ensure_ascii=True, allow_nan=False)
    if args.output:
        with open(args.output, "w" if args.force else "x", encoding="utf-8") as file:
            file.write(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    if trace.warning:
        print(f"llada-tui: warning: {inert_text(trace.warning)}", file=sys.stderr)
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
