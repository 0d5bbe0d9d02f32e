"""A run's complete sampling parameters: what the header records and the sampler is given.

`SamplingOptions` (core/options.py) is what the user typed, None meaning "the checkpoint's
default"; `SamplingParams` is the resolved, checked, complete set. It becomes a dict only at the
file boundary (the trace header), in the field order traces have always had.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from llada_tui.core.options import WINO_THRESHOLDS, SamplingOptions, check_options, fixed_steps, uses_steps

# Keys a header holds only for the samplers beyond the reference (traces of format 2).
SAMPLER_KEYS = ("sampler", "threshold", "threshold_back", "cache")


@dataclass(frozen=True)
class SamplingParams:
    steps: int | None  # None where the sampler decides its own steps
    gen_length: int
    block_length: int
    temperature: float
    cfg_scale: float
    remasking: str
    logits_eos_inf: bool
    confidence_eos_eot_inf: bool
    seed: int
    topk: int
    chat_template: bool
    parse_special: bool
    mask_id: int
    eos_id: int
    eot_id: int  # EOS where the tokenizer has no <|eot_id|>: the EOS/EOT option then concerns EOS alone
    sampler: str = "reference"
    threshold: float | None = None
    threshold_back: float | None = None
    cache: str = "none"

    @property
    def fixed_steps(self) -> bool:
        return fixed_steps(self.sampler, self.cache)

    @property
    def approximate(self) -> bool:
        """A cached run: its kept keys and values are stale between block starts."""
        return self.cache != "none"

    @classmethod
    def resolve(
        cls, options: SamplingOptions, defaults: dict[str, int], *, mask_id: int, eos_id: int, eot_id: int | None
    ) -> SamplingParams:
        """The options with the lengths the user left out taken from `defaults`, checked (OptionError)."""
        resolved = options.with_lengths(defaults)
        check_options(resolved)
        if resolved.sampler == "wino":
            threshold, threshold_back = WINO_THRESHOLDS
            resolved = replace(
                resolved,
                threshold=threshold if resolved.threshold is None else resolved.threshold,
                threshold_back=threshold_back if resolved.threshold_back is None else resolved.threshold_back,
            )
        if not uses_steps(resolved.sampler, resolved.threshold):
            resolved = replace(resolved, steps=None)
        return cls(**asdict(resolved), mask_id=mask_id, eos_id=eos_id, eot_id=eos_id if eot_id is None else eot_id)

    @classmethod
    def from_header(cls, params: dict[str, Any]) -> SamplingParams:
        """The parameters a trace header holds (written by `as_header`); KeyError if one is missing."""
        optional = {name: params[name] for name in SAMPLER_KEYS if name in params}
        return cls(
            **{field.name: params[field.name] for field in fields(cls) if field.name not in SAMPLER_KEYS}, **optional
        )

    def as_header(self) -> dict[str, Any]:
        """The header's params: a reference run's as traces have always held them, others' with the sampler's keys."""
        params = asdict(self)
        if self.fixed_steps:
            for name in SAMPLER_KEYS:
                del params[name]
        return params
