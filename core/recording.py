"""One sampling run written to a trace: what `llada-tui record` and `llada-tui live` share.

Needs torch (imported by the commands that record, never by the player).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from llada_tui.core.cached import generate_cached
from llada_tui.core.checkpoint import resolve_checkpoint, sampling_defaults
from llada_tui.core.fast import FastLLaDA
from llada_tui.core.llada import LLaDAModel
from llada_tui.core.loading import Progress, load_model
from llada_tui.core.options import SamplingOptions
from llada_tui.core.params import SamplingParams
from llada_tui.core.predictor import Predictor
from llada_tui.core.records import VARIABLE_STEPS_VERSION, VERSION, End, Header, Step
from llada_tui.core.sampler import StopSampling, generate
from llada_tui.core.step_capture import Recorder
from llada_tui.core.threshold import generate_threshold
from llada_tui.core.tokenizer import LLaDATokenizer, encode_prompt, load_tokenizer
from llada_tui.core.trace_writer import TraceWriter
from llada_tui.core.wino import generate_wino


@dataclass
class Engine:
    """A loaded model with its tokenizer and where it came from; `predictor` is what samples
    (the model, or on CUDA its fast path)."""

    model: LLaDAModel
    predictor: Predictor
    tokenizer: LLaDATokenizer
    name: str
    device: str
    dtype: str
    defaults: dict[str, int] = field(default_factory=dict)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_engine(
    model: str | None,
    device: str | None = None,
    dtype: str | None = None,
    progress: Progress | None = None,
    compile: bool = False,
) -> Engine:
    """Resolve a model name (None: the embedded demo model), load weights and tokenizer.

    On CUDA the model samples through its fast path (CUDA graphs over its own forward, optionally
    torch.compile; see core/fast.py).
    """
    path = resolve_checkpoint(model)
    device = device or default_device()
    torch_dtype = getattr(torch, dtype) if dtype else None
    llada = load_model(path, device=device, dtype=torch_dtype, progress=progress)
    tokenizer = load_tokenizer(path)
    return Engine(
        model=llada,
        predictor=FastLLaDA(llada, compile=compile) if device == "cuda" else llada,
        tokenizer=tokenizer,
        name=model or "demo",
        device=device,
        dtype=str(next(llada.parameters()).dtype).removeprefix("torch."),
        defaults=sampling_defaults(path),
    )


def resolve_params(engine: Engine, options: SamplingOptions) -> SamplingParams:
    """The full parameter set of a run: the options, the checkpoint's defaults, the tokenizer's ids."""
    tokenizer = engine.tokenizer
    return SamplingParams.resolve(
        options, engine.defaults, mask_id=tokenizer.mask_id, eos_id=tokenizer.eos_id, eot_id=tokenizer.eot_id
    )


def make_header(engine: Engine, prompt: str, params: SamplingParams) -> Header:
    """The trace header of a run; raises ValueError for parameters the sampler would refuse."""
    tokenizer = engine.tokenizer
    header = Header(
        prompt_text=prompt,
        prompt_ids=encode_prompt(
            tokenizer, prompt, chat_template=params.chat_template, parse_special=params.parse_special
        ),
        model={
            "name": engine.name,
            "config": engine.model.config.summary(),
            "dtype": engine.dtype,
            "device": engine.device,
        },
        params=params.as_header(),
        special_ids=sorted(tokenizer.special_ids),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        version=VERSION if params.fixed_steps else VARIABLE_STEPS_VERSION,
    )
    if not header.prompt_ids:  # the options were checked when resolved; the prompt is what is left
        raise ValueError("the prompt is empty")
    return header


def record_run(
    engine: Engine,
    header: Header,
    path: str | Path,
    on_step: Callable[[Step], None] | None = None,
    on_header: Callable[[Header], None] | None = None,
    overwrite: bool = False,
) -> End:
    """Sample with the header's parameters, writing every step to `path` as it happens.

    `on_header` gets the header as written; `on_step` sees each step after it is on disk, as
    written (with the token texts it brought); raising StopSampling there cancels the run
    at that step boundary (the trace then ends as "interrupted"). Errors while sampling end
    the trace as "error" and propagate; the steps recorded so far stay in the file.
    An existing file raises FileExistsError unless `overwrite`.
    """
    params = SamplingParams.from_header(header.params)
    writer = TraceWriter(path, header, engine.tokenizer.token_text, overwrite=overwrite)
    if on_header is not None:
        on_header(writer.header)

    def recorder(step: Step) -> None:
        written = writer.write_step(step)
        if on_step is not None:
            on_step(written)

    prompt = torch.tensor([header.prompt_ids], device=engine.device)
    started = time.perf_counter()
    end: End | None = None
    try:
        torch.manual_seed(params.seed)
        output = sample(engine.predictor, prompt, params, recorder)
        final_ids = output[0, prompt.shape[1] :].tolist()
        end = End(
            status="complete",
            final_ids=final_ids,
            final_text=engine.tokenizer.decode(final_ids, skip_special_tokens=True),
            total_ms=elapsed_ms(started),
        )
        return end
    except (StopSampling, KeyboardInterrupt):
        end = End("interrupted", [], message="cancelled by the user", total_ms=elapsed_ms(started))
        raise
    except Exception as error:  # any failure: keep what was recorded, say why it stopped
        end = End("error", [], message=one_line(error), total_ms=elapsed_ms(started))
        raise
    finally:
        writer.close(end)


def sample(
    predictor: Predictor,
    prompt: Tensor,
    params: SamplingParams,
    recorder: Recorder | None = None,
    rows: Mapping[str, Sequence] | None = None,
) -> Tensor:
    """The run's sampler, as its parameters name it; returns the whole sequence [B, P + gen_length].

    A batch (B > 1) gives `rows` instead of a recorder: `row_recorders` and `generators`, one per
    row; only samplers whose schedule is fixed in advance take them (core/batch_recording.py).
    """
    shared = dict(
        gen_length=params.gen_length,
        block_length=params.block_length,
        temperature=params.temperature,
        mask_id=params.mask_id,
        recorder=recorder,
        topk=params.topk,
        **(rows or {}),
    )
    if params.sampler == "wino":
        return generate_wino(
            predictor, prompt, threshold=params.threshold, threshold_back=params.threshold_back, **shared
        )[0]
    # Where the sampler decides its own steps, any valid count will do (gen_length is one).
    steps = params.steps if params.steps is not None else params.gen_length
    if params.cache != "none":
        return generate_cached(
            predictor,
            prompt,
            steps,
            remasking=params.remasking,
            threshold=params.threshold,
            cache=params.cache,
            **shared,
        )[0]
    if params.sampler == "threshold":
        return generate_threshold(
            predictor, prompt, steps, remasking=params.remasking, threshold=params.threshold, **shared
        )[0]
    return generate(
        predictor,
        prompt,
        steps=steps,
        cfg_scale=params.cfg_scale,
        remasking=params.remasking,
        logits_eos_inf=params.logits_eos_inf,
        confidence_eos_eot_inf=params.confidence_eos_eot_inf,
        eos_id=params.eos_id,
        eot_id=params.eot_id,
        **shared,
    )


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


OUT_OF_MEMORY_ADVICE = "out of GPU memory: try a shorter --gen-length, --dtype bfloat16, or --device cpu"


def is_out_of_memory(error: BaseException) -> bool:
    return type(error).__name__ == "OutOfMemoryError" or "out of memory" in str(error).lower()
