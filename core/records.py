"""The records of a trace (header, steps, end) and what a run may be, for writers and readers alike.

A trace is a stream of records: one header, one per sampler step, one end record; how they are
laid out on disk is core/trace_codec.py's business (and docs/trace-format.md's). Nothing here
imports torch or msgpack.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

FORMAT = "llada-trace"
# (major, minor): readers refuse a newer major, accept any minor. A run of LLaDA's reference
# sampler (a fixed number of steps) is written as 1.0, as it always was; a run whose sampler
# decides its own steps (or revises tokens, or caches) as 2.0, which 1.x readers refuse.
VERSION = (1, 0)
VARIABLE_STEPS_VERSION = (2, 0)
FORWARDS = ("full", "cached")  # what a step's forward was (format 2)
REVISING_SAMPLERS = ("wino",)

# What a run may be, for the writer and the reader alike (the CLI refuses larger options).
# LLaDA-8B sees 4096 tokens; these leave room for longer models and keep the player interactive.
MAX_GEN_LENGTH = 1 << 15
MAX_STEPS = 1 << 15
MAX_TOPK = 64  # candidates per masked position
MAX_TOKEN_TEXT_CHARS = 1024  # longer than any real token's display text; the writer clips longer ones
MAX_TOKEN_ID = (1 << 31) - 1  # token ids are non-negative int32
SEED_RANGE = (-(1 << 63), (1 << 64) - 1)  # what torch.manual_seed takes


class TraceError(Exception):
    """A trace that cannot be read; the message is one line meant for the user."""


class NewerVersionError(TraceError):
    """A trace written by a newer llada-tui, in a format this one cannot read."""


@dataclass(frozen=True)
class Candidates:
    """The model's top-k guesses for masked positions, from one step's forward pass.

    `ids` and `probs` are row-major [len(positions), k].
    """

    positions: array  # int32, positions relative to the first generated token
    ids: array  # int32
    probs: array  # float32
    k: int

    def row(self, i: int) -> list[tuple[int, float]]:
        start = i * self.k
        return list(zip(self.ids[start : start + self.k], self.probs[start : start + self.k]))


@dataclass(frozen=True)
class Step:
    """What one sampler step did: the positions whose token changed, and what to.

    For LLaDA's own sampler every change is a commit (mask -> token); an id equal to the
    header's mask id means the position was masked again (remasking samplers).
    `candidates` are the predictions made by this step's forward pass, i.e. on the sequence
    as it was before this step changed anything.
    `texts` are the display texts of the tokens this step's ids and candidates use for the first
    time in the run, as the writer wrote them (a step from the sampler has none).
    """

    index: int
    block: int
    positions: array  # int32
    ids: array  # int32
    confidences: array  # float32, softmax probability of the new token
    wall_ms: float
    candidates: Candidates | None = None
    texts: Mapping[int, str] = field(default_factory=dict)
    forward: str | None = None  # "full" or "cached" (a KV cache); None in format 1, where every forward is full


@dataclass(frozen=True)
class Header:
    """What was run. Never changes once made: its maps are read-only views of copies, its id lists tuples."""

    prompt_text: str  # what the user typed
    prompt_ids: tuple[int, ...]  # what the model saw (chat template applied or not)
    model: Mapping[str, Any]  # name, config summary, dtype, device
    params: Mapping[str, Any]  # sampling parameters (see docs/trace-format.md)
    token_texts: Mapping[int, str] = field(default_factory=dict)  # those in the header record
    special_ids: tuple[int, ...] = ()  # skipped when decoding the answer
    created: str = ""
    version: tuple[int, int] = VERSION

    def __post_init__(self) -> None:
        for name in ("model", "params", "token_texts"):  # frozen: set the copies the only way there is
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        object.__setattr__(self, "prompt_ids", tuple(self.prompt_ids))
        object.__setattr__(self, "special_ids", tuple(self.special_ids))

    @property
    def gen_length(self) -> int:
        return self.params["gen_length"]

    @property
    def total_steps(self) -> int | None:
        """The run's steps, where the sampler fixes them (format 1); None where it decides as it goes."""
        return self.params["steps"] if self.version[0] < 2 else None

    @property
    def sampler(self) -> str:
        return self.params.get("sampler", "reference")

    @property
    def revises(self) -> bool:
        """Whether the sampler may change or re-mask a token it wrote."""
        return self.sampler in REVISING_SAMPLERS

    @property
    def approximate(self) -> bool:
        """A run with a KV cache: an approximation of its uncached sampler."""
        return self.params.get("cache", "none") != "none"

    @property
    def block_length(self) -> int:
        return self.params["block_length"]

    @property
    def mask_id(self) -> int:
        return self.params["mask_id"]


@dataclass(frozen=True)
class End:
    status: str  # "complete", "interrupted" or "error"
    final_ids: list[int]
    message: str = ""
    total_ms: float = 0.0
    final_text: str = ""  # decoded by the tokenizer, special tokens skipped
