"""A run's options as the user gave them, and the one place they are checked.

`record`, `live` and the sampler all check numbers here, so a bad option is refused with the
same one-line message everywhere, before any model is loaded where the option alone tells.
Nothing here imports torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from llada_tui.core.records import MAX_GEN_LENGTH, MAX_STEPS, MAX_TOPK

REMASKING = ("low_confidence", "random")
SAMPLERS = ("reference", "threshold", "wino")
CACHES = ("none", "prefix", "dual")
WINO_THRESHOLDS = (0.6, 0.9)  # WINO's defaults for threshold and threshold_back
MAX_SEED = 2**64 - 1  # torch.manual_seed takes a 64-bit seed
MAX_THREADS = 1024
MAX_PROMPT_CHARS = 1 << 20


class OptionError(ValueError):
    """An option or prompt the sampler cannot run with; the message is one line for the user."""


@dataclass(frozen=True)
class SamplingOptions:
    """Sampling parameters as the user gave them; None means "the checkpoint's default"."""

    steps: int | None = None
    gen_length: int | None = None
    block_length: int | None = None
    temperature: float = 0.0
    cfg_scale: float = 0.0
    remasking: str = "low_confidence"
    logits_eos_inf: bool = False
    confidence_eos_eot_inf: bool = False
    seed: int = 0
    topk: int = 5
    chat_template: bool = True
    parse_special: bool = False  # special tokens typed in the prompt count as control tokens
    sampler: str = "reference"
    threshold: float | None = None  # threshold / wino: None = the sampler's default
    threshold_back: float | None = None  # wino only
    cache: str = "none"  # Fast-dLLM's prefix or dual KV cache (reference step counts, or threshold)

    @property
    def fixed_steps(self) -> bool:
        return fixed_steps(self.sampler, self.cache)

    @property
    def uses_steps(self) -> bool:
        return uses_steps(self.sampler, self.threshold)

    def with_lengths(self, defaults: dict[str, int]) -> SamplingOptions:
        """These options with every length the user left out taken from `defaults`."""
        return replace(
            self,
            steps=self.steps if self.steps is not None else defaults["steps"],
            gen_length=self.gen_length if self.gen_length is not None else defaults["gen_length"],
            block_length=self.block_length if self.block_length is not None else defaults["block_length"],
        )


def fixed_steps(sampler: str, cache: str) -> bool:
    """Whether a run takes exactly `steps` steps: LLaDA's reference sampler without a cache."""
    return sampler == "reference" and cache == "none"


def uses_steps(sampler: str, threshold: float | None) -> bool:
    """Whether `steps` matters: the reference's schedule says how many tokens a step commits."""
    return sampler == "reference" or (sampler == "threshold" and threshold is None)


def check_prompt(prompt: str) -> None:
    if not prompt.strip():
        raise OptionError("the prompt is empty")
    check_prompt_text(prompt)


def check_prompt_text(text: str) -> None:
    """Text a tokenizer may be given: bounded, and Unicode that UTF-8 can hold."""
    if len(text) > MAX_PROMPT_CHARS:
        raise OptionError(f"the prompt has {len(text)} characters, more than {MAX_PROMPT_CHARS}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8 arrive from the command line as lone surrogates
        raise OptionError("the prompt is not valid UTF-8 text") from None


def _check_int(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(f"{name} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise OptionError(f"{name} must be between {low} and {high}, got {value}")


def _check_float(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise OptionError(f"{name} must be a finite number, got {value!r}")
    if value < 0:
        raise OptionError(f"{name} must be 0 or more, got {value}")


def check_options(options: SamplingOptions) -> None:
    """Everything that can be checked without the model; lengths only as far as they are given."""
    check_sampler(options)
    _check_float("temperature", options.temperature)
    _check_float("cfg_scale", options.cfg_scale)
    if options.remasking not in REMASKING:
        raise OptionError(f"unknown remasking {options.remasking!r}; choose one of {', '.join(REMASKING)}")
    _check_int("seed", options.seed, 0, MAX_SEED)
    _check_int("topk", options.topk, 0, MAX_TOPK)
    given = {
        "steps": (options.steps, MAX_STEPS),
        "gen_length": (options.gen_length, MAX_GEN_LENGTH),
        "block_length": (options.block_length, MAX_GEN_LENGTH),
    }
    for name, (value, high) in given.items():
        if value is not None:
            _check_int(name, value, 1, high)
    if None not in (options.steps, options.gen_length, options.block_length):
        if options.uses_steps:
            check_lengths(options.steps, options.gen_length, options.block_length)
        else:
            check_blocks(options.gen_length, options.block_length)


def check_sampler(options: SamplingOptions) -> None:
    """The sampler, its thresholds and the cache, and the options each source has no place for."""
    if options.sampler not in SAMPLERS:
        raise OptionError(f"unknown sampler {options.sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if options.cache not in CACHES:
        raise OptionError(f"unknown cache {options.cache!r}; choose one of {', '.join(CACHES)}")
    for name in ("threshold", "threshold_back"):
        value = getattr(options, name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1
        ):
            raise OptionError(f"{name} must be between 0 and 1, got {value!r}")
    if options.sampler == "reference" and options.threshold is not None:
        raise OptionError("--threshold needs --sampler threshold or wino")
    if options.sampler != "wino" and options.threshold_back is not None:
        raise OptionError("--threshold-back needs --sampler wino")
    if options.sampler == "wino" and options.cache != "none":
        raise OptionError("wino runs without a KV cache (its shadow block changes every forward)")
    if options.fixed_steps:
        return
    what = f"--sampler {options.sampler}" if options.cache == "none" else f"--cache {options.cache}"
    refused = {
        "--cfg-scale": options.cfg_scale != 0,
        "--logits-eos-inf": options.logits_eos_inf,
        "--confidence-eos-eot-inf": options.confidence_eos_eot_inf,
        "--remasking random": options.sampler == "wino" and options.remasking == "random",
    }
    for flag, given in refused.items():
        if given:
            raise OptionError(f"{flag} is not part of {what} (its source has no such option)")


def check_blocks(gen_length: int, block_length: int) -> None:
    """Whole blocks: the rule every sampler shares."""
    _check_int("gen_length", gen_length, 1, MAX_GEN_LENGTH)
    _check_int("block_length", block_length, 1, MAX_GEN_LENGTH)
    if gen_length % block_length:
        raise OptionError(f"gen_length ({gen_length}) must be a multiple of block_length ({block_length})")


def check_lengths(steps: int, gen_length: int, block_length: int) -> None:
    """The reference sampler's rules: whole blocks, the same number of steps in each, a token or more per step."""
    _check_int("steps", steps, 1, MAX_STEPS)
    check_blocks(gen_length, block_length)
    num_blocks = gen_length // block_length
    if steps % num_blocks:
        raise OptionError(f"steps ({steps}) must be a multiple of the number of blocks ({num_blocks})")
    if steps > gen_length:
        raise OptionError(f"steps ({steps}) must not exceed gen_length ({gen_length})")


def check_threads(threads: int | None) -> None:
    if threads is not None:
        _check_int("threads", threads, 1, MAX_THREADS)
