"""Trace format v1 on disk: records to msgpack maps and back, every field of a read record checked.

Bulk per-step data (positions, ids, probabilities) are little-endian int32 / float32 byte
strings, not msgpack arrays, so a step of 4096 positions decodes in microseconds. The layout is
written down in docs/trace-format.md.
"""

from __future__ import annotations

import math
import sys
import time
from array import array
from collections.abc import Iterable
from typing import Any

from llada_tui.core.msgpack_fields import KINDS, FieldMap
from llada_tui.core.options import OptionError, check_blocks, check_lengths
from llada_tui.core.records import (
    FORMAT,
    FORWARDS,
    MAX_GEN_LENGTH,
    MAX_STEPS,
    MAX_TOKEN_ID,
    MAX_TOKEN_TEXT_CHARS,
    MAX_TOPK,
    SEED_RANGE,
    VARIABLE_STEPS_VERSION,
    Candidates,
    End,
    Header,
    NewerVersionError,
    Step,
    TraceError,
)

MAX_CREATED_CHARS = 64
MAX_STATUS_CHARS = 64  # a record's type, the header's format, the end's status


def _i32(values: Iterable[int]) -> bytes:
    packed = array("i", values)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def _f32(values: Iterable[float]) -> bytes:
    packed = array("f", values)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def encode_header(header: Header) -> dict[str, Any]:
    ids = sorted(header.token_texts)
    return {
        "type": "header",
        "format": FORMAT,
        "version": list(header.version),
        "created": header.created or time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "prompt": {"text": header.prompt_text, "ids": _i32(header.prompt_ids)},
        "model": dict(header.model),
        "params": dict(header.params),
        "texts": {"ids": _i32(ids), "texts": [header.token_texts[i] for i in ids]},
        "special_ids": _i32(header.special_ids),
    }


def encode_step(step: Step) -> dict[str, Any]:
    record: dict[str, Any] = {
        "type": "step",
        "step": step.index,
        "block": step.block,
        "pos": _i32(step.positions),
        "ids": _i32(step.ids),
        "conf": _f32(step.confidences),
        "wall_ms": float(step.wall_ms),
    }
    if step.candidates is not None:
        c = step.candidates
        record["topk"] = {"k": c.k, "pos": _i32(c.positions), "ids": _i32(c.ids), "probs": _f32(c.probs)}
    if step.texts:
        ids = sorted(step.texts)
        record["texts"] = {"ids": _i32(ids), "texts": [step.texts[i] for i in ids]}
    if step.forward is not None:
        record["forward"] = step.forward
    return record


def encode_end(end: End) -> dict[str, Any]:
    return {
        "type": "end",
        "status": end.status,
        "final_ids": _i32(end.final_ids),
        "message": end.message,
        "total_ms": float(end.total_ms),
        "final_text": end.final_text,
    }


def _check_ids(values: array, what: str) -> None:
    if values and min(values) < 0:
        raise TraceError(f"{what}: a token id is negative")


def _check_positions(values: array, gen_length: int, what: str) -> None:
    if values and (min(values) < 0 or max(values) >= gen_length):
        raise TraceError(f"{what}: a position lies outside the generated region")
    if len(set(values)) != len(values):
        raise TraceError(f"{what}: a position appears twice")


def _check_probabilities(values: array, what: str) -> None:
    if values and not (all(map(math.isfinite, values)) and min(values) >= 0.0 and max(values) <= 1.0):
        raise TraceError(f"{what}: a probability is not a number in [0, 1]")


def _decode_texts(texts: FieldMap | None) -> dict[int, str]:
    if texts is None:
        return {}
    ids = texts.packed("ids", "i")
    _check_ids(ids, texts.what)
    if len(set(ids)) != len(ids):
        raise TraceError(f"{texts.what}: a token id has two texts")
    return dict(zip(ids, texts.strings("texts", len(ids), MAX_TOKEN_TEXT_CHARS)))


