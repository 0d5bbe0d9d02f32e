"""A run's complete sampling parameters: what the header records and the sampler is given.

`SamplingOptions` (core/options.py) is what the user typed, None meaning "the checkpoint's
default"; `SamplingParams` is the resolved, checked, complete set. It becomes a dict only at the
file boundary (the trace header), in the field order traces have always had.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from llada_tui.core.options import SamplingOptions, check_options


@dataclass(frozen=True)
class SamplingParams:
    steps: int
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

    @classmethod
    def resolve(
        cls, options: SamplingOptions, defaults: dict[str, int], *, mask_id: int, eos_id: int, eot_id: int | None
    ) -> SamplingParams:
        """The options with the lengths the user left out taken from `defaults`, checked (OptionError)."""
        resolved = options.with_lengths(defaults)
        check_options(resolved)
        return cls(**asdict(resolved), mask_id=mask_id, eos_id=eos_id, eot_id=eos_id if eot_id is None else eot_id)

    @classmethod
    def from_header(cls, params: dict[str, Any]) -> SamplingParams:
        """The parameters a trace header holds (written by `as_header`); KeyError if one is missing."""
        return cls(**{field.name: params[field.name] for field in fields(cls)})

    def as_header(self) -> dict[str, Any]:
        return asdict(self)
