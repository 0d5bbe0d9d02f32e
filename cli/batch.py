"""`llada-tui record --prompts FILE.jsonl --out-dir DIR`: many prompts, resumable, batched, data-parallel.

Checks first (the options, every line of the prompts file against the checkpoint's tokenizer and
chat template), then loads the model once and records this rank's share of the prompts that have
no complete trace yet, several per forward where the sampler allows (core/batch_recording.py).
Under torchrun each rank does its share on its own device (core/ranks.py); rank 0 shows the
progress and, once every rank is done, writes DIR/index.jsonl from the traces on disk.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from llada_tui.cli.failures import RunError, UsageError, check_writable, refuse_pipes_and_devices
from llada_tui.cli.sampling import require_engine, sampling_options
from llada_tui.core.batch_index import (
    INDEX_NAME,
    TraceState,
    bad_line_entry,
    foreign_index,
    index_entry,
    trace_state,
    write_index,
)
from llada_tui.core.inert import inert_text
from llada_tui.core.options import OptionError, SamplingOptions, check_options, check_threads
from llada_tui.core.prompt_file import BadLine, PromptJob, read_prompt_file
from llada_tui.core.ranks import Rank
from llada_tui.core.records import Header, Step

if TYPE_CHECKING:
    from llada_tui.core.recording import Engine
    from llada_tui.core.tokenizer import LLaDATokenizer

MAX_BATCH_SIZE = 1024
RECORDED = (TraceState.MISSING, TraceState.INCOMPLETE)  # what a run records; the rest it keeps or leaves alone
CUDA_BATCH_SIZE = 8  # prompts per forward on a GPU unless --batch-size says otherwise
CPU_BATCH_SIZE = 1  # a CPU is busy with one already: batching there saves little
RENDER_CHUNK = 64  # prompts whose chats one sandboxed process renders
RENDER_CHUNK_CHARS = 1 << 20
STAND_IN = "prompt"  # what make_header is given to encode in place of each job's prompt (see plan)


def add_batch_arguments(record: argparse.ArgumentParser) -> None:
    batch = record.add_argument_group("many prompts (instead of PROMPT and -o)")
    batch.add_argument("--prompts", type=Path, metavar="FILE.jsonl", help='one JSON object per line: {"prompt": ...}')
    batch.add_argument("--out-dir", type=Path, metavar="DIR", help="write DIR/<id>.trace and DIR/index.jsonl")
    batch.add_argument(
        "--batch-size",
        type=int,
        help=f"prompts per forward where the sampler allows (default: {CUDA_BATCH_SIZE} on cuda, "
        f"{CPU_BATCH_SIZE} on cpu)",
    )


def check_batch_arguments(args: argparse.Namespace) -> None:
    """Refuse a mix of the single-run and the batch arguments, in one line."""
    if args.prompts is None:
        for name, value in (("--out-dir", args.out_dir), ("--batch-size", args.batch_size)):
            if value is not None:
                raise UsageError(f"{name} goes with --prompts FILE.jsonl")
        if args.prompt is None:
            raise UsageError("give a PROMPT (or --prompts FILE.jsonl)")
        if args.output is None:
            raise UsageError("the following arguments are required: -o/--output")
        return
    if args.prompt is not None:
        raise UsageError("give a PROMPT or --prompts FILE.jsonl, not both")
    if args.output is not None:
        raise UsageError("--prompts writes its traces into --out-dir DIR, not -o")
    if args.force:
        raise UsageError(
            "--force goes with -o FILE: a batch keeps its complete traces (move them away to record again)"
        )
    if args.out_dir is None:
        raise UsageError("--prompts needs --out-dir DIR")
    if args.batch_size is not None and not 1 <= args.batch_size <= MAX_BATCH_SIZE:
        raise UsageError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE}, got {args.batch_size}")


@dataclass
class Planned:
    job: PromptJob
    header: Header  # as it will be written, but for the time it was made
    path: Path
    state: TraceState = TraceState.MISSING  # checked by the rank whose share it is


def run_batch(args: argparse.Namespace) -> int:
    require_engine("record")
    base = sampling_options(args)
    check_options(base)
    check_threads(args.threads)
    try:
        rank = Rank.from_environment()
    except ValueError as error:
        raise UsageError(str(error)) from None
    out_dir = check_out_dir(args.out_dir, args.prompts)
    console = Console(stderr=True, highlight=False)
    jobs, bad = read_prompts(args.prompts, base)
    with Progress(console=console, transient=True, disable=not (rank.leads and console.is_terminal)) as progress:
        checking = progress.add_task("checking prompts", total=len(jobs))
        encoded, refused = checked_against_checkpoint(
            args.model, jobs, lambda done, total: progress.update(checking, completed=done, total=total)
        )
    bad = sorted([*bad, *refused], key=lambda line: line.line)
    if rank.leads:
        for line in bad:
            warn(console, f"{args.prompts}:{line.line}: {line.reason}; skipped")
    if not encoded:
        raise RunError(f"{args.prompts}: no usable prompt")
    from llada_tui.core.threads import use_threads

    use_threads(args.threads)  # before torch is imported
    from llada_tui.core import recording
    from llada_tui.core.checkpoint import ModelLoadError

    device = args.device or recording.default_device()
    if device == "cuda":
        try:
            rank.use_gpu()
        except ValueError as error:  # no CUDA, or fewer GPUs than LOCAL_RANK says
            raise RunError(str(error)) from None
    out_dir.mkdir(exist_ok=True)  # every rank may try; the first makes it
    try:
        rank.join()
    except (RuntimeError, ValueError) as error:  # torch.distributed's rendezvous refused or failed
        raise RunError(f"rank {rank.rank} could not meet the other ranks: {error}") from None
    batch_size = args.batch_size or (CUDA_BATCH_SIZE if device == "cuda" else CPU_BATCH_SIZE)
    show = rank.leads and console.is_terminal
    with Progress(console=console, transient=True, disable=not show) as progress:
        progress.add_task("loading model", total=None)
        try:
            engine = recording.load_engine(args.model, device, args.dtype, compile=args.compile)
        except ModelLoadError as error:
            raise RunError(str(error)) from None
    # The batches are made from the whole file, the same on every rank, and shared out whole: a
    # prompt shares its forward with the same others however many ranks there are.
    everything = [plan(engine, item, out_dir) for item in encoded]
    shares = rank.share(list(batches(everything, batch_size)))
    planned = [item for batch in shares for item in batch]
    with Progress(console=console, transient=True, disable=not show) as progress:
        for item in progress.track(planned, description="checking traces"):
            item.state = trace_state(item.path, item.header)
            if item.state in (TraceState.OTHER_RUN, TraceState.NOT_A_TRACE):
                hint = f"move it away to record line {item.job.line}"
                warn(console, f"{item.path} holds {describe(item.state)}; left alone ({hint})")
    to_record = [[item for item in batch if item.state in RECORDED] for batch in shares]
    try:
        failed = record_all(engine, [batch for batch in to_record if batch], rank, console)
    except KeyboardInterrupt:
        if rank.world == 1:  # the index says where the run stopped, not what an earlier run left
            with contextlib.suppress(KeyboardInterrupt):  # a second ctrl+c: the earlier index stays whole
                index_from_disk(out_dir, everything, bad, show, console)
        raise
    if rank.leads and rank.world > 1:
        console.print("waiting for the other ranks to finish their shares…")
    rank.wait_for_all()
    if rank.leads:
        index, entries = index_from_disk(out_dir, everything, bad, show, console)
        complete = sum(entry["status"] == TraceState.COMPLETE.value for entry in entries)
        kept = sum(item.state == TraceState.COMPLETE for item in planned)
        console.print(
            f"{complete} of {len(encoded)} prompts have a complete trace"
            + (f" ({kept} kept from an earlier run)" if rank.world == 1 and kept else "")
            + (f"; {len(bad)} bad line{'s' if len(bad) != 1 else ''} skipped" if bad else "")
            + f"; index: {inert_text(str(index))}",
            markup=False,
            soft_wrap=True,
        )
    if failed:
        raise RunError(f"{len(failed)} prompt{'s' if len(failed) != 1 else ''} failed (said above); rerun to retry")
    return 0


def index_from_disk(
    out_dir: Path, everything: list[Planned], bad: list[BadLine], show: bool, console: Console
) -> tuple[Path, list[dict[str, object]]]:
    """DIR/index.jsonl written from the traces as they are now; returns it and the prompts' entries."""
    with Progress(console=console, transient=True, disable=not show) as progress:
        described = progress.track(everything, description="writing the index")
        entries = [index_entry(item.job, item.header, out_dir) for item in described]
    return write_index(out_dir, [*entries, *map(bad_line_entry, bad)]), entries