HEADER_KEYS = ("type", "format", "version", "created", "prompt", "model", "params", "texts", "special_ids")
TEXTS_KEYS = ("ids", "texts")


def decode_header(record: FieldMap) -> Header:
    version = record.json_like("version", "header version")
    if not (isinstance(version, list) and len(version) == 2 and all(type(v) is int for v in version)):
        raise TraceError("header: version is malformed")
    if version[0] > VARIABLE_STEPS_VERSION[0]:
        raise NewerVersionError(
            f"trace format version {version[0]}.{version[1]} is newer than this llada-tui reads "
            f"({VARIABLE_STEPS_VERSION[0]}.x); upgrade llada-tui"
        )
    prompt = record.map("prompt", ("text", "ids"), "header prompt")
    if prompt is None:
        raise TraceError("header: field 'prompt' is missing")
    prompt_ids = prompt.packed("ids", "i")
    _check_ids(prompt_ids, "header prompt")
    model = record.json_like("model", "header model", default={})
    params = record.json_like("params", "header params")
    if not isinstance(model, dict) or not isinstance(params, dict):
        raise TraceError("header: model and params must be maps")
    _check_params(params, variable_steps=version[0] >= VARIABLE_STEPS_VERSION[0])
    special_ids = record.packed("special_ids", "i", optional=True)
    _check_ids(special_ids, "header special ids")
    return Header(
        prompt_text=prompt.string("text"),
        prompt_ids=tuple(prompt_ids),
        model=model,
        params=params,
        token_texts=_decode_texts(record.map("texts", TEXTS_KEYS, "header texts")),
        special_ids=tuple(special_ids),
        created=record.string("created", max_chars=MAX_CREATED_CHARS, default=""),
        version=(version[0], version[1]),
    )


def _check_params(params: dict[str, Any], variable_steps: bool) -> None:
    """The sampling parameters, in the ranges the samplers run with (see core/options.py).

    In format 1 the reference's step rules hold; in format 2 `steps` may be nil (the sampler
    decided its own) and the sampler's name and thresholds are there.
    """

    def check(key: str, kinds: tuple[type, ...], low: float | None = None, high: float | None = None) -> None:
        value = params.get(key)
        if type(value) not in kinds:
            raise TraceError(f"header params: {key!r} is missing or has the wrong type")
        if low is not None and not low <= value <= high:
            raise TraceError(f"header params: {key!r} is {value}, outside [{low}, {high}]")

    check("gen_length", (int,), 1, MAX_GEN_LENGTH)
    gen_length = params["gen_length"]
    check("block_length", (int,), 1, gen_length)
    if variable_steps:
        check("sampler", (str,))
        if params.get("steps") is not None:
            check("steps", (int,), 1, MAX_STEPS)
        for key in ("threshold", "threshold_back"):
            if params.get(key) is not None:
                check(key, (int, float), 0, 1)
        if params.get("cache") is not None:
            check("cache", (str,))
    else:
        check("steps", (int,), 1, MAX_STEPS)
    try:  # the samplers' own block rules, as the CLI applies them
        if variable_steps:
            check_blocks(gen_length, params["block_length"])
        else:
            check_lengths(params["steps"], gen_length, params["block_length"])
    except OptionError as error:
        raise TraceError(f"header params: {error}") from None
    check("mask_id", (int,), 0, MAX_TOKEN_ID)
    check("remasking", (str,))
    check("temperature", (int, float), 0, math.inf)
    check("cfg_scale", (int, float), 0, math.inf)
    optional = {"eos_id": (0, MAX_TOKEN_ID), "eot_id": (0, MAX_TOKEN_ID), "topk": (0, MAX_TOPK), "seed": SEED_RANGE}
    for key, (low, high) in optional.items():  # absent or nil: not recorded
        if params.get(key) is not None:
            check(key, (int,), low, high)
    for key in ("logits_eos_inf", "confidence_eos_eot_inf", "chat_template"):
        if params.get(key) is not None:
            check(key, (bool,))


