"""`llada-tui record` and `llada-tui live`: a run's options checked before anything slow, then sampled.

The engine (torch) is imported only once every check that does not need it has passed.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

from llada_tui.cli.failures import RunError, UsageError, check_output, check_writable
from llada_tui.core.inert import inert_block, inert_text
from llada_tui.core.options import SamplingOptions, check_options, check_prompt, check_threads
from llada_tui.core.records import Step

ENGINE_MODULES = ("torch", "safetensors", "tokenizers", "jinja2")


ENGINE_HINT = "pip install 'llada-tui[engine]'"


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
    sampling.add_argument(
        "--steps",
        type=int,
        help="sampling steps (default: the model's, else 128); ignored where the sampler decides its own "
        "(threshold with --threshold, wino, and the extra forwards of a cache)",
    )
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
    strategy = parser.add_argument_group("decoding strategy (beyond LLaDA's reference sampler)")
    strategy.add_argument(
        "--sampler",
        choices=["reference", "threshold", "wino"],
        default="reference",
        help="reference: LLaDA's generate.py (default); threshold: Fast-dLLM's confidence threshold; "
        "wino: WINO's draft-and-verify sampler, which re-masks tokens it stops trusting",
    )
    strategy.add_argument(
        "--threshold",
        type=float,
        help="threshold: commit every token at least this confident (without it, the reference's counts); "
        "wino: commit above it (default 0.6)",
    )
    strategy.add_argument("--threshold-back", type=float, help="wino: re-mask a token below this (default 0.9)")
    strategy.add_argument(
        "--cache",
        choices=["none", "prefix", "dual"],
        default="none",
        help="Fast-dLLM's KV cache (reference or threshold): an approximation, marked so in the trace",
    )
    sampling.add_argument(
        "--parse-special",
        action="store_true",
        help="read special tokens typed in the prompt (e.g. <|eot_id|>) as control tokens, not as text",
    )


def sampling_options(args: argparse.Namespace) -> SamplingOptions:
    return SamplingOptions(
        sampler=args.sampler,
        threshold=args.threshold,
        threshold_back=args.threshold_back,
        cache=args.cache,
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
    from llada_tui.cli.batch import check_batch_arguments, run_batch

    check_batch_arguments(args)
    if args.prompts is not None:
        return run_batch(args)
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
        track = StepCount(params.mask_id)
        if params.fixed_steps:
            sampling = progress.add_task("sampling", total=params.steps)
        else:  # the sampler decides its steps: show the answer's tokens decided so far
            sampling = progress.add_task("sampling: tokens decided", total=params.gen_length)

        def on_step(step: Step) -> None:
            track.add(step)
            progress.update(sampling, completed=track.steps if params.fixed_steps else len(track.decided))

        try:
            end = recording.record_run(engine, header, args.output, on_step=on_step, overwrite=args.force)
        except FileExistsError:  # another run created it since the check above
            raise UsageError(f"{args.output} exists (another run may be writing it); pass --force") from None
        except Exception as error:
            if recording.is_out_of_memory(error):
                raise RunError(f"{recording.OUT_OF_MEMORY_ADVICE} (steps so far kept in {args.output})") from None
            raise
    sys.stdout.write(inert_block(end.final_text) + "\n")  # the answer alone on stdout, for pipes
    sys.stdout.flush()
    where = (
        f"{engine.device}, {threads} CPU thread{'s' if threads > 1 else ''}"
        if engine.device == "cpu"
        else engine.device
    )
    print(
        f"{track.steps} steps in {end.total_ms / 1000:.1f} s on {where}; trace: {inert_text(str(args.output))}",
        file=sys.stderr,
    )
    return 0


class StepCount:
    """Steps seen, and the answer's positions holding a token (a re-mask takes one back)."""

    def __init__(self, mask_id: int):
        self.mask_id = mask_id
        self.steps = 0
        self.decided: set[int] = set()

    def add(self, step: Step) -> None:
        self.steps += 1
        for position, token_id in zip(step.positions, step.ids):
            if token_id == self.mask_id:
                self.decided.discard(position)
            else:
                self.decided.add(position)


def run_live(args: argparse.Namespace) -> int:
    require_engine("live")
    options = checked_run_arguments(args)
    if args.output is not None and args.output.exists():
        raise UsageError(f"{args.output} exists; choose another -o FILE")
    if args.output is not None:
        check_output(args.output, force=False)
    else:  # the runs go to ./traces: a folder where they cannot would leave each run unrecorded
        from llada_tui.tui.trace_paths import default_trace_path

        check_writable(default_trace_path(args.prompt).parent)
    from llada_tui.core.threads import use_threads

    use_threads(args.threads, leave_for_ui=True)  # before torch is imported
    options = checked_against_checkpoint(args, options)
    from llada_tui.tui.live import run_live_app
    from llada_tui.tui.sources.engine import ModelChoice

    choice = ModelChoice(args.model, args.device, args.dtype, args.compile, threads=args.threads)
    return run_live_app(args.prompt, options, choice, output=args.output)