def check_out_dir(path: Path, prompts: Path) -> Path:
    """A folder that is there or can be made (it is made once the prompts are known to be usable),
    whose index.jsonl, if there is one, is an earlier run's index and not the prompts file."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} is not a folder")
    if not path.parent.is_dir():
        raise UsageError(f"{path.parent}: no such folder")
    check_writable(path)
    index = path / INDEX_NAME
    if index.is_file() and prompts.is_file() and index.samefile(prompts):
        raise UsageError(f"{prompts} is where the batch writes its index: rename the prompts file")
    what = foreign_index(path)
    if what is not None:
        raise UsageError(f"{index} is {what}, which the batch's index would replace: move it away")
    return path


def read_prompts(path: Path, base: SamplingOptions) -> tuple[list[PromptJob], list[BadLine]]:
    refuse_pipes_and_devices(path)
    if path.is_dir():
        raise RunError(f"{path} is a folder, not a prompts file")
    if not path.exists():
        raise RunError(f"{path}: no such file")
    return read_prompt_file(path, base)


class Encoded(NamedTuple):
    job: PromptJob  # with the checkpoint's default lengths filled in
    prompt_ids: list[int]  # the prompt as the model sees it (chat template and all)


def checked_against_checkpoint(
    model: str | None, jobs: list[PromptJob], progress: Callable[[int, int], None]
) -> tuple[list[Encoded], list[BadLine]]:
    """Each job with the checkpoint's default lengths filled in, its options checked and its prompt
    encoded by the checkpoint's tokenizer and chat template, before torch starts; the others as bad
    lines. `progress(done, total)` follows the prompts."""
    from llada_tui.core.checkpoint import ModelLoadError, resolve_checkpoint, sampling_defaults
    from llada_tui.core.tokenizer import load_tokenizer

    try:
        checkpoint = resolve_checkpoint(model)
        defaults = sampling_defaults(checkpoint)
        tokenizer = load_tokenizer(checkpoint)
    except ModelLoadError as error:
        raise RunError(str(error)) from None
    checked, bad = [], []
    for job in jobs:
        try:
            options = job.options.with_lengths(defaults)
            check_options(options)
        except OptionError as error:
            bad.append(BadLine(job.line, str(error).strip().splitlines()[0]))
            continue
        checked.append(PromptJob(job.line, job.id, job.prompt, options))
    good: list[Encoded] = []
    for chunk in render_chunks(checked):
        for job, ids in zip(chunk, encode_chunk(tokenizer, chunk)):
            if isinstance(ids, BadLine):
                bad.append(ids)
            else:
                good.append(Encoded(job, ids))
        progress(len(good) + len(bad), len(jobs))
    return good, bad


def render_chunks(jobs: list[PromptJob]) -> Iterator[list[PromptJob]]:
    """Runs of jobs whose chats one sandboxed render can make: the same chat settings, and at most
    RENDER_CHUNK prompts or RENDER_CHUNK_CHARS characters (the child has a budget)."""
    chunk: list[PromptJob] = []
    chars = 0
    for job in jobs:
        settings = (job.options.chat_template, job.options.parse_special)
        if chunk and (
            settings != (chunk[0].options.chat_template, chunk[0].options.parse_special)
            or len(chunk) == RENDER_CHUNK
            or chars + len(job.prompt) > RENDER_CHUNK_CHARS
        ):
            yield chunk
            chunk, chars = [], 0
        chunk.append(job)
        chars += len(job.prompt)
    if chunk:
        yield chunk


def encode_chunk(tokenizer: LLaDATokenizer, chunk: list[PromptJob]) -> list[list[int] | BadLine]:
    """The prompt ids of a chunk's jobs, their chats rendered by one child process (a start-up of
    about 0.2 s, not one each); where that fails, each alone, so that the failure is its line's."""
    from llada_tui.core.checkpoint import ModelLoadError
    from llada_tui.core.tokenizer import encode_prompt

    settings = chunk[0].options
    if settings.chat_template and len(chunk) > 1:
        try:
            return tokenizer.apply_chat_template_batch([job.prompt for job in chunk], settings.parse_special)
        except (ValueError, ModelLoadError):
            pass  # a prompt the template or the tokenizer refuses: which one, found below
    encoded: list[list[int] | BadLine] = []
    for job in chunk:
        try:
            ids = encode_prompt(
                tokenizer, job.prompt, chat_template=settings.chat_template, parse_special=settings.parse_special
            )
        except (ValueError, ModelLoadError) as error:
            encoded.append(BadLine(job.line, str(error).strip().splitlines()[0]))
            continue
        encoded.append(ids)
    return encoded


