"""Several prompts per forward: a sampler over a batch of rows, one trace per row.

Rows share a forward only when they share its shape and its schedule: the same prompt length
(after the chat template), the same parameters but the seed, and a schedule fixed in advance:
LLaDA's reference sampler, or Fast-dLLM's prefix or dual cache without a threshold. (A
threshold, or WINO, decides each row's steps as it goes: those run one prompt at a time.) Each
row draws its random numbers from its own generator, seeded with its seed, over the shapes a
single run of it draws from torch's: so a row makes the choices that single run makes, whichever
batch or rank it lands in. The model computes each row of a [B, L] forward as it computes a
[1, L] one (bitwise on the CPU; tests/test_batch_record.py).

Needs torch (imported by the commands that record).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from pathlib import Path

import torch

from llada_tui.core.params import SamplingParams
from llada_tui.core.recording import Engine, elapsed_ms, one_line, sample
from llada_tui.core.records import End, Header, Step
from llada_tui.core.sampler import StopSampling
from llada_tui.core.trace_writer import TraceWriter


def batch_key(header: Header) -> Hashable | None:
    """What runs must share to share a forward; None for a run that samples alone."""
    params = SamplingParams.from_header(header.params)
    if not (params.fixed_steps or (params.cache != "none" and params.threshold is None)):
        return None
    shared = tuple(sorted((key, value) for key, value in header.params.items() if key != "seed"))
    return len(header.prompt_ids), shared


def record_batch(
    engine: Engine,
    headers: list[Header],
    paths: list[Path],
    on_step: Callable[[int, Step], None] | None = None,
    overwrite: bool = False,
) -> list[End]:
    """Sample every header's run in one batch (their batch_key must be equal), each row written to
    its path as it happens; returns each row's end. As core/recording.py's record_run, row by row:
    errors end every trace as "error" and propagate, StopSampling from `on_step(row, step)` as
    "interrupted"; the steps recorded so far stay in the files."""
    keys = {batch_key(header) for header in headers}
    if len(keys) != 1 or None in keys:
        raise ValueError("a batch's runs must share their prompt length and every parameter but the seed")
    writers: list[TraceWriter] = []
    ends: list[End] | None = None
    started = time.perf_counter()
    try:
        for header, path in zip(headers, paths):
            writers.append(TraceWriter(path, header, engine.tokenizer.token_text, overwrite=overwrite))
        params = [SamplingParams.from_header(header.params) for header in headers]
        first = params[0]
        prompt = torch.tensor([header.prompt_ids for header in headers], device=engine.device)
        rows = dict(
            row_recorders=[row_recorder(row, writer, on_step) for row, writer in enumerate(writers)],
            generators=[torch.Generator(engine.device).manual_seed(run.seed) for run in params],
        )
        output = sample(engine.predictor, prompt, first, rows=rows)
        total_ms = elapsed_ms(started)
        ends = []
        for row in output[:, prompt.shape[1] :].tolist():
            text = engine.tokenizer.decode(row, skip_special_tokens=True)
            ends.append(End(status="complete", final_ids=row, final_text=text, total_ms=total_ms))
        return ends
    except (StopSampling, KeyboardInterrupt):
        ends = [End("interrupted", [], message="cancelled by the user", total_ms=elapsed_ms(started))] * len(writers)
        raise
    except Exception as error:
        ends = [End("error", [], message=one_line(error), total_ms=elapsed_ms(started))] * len(writers)
        raise
    finally:
        for writer, end in zip(writers, ends or [None] * len(writers)):
            writer.close(end)


def row_recorder(row: int, writer: TraceWriter, on_step: Callable[[int, Step], None] | None) -> Callable[[Step], None]:
    def record(step: Step) -> None:
        written = writer.write_step(step)
        if on_step is not None:
            on_step(row, written)

    return record