STEP_KEYS = ("type", "step", "block", "pos", "ids", "conf", "wall_ms", "topk", "texts", "forward")
TOPK_KEYS = ("k", "pos", "ids", "probs")


def decode_step(record: FieldMap, header: Header, expected_index: int) -> Step:
    what = record.what
    index = record.integer("step", 0, MAX_STEPS)
    if index != expected_index:
        raise TraceError(f"{what}: out of order (says {index})")
    gen_length = header.gen_length
    block = record.integer("block", 0, gen_length // header.block_length - 1)
    positions = record.packed("pos", "i")
    ids = record.packed("ids", "i")
    confidences = record.packed("conf", "f")
    if not len(positions) == len(ids) == len(confidences):
        raise TraceError(f"{what}: positions, ids and confidences differ in length")
    _check_positions(positions, gen_length, what)
    _check_ids(ids, what)
    _check_probabilities(confidences, f"{what} confidences")
    candidates = None
    topk = record.map("topk", TOPK_KEYS, f"{what} top-k")
    if topk is not None:
        k = topk.integer("k", 1, MAX_TOPK)
        c_pos = topk.packed("pos", "i")
        c_ids = topk.packed("ids", "i")
        c_probs = topk.packed("probs", "f")
        if len(c_ids) != len(c_pos) * k or len(c_probs) != len(c_ids):
            raise TraceError(f"{what}: top-k arrays do not match")
        _check_positions(c_pos, gen_length, topk.what)
        _check_ids(c_ids, topk.what)
        _check_probabilities(c_probs, topk.what)
        candidates = Candidates(c_pos, c_ids, c_probs, k)
    return Step(
        index=index,
        block=block,
        positions=positions,
        ids=ids,
        confidences=confidences,
        wall_ms=record.number("wall_ms", 0.0, default=0.0),
        candidates=candidates,
        texts=_decode_texts(record.map("texts", TEXTS_KEYS, f"{what} texts")),
        forward=_decode_forward(record, header),
    )


def _decode_forward(record: FieldMap, header: Header) -> str | None:
    """Format 2's forward kind; a format-1 step's forward is full and unrecorded."""
    if header.version[0] < VARIABLE_STEPS_VERSION[0]:
        return None
    forward = record.string("forward", max_chars=MAX_STATUS_CHARS, default="full")
    if forward not in FORWARDS:
        raise TraceError(f"{record.what}: unknown forward {forward[:20]!r}")
    return forward


END_KEYS = ("type", "status", "final_ids", "message", "total_ms", "final_text")


def decode_end(record: FieldMap, header: Header, steps_read: int) -> End:
    end = End(
        status=record.string("status", max_chars=MAX_STATUS_CHARS),
        final_ids=list(record.packed("final_ids", "i", optional=True)),
        message=record.string("message", default=""),
        total_ms=record.number("total_ms", 0.0, default=0.0),
        final_text=record.string("final_text", default=""),
    )
    if min(end.final_ids, default=0) < 0:
        raise TraceError("end: a token id is negative")
    if end.status == "complete":
        if header.total_steps is not None and steps_read != header.total_steps:
            raise TraceError(f"the end record says complete after {steps_read} of {header.total_steps} steps")
        if steps_read == 0:
            raise TraceError("the end record says complete after no step")
        if len(end.final_ids) != header.gen_length:
            raise TraceError(f"the end record's answer has {len(end.final_ids)} of {header.gen_length} tokens")
    return end


def record_type(view: memoryview) -> str | None:
    """The "type" of a record, or None if it is not a map with a string type."""
    if KINDS[view[0]] != "map":
        return None
    try:
        return FieldMap(view, "record", ("type",)).string("type", max_chars=MAX_STATUS_CHARS)
    except TraceError:
        return None