def plan(engine: Engine, encoded: Encoded, out_dir: Path) -> Planned:
    """The job's run as its trace will begin. make_header encodes the prompt it is given (a sandboxed
    render per call); it is given STAND_IN (rendered once, then cached), and the job's own text and
    ids, encoded already with the others, take its place."""
    from llada_tui.core import recording

    job = encoded.job
    stand_in = recording.make_header(engine, STAND_IN, recording.resolve_params(engine, job.options))
    header = replace(stand_in, prompt_text=job.prompt, prompt_ids=encoded.prompt_ids)
    return Planned(job, header, out_dir / job.trace_name)


def describe(state: TraceState) -> str:
    return "another prompt's or run's trace" if state == TraceState.OTHER_RUN else "a file that is not a trace"


def batches(items: list[Planned], size: int) -> Iterator[list[Planned]]:
    """Runs that can share a forward, at most `size` at a time, in the order they first appear."""
    from llada_tui.core.batch_recording import batch_key

    groups: dict[object, list[Planned]] = {}
    for item in items:
        key = batch_key(item.header)
        groups.setdefault(("alone", item.job.line) if key is None else key, []).append(item)
    for group in groups.values():
        for start in range(0, len(group), size):
            yield group[start : start + size]


class PromptsPerMinute(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text("" if task.speed is None else f"{task.speed * 60:.1f} prompts/min")


def record_all(engine: Engine, share: list[list[Planned]], rank: Rank, console: Console) -> list[Planned]:
    """Record every batch of the share; returns the runs that failed (each batch's failure said in a line)."""
    from llada_tui.core import recording
    from llada_tui.core.batch_recording import record_batch

    where = "" if rank.world == 1 else f" (rank 0 of {rank.world}: its share)"
    columns = [
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        PromptsPerMinute(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[step]}", markup=False),
    ]
    failed: list[Planned] = []
    show = rank.leads and console.is_terminal
    with Progress(*columns, console=console, transient=True, disable=not show) as progress:
        task = progress.add_task(f"recording{where}", total=sum(map(len, share)), step="")
        for batch in share:
            on_step = step_reporter(progress, task, batch)
            overwrite = any(item.state == TraceState.INCOMPLETE for item in batch)  # ours, from an earlier run
            headers = [replace(item.header, created=time.strftime("%Y-%m-%dT%H:%M:%S%z")) for item in batch]
            paths = [item.path for item in batch]
            try:
                if len(batch) == 1:
                    recording.record_run(engine, headers[0], paths[0], on_step=partial(on_step, 0), overwrite=overwrite)
                else:
                    record_batch(engine, headers, paths, on_step=on_step, overwrite=overwrite)
            except FileExistsError as error:  # another process made the file since it was planned
                failed.extend(batch)
                warn(console, f"{error.filename}: appeared while this batch started; not overwritten")
            except Exception as error:
                if not recording.is_out_of_memory(error) and not isinstance(error, (RuntimeError, ValueError)):
                    raise
                failed.extend(batch)
                lines = line_ranges([item.job.line for item in batch])
                if recording.is_out_of_memory(error) and len(batch) > 1:  # as it would again, at this size
                    advice = f"out of GPU memory at {len(batch)} prompts per forward; rerun with a smaller --batch-size"
                    warn(console, f"lines {lines}: {advice} (their traces say so)")
                else:
                    warn(console, f"line {lines}: {recording.one_line(error)}; the trace says so, a rerun tries again")
            progress.advance(task, len(batch))
    return failed


def line_ranges(lines: list[int]) -> str:
    """Line numbers in short: "3-10, 12" (a batch may hold a thousand)."""
    runs: list[list[int]] = []
    for line in sorted(lines):
        if runs and line == runs[-1][1] + 1:
            runs[-1][1] = line
        else:
            runs.append([line, line])
    return ", ".join(str(first) if first == last else f"{first}-{last}" for first, last in runs)


def step_reporter(progress: Progress, task: TaskID, batch: list[Planned]) -> Callable[[int, Step], None]:
    """Shows the step the batch is at ("4 prompts per forward · step 12/64") beside the bar."""
    total = batch[0].header.total_steps  # None where the sampler decides its steps
    shared = f"{len(batch)} prompts per forward · " if len(batch) > 1 else ""

    def on_step(row: int, step: Step) -> None:
        if row == 0:
            progress.update(task, step=f"{shared}step {step.index + 1}" + (f"/{total}" if total else ""))

    return on_step


def warn(console: Console, message: str) -> None:
    console.print(f"llada-tui: warning: {inert_text(message)}", markup=False, soft_wrap=True)
