"""Trace format v1: record types, a writer, a reader for untrusted files, and a step index.

A trace is a stream of msgpack maps: one header, one record per sampler step, one end record.
Bulk per-step data (positions, ids, probabilities) are little-endian int32 / float32 byte
strings, not msgpack arrays, so a step of 4096 positions decodes in microseconds.
The layout is written down in docs/trace-format.md. Nothing here imports torch.
"""

from __future__ import annotations

import bisect
import math
import os
import secrets
import sys
import time
from array import array
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import msgpack

FORMAT = "llada-trace"
VERSION = (1, 0)  # (major, minor): readers refuse a newer major, accept any minor

# What a run may be, for the writer and the reader alike (the CLI refuses larger options).
# LLaDA-8B sees 4096 tokens; these leave room for longer models and keep the player interactive.
MAX_GEN_LENGTH = 1 << 15
MAX_STEPS = 1 << 15
MAX_TOPK = 64  # candidates per masked position
MAX_TOKEN_TEXT_CHARS = 1024  # longer than any real token's display text; the writer clips longer ones
MAX_TOKEN_ID = (1 << 31) - 1  # token ids are non-negative int32
SEED_RANGE = (-(1 << 63), (1 << 64) - 1)  # what torch.manual_seed takes

# Limits for files from strangers: no single record may ask for more than this. A step at the
# limits above (32768 positions, 64 candidates each) takes about 17 MiB.
MAX_RECORD_BYTES = 64 << 20
MAX_STR_BYTES = 4 << 20
MAX_KEYS = 1024  # in any map of the format
MAX_METADATA_BYTES = 64 << 10  # the header's free-form `model` and `params`, each
MAX_METADATA_DEPTH = 8
MAX_CREATED_CHARS = 64
MAX_STATUS_CHARS = 64  # a record's type, the header's format, the end's status
HEADER_COMPARED_BYTES = 64 << 10  # a follower re-reads this much of the header to notice a rewrite
READ_CHUNK = 1 << 20


class TraceError(Exception):
    """A trace that cannot be read; the message is one line meant for the user."""


class NewerVersionError(TraceError):
    """A trace written by a newer llada-tui, in a format this one cannot read."""


# ---------------------------------------------------------------------------- records


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
    """

    index: int
    block: int
    positions: array  # int32
    ids: array  # int32
    confidences: array  # float32, softmax probability of the new token
    wall_ms: float
    candidates: Candidates | None = None


@dataclass(frozen=True)
class Header:
    prompt_text: str  # what the user typed
    prompt_ids: list[int]  # what the model saw (chat template applied or not)
    model: dict[str, Any]  # name, config summary, dtype, device
    params: dict[str, Any]  # sampling parameters (see docs/trace-format.md)
    token_texts: dict[int, str] = field(default_factory=dict)
    special_ids: list[int] = field(default_factory=list)  # skipped when decoding the answer
    created: str = ""
    version: tuple[int, int] = VERSION

    @property
    def gen_length(self) -> int:
        return self.params["gen_length"]

    @property
    def total_steps(self) -> int:
        return self.params["steps"]

    @property
    def block_length(self) -> int:
        return self.params["block_length"]

    @property
    def mask_id(self) -> int:
        return self.params["mask_id"]

    @property
    def steps_per_block(self) -> int:
        return self.total_steps // max(1, self.gen_length // self.block_length)

    def decode(self, ids: Iterable[int]) -> str:
        """The answer as text from the recorded token texts, special and mask tokens skipped."""
        hidden = {self.mask_id, *self.special_ids}
        return "".join(self.token_texts.get(i, "") for i in ids if i not in hidden)


@dataclass(frozen=True)
class End:
    status: str  # "complete", "interrupted" or "error"
    final_ids: list[int]
    message: str = ""
    total_ms: float = 0.0
    final_text: str = ""  # decoded by the tokenizer, special tokens skipped


# ---------------------------------------------------------------------------- encoding


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


def _encode_header(header: Header) -> dict[str, Any]:
    ids = sorted(header.token_texts)
    return {
        "type": "header",
        "format": FORMAT,
        "version": list(header.version),
        "created": header.created or time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "prompt": {"text": header.prompt_text, "ids": _i32(header.prompt_ids)},
        "model": header.model,
        "params": header.params,
        "texts": {"ids": _i32(ids), "texts": [header.token_texts[i] for i in ids]},
        "special_ids": _i32(header.special_ids),
    }


def _encode_step(step: Step, new_texts: dict[int, str]) -> dict[str, Any]:
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
    if new_texts:
        ids = sorted(new_texts)
        record["texts"] = {"ids": _i32(ids), "texts": [new_texts[i] for i in ids]}
    return record


def _encode_end(end: End) -> dict[str, Any]:
    return {
        "type": "end",
        "status": end.status,
        "final_ids": _i32(end.final_ids),
        "message": end.message,
        "total_ms": float(end.total_ms),
        "final_text": end.final_text,
    }


# ---------------------------------------------------------------------------- decoding
#
# A record is decoded field by field. Each value's msgpack type is read from its first byte
# before anything is built from it, so a hostile value (millions of empty maps where a string
# belongs, an extension type, a bin string in the metadata) is refused, or skipped unread,
# without costing more memory than its bytes.


def _kind_of(first: int) -> str:
    """The msgpack type that a value starting with this byte has."""
    if first <= 0x7F or first >= 0xE0 or 0xCC <= first <= 0xD3:
        return "int"
    if first <= 0x8F or first in (0xDE, 0xDF):
        return "map"
    if first <= 0x9F or first in (0xDC, 0xDD):
        return "array"
    if first <= 0xBF or first in (0xD9, 0xDA, 0xDB):
        return "str"
    scalars = {0xC0: "nil", 0xC2: "bool", 0xC3: "bool", 0xC4: "bin", 0xC5: "bin", 0xC6: "bin"}
    return scalars.get(first, "float" if first in (0xCA, 0xCB) else "extension")  # 0xC1 is never used


_KINDS = tuple(_kind_of(first) for first in range(256))
_KIND_NAMES = {
    "int": "an integer",
    "map": "a map",
    "array": "an array",
    "str": "a string",
    "bin": "a bin string",
    "nil": "nil",
    "bool": "a boolean",
    "float": "a float",
    "extension": "a msgpack extension type",
}
_REQUIRED: Any = object()  # default of a field that must be present


def _refuse_ext(code: int, data: bytes) -> Any:
    raise TraceError("unexpected msgpack extension type")


class _Cursor:
    """Walks one complete msgpack value item by item, telling each item's type before decoding it.

    The value's bytes are fed to msgpack a chunk at a time, as it asks for them, so walking a
    large value costs a chunk of memory, not a copy of it.
    """

    def __init__(self, view: memoryview, what: str):
        self.what = what
        self._view = view
        self._fed = 0
        self._unpacker = msgpack.Unpacker(
            raw=False,
            unicode_errors="replace",
            ext_hook=_refuse_ext,
            max_buffer_size=MAX_RECORD_BYTES,
            max_str_len=MAX_STR_BYTES,
            max_bin_len=MAX_RECORD_BYTES,
        )

    def _run(self, operation: Callable[[], Any]) -> Any:
        while True:
            try:
                return operation()
            except msgpack.OutOfData:  # msgpack resumes where it stopped once fed more
                if self._fed >= len(self._view):
                    raise TraceError(f"{self.what}: a value ends early") from None
                self._unpacker.feed(self._view[self._fed : self._fed + READ_CHUNK])
                self._fed += READ_CHUNK
            except (ValueError, msgpack.UnpackException) as error:  # a string longer than MAX_STR_BYTES
                raise TraceError(f"{self.what}: a value is too large ({type(error).__name__})") from None

    def kind(self) -> str:
        return _KINDS[self._view[self._unpacker.tell()]]

    def expect(self, kind: str, what: str) -> None:
        found = self.kind()
        if found != kind:
            raise TraceError(f"{what} is {_KIND_NAMES[found]}, not {_KIND_NAMES[kind]}")

    def map_length(self) -> int:
        return self._run(self._unpacker.read_map_header)

    def array_length(self) -> int:
        return self._run(self._unpacker.read_array_header)

    def scalar(self) -> Any:
        """The next item, which the caller has checked is not a map, an array or an extension."""
        return self._run(self._unpacker.unpack)

    def skip(self) -> memoryview:
        """Pass over the next item without building it; its bytes."""
        start = self._unpacker.tell()
        self._run(self._unpacker.skip)
        return self._view[start : self._unpacker.tell()]

    def json_like(self, what: str, depth: int = 0) -> Any:
        """The next item as str, int, finite float, bool, None, or lists / string-keyed maps of those."""
        kind = self.kind()
        if kind in ("map", "array"):
            if depth >= MAX_METADATA_DEPTH:
                raise TraceError(f"{what} is nested more than {MAX_METADATA_DEPTH} deep")
            if kind == "array":
                return [self.json_like(what, depth + 1) for _ in range(self.array_length())]
            items = {}
            for _ in range(self.map_length()):
                self.expect("str", f"{what}: a key")
                key = self.scalar()
                items[key] = self.json_like(what, depth + 1)
            return items
        if kind in ("str", "int", "bool", "nil"):
            return self.scalar()
        if kind == "float":
            value = self.scalar()
            if not math.isfinite(value):
                raise TraceError(f"{what} holds {value}, not a finite number")
            return value
        raise TraceError(f"{what} holds {_KIND_NAMES[kind]}; only JSON-like values are allowed")


class _Map:
    """A map of the format: the values of the keys it knows, undecoded until asked for by type.

    Unknown keys (maybe from a newer minor version) are skipped without being decoded.
    """

    def __init__(self, view: memoryview, what: str, keys: Collection[str]):
        self.what = what
        cursor = _Cursor(view, what)
        cursor.expect("map", what)
        count = cursor.map_length()
        if count > MAX_KEYS:
            raise TraceError(f"{what} has {count} keys (at most {MAX_KEYS})")
        self._values: dict[str, memoryview] = {}
        for _ in range(count):
            cursor.expect("str", f"{what}: a key")
            key = cursor.scalar()
            value = cursor.skip()
            if key in keys:
                if key in self._values:
                    raise TraceError(f"{what}: field {key!r} appears twice")
                self._values[key] = value

    def _get(self, key: str, kinds: tuple[str, ...]) -> Any:
        view = self._values.get(key)
        if view is None:
            raise TraceError(f"{self.what}: field {key!r} is missing")
        kind = _KINDS[view[0]]
        if kind not in kinds:
            raise TraceError(f"{self.what}: field {key!r} has the wrong type ({_KIND_NAMES[kind]})")
        try:
            return msgpack.unpackb(view, raw=False, unicode_errors="replace", max_str_len=MAX_STR_BYTES)
        except ValueError:
            raise TraceError(f"{self.what}: field {key!r} is too large") from None

    def _absent(self, key: str, default: Any) -> bool:
        """True if the key is absent and may be: the caller then returns the default."""
        return key not in self._values and default is not _REQUIRED

    def integer(self, key: str, low: int, high: int, default: Any = _REQUIRED) -> int:
        if self._absent(key, default):
            return default
        value = self._get(key, ("int",))
        if not low <= value <= high:
            raise TraceError(f"{self.what}: field {key!r} is {value}, outside [{low}, {high}]")
        return value

    def number(self, key: str, low: float, high: float = math.inf, default: Any = _REQUIRED) -> float:
        if self._absent(key, default):
            return default
        value = self._get(key, ("int", "float"))
        if not (math.isfinite(value) and low <= value <= high):
            raise TraceError(f"{self.what}: field {key!r} is {value}, outside [{low}, {high}]")
        return float(value)

    def string(self, key: str, max_chars: int | None = None, default: Any = _REQUIRED) -> str:
        if self._absent(key, default):
            return default
        value = self._get(key, ("str",))
        if max_chars is not None and len(value) > max_chars:
            raise TraceError(f"{self.what}: field {key!r} is longer than {max_chars} characters")
        return value

    def packed(self, key: str, kind: str, optional: bool = False) -> array:
        """A bin string of little-endian 4-byte values, kind "i" (int32) or "f" (float32); optional: may be absent."""
        values = array(kind)
        if optional and key not in self._values:
            return values
        raw = self._get(key, ("bin",))
        if len(raw) % 4:
            raise TraceError(f"{self.what}: field {key!r} is not packed 4-byte values")
        values.frombytes(raw)
        if sys.byteorder == "big":
            values.byteswap()
        return values

    def map(self, key: str, keys: Collection[str], what: str) -> _Map | None:
        """A nested map of the format, or None if absent."""
        view = self._values.get(key)
        return None if view is None else _Map(view, what, keys)

    def json_like(self, key: str, what: str, default: Any = _REQUIRED) -> Any:
        """Free-form metadata (model, params): small, JSON-like, every float finite."""
        if self._absent(key, default):
            return default
        view = self._values.get(key)
        if view is None:
            raise TraceError(f"{self.what}: field {key!r} is missing")
        if len(view) > MAX_METADATA_BYTES:
            raise TraceError(f"{what} is larger than {MAX_METADATA_BYTES} bytes")
        return _Cursor(view, what).json_like(what)

    def strings(self, key: str, count: int, max_chars: int) -> list[str]:
        """A msgpack array of `count` strings of at most max_chars characters each."""
        view = self._values.get(key)
        if view is None:
            raise TraceError(f"{self.what}: field {key!r} is missing")
        cursor = _Cursor(view, self.what)
        cursor.expect("array", f"{self.what}: field {key!r}")
        if cursor.array_length() != count:
            raise TraceError(f"{self.what}: token texts and their ids differ in length")
        texts = []
        for _ in range(count):
            cursor.expect("str", f"{self.what}: a token text")
            text = cursor.scalar()
            if len(text) > max_chars:
                raise TraceError(f"{self.what}: a token text is longer than {max_chars} characters")
            texts.append(text)
        return texts


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


def _decode_texts(texts: _Map | None) -> dict[int, str]:
    if texts is None:
        return {}
    ids = texts.packed("ids", "i")
    _check_ids(ids, texts.what)
    if len(set(ids)) != len(ids):
        raise TraceError(f"{texts.what}: a token id has two texts")
    return dict(zip(ids, texts.strings("texts", len(ids), MAX_TOKEN_TEXT_CHARS)))


_HEADER_KEYS = ("type", "format", "version", "created", "prompt", "model", "params", "texts", "special_ids")
_TEXTS_KEYS = ("ids", "texts")


def _decode_header(record: _Map) -> Header:
    version = record.json_like("version", "header version")
    if not (isinstance(version, list) and len(version) == 2 and all(type(v) is int for v in version)):
        raise TraceError("header: version is malformed")
    if version[0] > VERSION[0]:
        raise NewerVersionError(
            f"trace format version {version[0]}.{version[1]} is newer than this llada-tui reads "
            f"({VERSION[0]}.x); upgrade llada-tui"
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
    _check_params(params)
    special_ids = record.packed("special_ids", "i", optional=True)
    _check_ids(special_ids, "header special ids")
    return Header(
        prompt_text=prompt.string("text"),
        prompt_ids=list(prompt_ids),
        model=model,
        params=params,
        token_texts=_decode_texts(record.map("texts", _TEXTS_KEYS, "header texts")),
        special_ids=list(special_ids),
        created=record.string("created", max_chars=MAX_CREATED_CHARS, default=""),
        version=(version[0], version[1]),
    )


def _check_params(params: dict[str, Any]) -> None:
    """The sampling parameters, in the ranges the sampler runs with (see core/sampler.py)."""

    def check(key: str, kinds: tuple[type, ...], low: float | None = None, high: float | None = None) -> None:
        value = params.get(key)
        if type(value) not in kinds:
            raise TraceError(f"header params: {key!r} is missing or has the wrong type")
        if low is not None and not low <= value <= high:
            raise TraceError(f"header params: {key!r} is {value}, outside [{low}, {high}]")

    check("steps", (int,), 1, MAX_STEPS)
    check("gen_length", (int,), 1, MAX_GEN_LENGTH)
    steps, gen_length = params["steps"], params["gen_length"]
    check("block_length", (int,), 1, gen_length)
    blocks, rest = divmod(gen_length, params["block_length"])
    if rest or steps % blocks or steps > gen_length:
        raise TraceError(
            "header params: gen_length must be a multiple of block_length, and steps a multiple of the "
            "number of blocks and at most gen_length"
        )
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


_STEP_KEYS = ("type", "step", "block", "pos", "ids", "conf", "wall_ms", "topk", "texts")
_TOPK_KEYS = ("k", "pos", "ids", "probs")


def _decode_step(record: _Map, header: Header, expected_index: int) -> tuple[Step, dict[int, str]]:
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
    topk = record.map("topk", _TOPK_KEYS, f"{what} top-k")
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
    step = Step(
        index=index,
        block=block,
        positions=positions,
        ids=ids,
        confidences=confidences,
        wall_ms=record.number("wall_ms", 0.0, default=0.0),
        candidates=candidates,
    )
    return step, _decode_texts(record.map("texts", _TEXTS_KEYS, f"{what} texts"))


_END_KEYS = ("type", "status", "final_ids", "message", "total_ms", "final_text")


def _decode_end(record: _Map, header: Header, steps_read: int) -> End:
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
        if steps_read != header.total_steps:
            raise TraceError(f"the end record says complete after {steps_read} of {header.total_steps} steps")
        if len(end.final_ids) != header.gen_length:
            raise TraceError(f"the end record's answer has {len(end.final_ids)} of {header.gen_length} tokens")
    return end


# ---------------------------------------------------------------------------- writing


def _clip_text(text: str) -> str:
    """A token text as written: at most MAX_TOKEN_TEXT_CHARS characters, the reader's limit."""
    return text if len(text) <= MAX_TOKEN_TEXT_CHARS else text[: MAX_TOKEN_TEXT_CHARS - 1] + "…"


class TraceWriter:
    """Appends records to a trace file, flushing after each so a reader can follow it.

    `token_text(id)` gives the display text of a token; each id's text is written once,
    with the first record that uses it, so replay never needs the tokenizer.

    The file is created exclusively: if it exists, FileExistsError, unless `overwrite`. Then the
    header goes to a new temporary file beside it that replaces the path at once, so whoever
    follows the old file sees it replaced instead of being fed this run's steps.
    A header the reader would refuse (lengths out of range, non-finite numbers, ...) is a
    ValueError, raised before any file is touched.
    """

    def __init__(
        self,
        path: str | Path,
        header: Header,
        token_text: Callable[[int], str],
        *,
        overwrite: bool = False,
    ):
        self.path = Path(path)
        self._token_text = token_text
        texts = {token_id: _clip_text(text) for token_id, text in header.token_texts.items()}
        for token_id in [*header.prompt_ids, header.mask_id]:
            if token_id not in texts:
                texts[token_id] = _clip_text(token_text(token_id))
        self.header = replace(header, token_texts=texts)
        self._packer = msgpack.Packer(use_bin_type=True)
        try:
            first = self._packer.pack(_encode_header(self.header))
            _decode_header(_Map(memoryview(first), "header", _HEADER_KEYS))
        except OverflowError:  # an int beyond msgpack's 64 bits
            raise ValueError("the trace header holds an integer too large to write") from None
        except TraceError as error:
            raise ValueError(f"the trace header would be unreadable: {error}") from None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] | None = self._create(first, overwrite)

    def _create(self, first: bytes, overwrite: bool) -> IO[bytes]:
        """The file, created exclusively (at a temporary name if overwriting), with `first` in it."""
        target = _temporary_beside(self.path) if overwrite else self.path
        file = open(target, "xb")  # noqa: SIM115 - closed in close()
        try:
            file.write(first)
            file.flush()
            if overwrite:
                os.replace(target, self.path)
        except BaseException:
            file.close()
            target.unlink(missing_ok=True)  # an empty or half-written file would block the next run
            raise
        return file

    def _write(self, record: dict[str, Any]) -> None:
        assert self._file is not None, "trace already closed"
        self._file.write(self._packer.pack(record))
        self._file.flush()

    def _new_texts(self, ids: Iterable[int]) -> dict[int, str]:
        # header.token_texts holds every text written so far, as a reader of the file would see it
        # (live viewers in this process read it).
        known = self.header.token_texts
        fresh = {i: _clip_text(self._token_text(i)) for i in set(ids) if i not in known}
        known.update(fresh)
        return fresh

    def write_step(self, step: Step) -> None:
        ids: list[int] = list(step.ids)
        if step.candidates is not None:
            ids.extend(step.candidates.ids)
        self._write(_encode_step(step, self._new_texts(ids)))

    def close(self, end: End | None = None) -> None:
        """Write the end record (if given) and close; a trace without one reads as cut short."""
        if self._file is None:
            return
        if end is not None:
            self._write(_encode_end(end))
        self._file.close()
        self._file = None

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _temporary_beside(path: Path) -> Path:
    """A fresh hidden name in path's folder (os.replace is atomic only within one file system)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")


# ---------------------------------------------------------------------------- reading


class _RecordSplitter:
    """Cuts a byte stream into whole msgpack objects without decoding them: msgpack's skip()
    builds nothing, so a record's cost here is its bytes, whatever it holds."""

    def __init__(self) -> None:
        self._scanner = msgpack.Unpacker(max_buffer_size=MAX_RECORD_BYTES + READ_CHUNK)
        self._pending = bytearray()  # what was fed and not yet returned as a record
        self._returned = 0  # stream offset of _pending[0]

    @property
    def pending(self) -> int:
        return len(self._pending)

    def feed(self, chunk: bytes) -> None:
        try:
            self._scanner.feed(chunk)
        except msgpack.BufferFull:
            raise TraceError("a record is larger than the reader allows") from None
        self._pending += chunk

    def next_record(self) -> memoryview | None:
        """The next whole record's bytes, or None while it is incomplete."""
        try:
            self._scanner.skip()
        except msgpack.OutOfData:
            if len(self._pending) > MAX_RECORD_BYTES:
                raise TraceError("a record is larger than the reader allows") from None
            return None
        except (ValueError, msgpack.UnpackException) as error:  # a reserved byte, nesting too deep
            raise TraceError(f"undecodable data ({type(error).__name__})") from None
        size = self._scanner.tell() - self._returned
        self._returned += size
        if size == len(self._pending):  # the usual case: a record ends where the data does
            record, self._pending = self._pending, bytearray()
        else:
            with memoryview(self._pending) as pending:
                record = bytearray(pending[:size])
            del self._pending[:size]
        return memoryview(record)


def _record_type(view: memoryview) -> str | None:
    """The "type" of a record, or None if it is not a map with a string type."""
    if _KINDS[view[0]] != "map":
        return None
    try:
        return _Map(view, "record", ("type",)).string("type", max_chars=MAX_STATUS_CHARS)
    except TraceError:
        return None


class TraceReader:
    """Reads a trace incrementally; `poll()` returns what has landed since the last call.

    Safe for untrusted input: bounded record sizes, no extension types, every field checked.
    A file may still be growing (follow mode): an incomplete tail is simply waited for. A file
    replaced or truncated under the reader, or data after the end record, ends the reading with
    `corrupt` saying so; the steps before stay.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file = self._open()
        self._splitter = _RecordSplitter()
        self.header: Header | None = None
        self.end: End | None = None
        self.steps_read = 0
        self.corrupt: str | None = None  # set once the rest of the file cannot be trusted
        self.file_changed = False  # corrupt because another writer replaced or truncated the file
        self.bytes_read = 0
        self._header_start = b""  # the file's first bytes, to notice a header rewritten in place

    def _open(self) -> IO[bytes]:
        try:
            return open(self.path, "rb")  # noqa: SIM115 - closed in close()
        except FileNotFoundError:
            raise TraceError(f"no such file: {self.path}") from None
        except IsADirectoryError:
            raise TraceError(f"{self.path} is a directory, not a trace") from None
        except OSError as error:
            raise TraceError(f"cannot open {self.path}: {error.strerror}") from None

    def close(self) -> None:
        self._file.close()

    def poll(self) -> list[Step | End | Header]:
        """Read what has been appended; returns new records (the header first, once)."""
        records: list[Step | End | Header] = []
        if self.corrupt is None:
            self._notice_file_change()
        while self.corrupt is None:
            chunk = self._file.read(READ_CHUNK)
            if not chunk:
                break
            if self.end is not None:
                self._fail("data after the end record")
                break
            self.bytes_read += len(chunk)
            try:
                self._splitter.feed(chunk)
                self._drain(records)
            except TraceError as error:
                self._fail(error)
        return records

    @property
    def pending_bytes(self) -> bool:
        """True if an incomplete record waits at the end of what was read."""
        return self._splitter.pending > 0

    def _notice_file_change(self) -> None:
        """Another run replacing or rewriting the file ends what this reader trusts."""
        change = self._file_change()
        if change is None:
            return
        if self.header is None:  # nothing shown yet: read the new file from its start
            self._file.close()
            self._file = self._open()
            self._splitter = _RecordSplitter()
            self.bytes_read = 0
            return
        self.corrupt = f"the file was {change}"
        self.file_changed = True

    def _file_change(self) -> str | None:
        try:
            at_path = os.stat(self.path)
            ours = os.fstat(self._file.fileno())
        except OSError:  # removed: the writer may still be appending to what we have open
            return None
        if (at_path.st_ino, at_path.st_dev) != (ours.st_ino, ours.st_dev):
            return "replaced by another run"
        if ours.st_size < self.bytes_read:
            return "truncated"
        if self._header_start:
            position = self._file.tell()
            self._file.seek(0)
            start = self._file.read(len(self._header_start))
            self._file.seek(position)
            if start != self._header_start:
                return "replaced by another run"
        return None

    def _fail(self, error: TraceError | str) -> None:
        """Before the header: nothing to play, raise. After it: keep what came before."""
        if self.header is None:
            if isinstance(error, NewerVersionError):
                raise NewerVersionError(f"{self.path}: {error}")
            raise TraceError(f"{self.path}: not a llada-tui trace ({error})")
        self.corrupt = str(error)

    def _drain(self, records: list[Step | End | Header]) -> None:
        while (view := self._splitter.next_record()) is not None:
            if self.end is not None:
                raise TraceError("data after the end record")
            decoded = self._decode(view)
            if decoded is not None:
                records.append(decoded)
        if self.end is not None and self._splitter.pending:
            raise TraceError("data after the end record")

    def _decode(self, view: memoryview) -> Step | End | Header | None:
        kind = _record_type(view)
        if self.header is None:
            if kind != "header":
                found = _KINDS[view[0]]
                if found != "map":
                    raise TraceError(f"the first record is {_KIND_NAMES[found]}, not a llada-trace header")
                raise TraceError("no llada-trace header at the start")
            record = _Map(view, "header", _HEADER_KEYS)
            if record.string("format", max_chars=MAX_STATUS_CHARS) != FORMAT:
                raise TraceError("no llada-trace header at the start")
            self.header = _decode_header(record)
            self._header_start = bytes(view[:HEADER_COMPARED_BYTES])
            return self.header
        if kind is None:
            raise TraceError(f"record after step {self.steps_read} is not a map with a type")
        if kind == "step":
            if self.steps_read >= self.header.total_steps:
                raise TraceError(f"more steps than the header's {self.header.total_steps}")
            what = f"step {self.steps_read}"
            step, texts = _decode_step(_Map(view, what, _STEP_KEYS), self.header, self.steps_read)
            self.header.token_texts.update(texts)
            self.steps_read += 1
            return step
        if kind == "end":
            self.end = _decode_end(_Map(view, "end", _END_KEYS), self.header, self.steps_read)
            return self.end
        return None  # a record type from a newer minor version: skipped unread


@dataclass
class Trace:
    """A whole trace as read from disk, with what went wrong at its end, if anything."""

    header: Header
    steps: list[Step]
    end: End | None
    warning: str | None  # e.g. "cut short after step 12 of 64"

    @property
    def complete(self) -> bool:
        return self.warning is None and self.end is not None and self.end.status == "complete"


def load_trace(path: str | Path) -> Trace:
    """Read a finished (or abandoned) trace; raises TraceError only if nothing usable is there."""
    reader = TraceReader(path)
    try:
        steps = [r for r in reader.poll() if isinstance(r, Step)]
        if reader.header is None:
            if reader.bytes_read == 0:
                raise TraceError(f"{reader.path}: empty file, not a llada-tui trace")
            raise TraceError(f"{reader.path}: not a llada-tui trace (no complete header)")
        return Trace(reader.header, steps, reader.end, describe_ending(reader))
    finally:
        reader.close()


def describe_ending(reader: TraceReader) -> str | None:
    """One line on why a trace has no clean end, or None if it ended normally."""
    header = reader.header
    total = header.total_steps if header else 0
    where = f"after step {reader.steps_read} of {total}"
    if reader.file_changed:
        return f"{reader.corrupt} {where}"  # "the file was truncated after step 12 of 64"
    if reader.corrupt is not None:
        return f"damaged {where}: {reader.corrupt}"
    if reader.end is None:
        return f"cut short {where} (no end record)"
    if reader.end.status != "complete":
        detail = f": {reader.end.message}" if reader.end.message else ""
        return f"{reader.end.status} {where}{detail}"
    return None


# ---------------------------------------------------------------------------- index


class TraceIndex:
    """Answers "what is at position p after t steps" in O(log changes) without replaying.

    Timeline positions t run from 0 (everything masked) to len(steps) (every step applied).
    Steps are appended as they arrive, so the same index serves files, follow mode and live.
    """

    def __init__(self, header: Header):
        self.header = header
        self.mask_id = header.mask_id
        n = header.gen_length
        self.steps: list[Step] = []
        self._change_steps: list[list[int]] = [[] for _ in range(n)]
        self._change_ids: list[list[int]] = [[] for _ in range(n)]
        self._change_conf: list[list[float]] = [[] for _ in range(n)]
        self.masked_after: list[int] = [n]  # masked_after[t]: masked positions after t steps
        self.committed_per_step: list[int] = []

    def __len__(self) -> int:
        return len(self.steps)

    def append(self, step: Step) -> None:
        masked = self.masked_after[-1]
        committed = 0
        for pos, token_id, conf in zip(step.positions, step.ids, step.confidences):
            before = self._change_ids[pos][-1] if self._change_ids[pos] else self.mask_id
            self._change_steps[pos].append(step.index)
            self._change_ids[pos].append(token_id)
            self._change_conf[pos].append(conf)
            if before == self.mask_id and token_id != self.mask_id:
                masked -= 1
                committed += 1
            elif before != self.mask_id and token_id == self.mask_id:
                masked += 1
        self.steps.append(step)
        self.masked_after.append(masked)
        self.committed_per_step.append(committed)

    def extend(self, steps: Iterable[Step]) -> None:
        for step in steps:
            self.append(step)

    def _last_change(self, pos: int, t: int) -> int:
        """Index into pos's change lists of the last change among the first t steps, or -1."""
        changes = self._change_steps[pos]
        if not changes or changes[0] >= t:
            return -1
        return bisect.bisect_left(changes, t) - 1

    def token_at(self, pos: int, t: int) -> int:
        i = self._last_change(pos, t)
        return self.mask_id if i < 0 else self._change_ids[pos][i]

    def cell_at(self, pos: int, t: int) -> tuple[int, int, float]:
        """(token id, step that set it or -1, confidence then) at position pos after t steps."""
        i = self._last_change(pos, t)
        if i < 0:
            return self.mask_id, -1, 0.0
        return self._change_ids[pos][i], self._change_steps[pos][i], self._change_conf[pos][i]

    def history(self, pos: int) -> list[tuple[int, int, float]]:
        """Every change of pos as (step, token id, confidence)."""
        return list(zip(self._change_steps[pos], self._change_ids[pos], self._change_conf[pos]))

    def ids_at(self, t: int) -> list[int]:
        return [self.token_at(pos, t) for pos in range(self.header.gen_length)]


def read_index(path: str | Path) -> tuple[Trace, TraceIndex]:
    """Load a trace and index all of its steps."""
    trace = load_trace(path)
    index = TraceIndex(trace.header)
    index.extend(trace.steps)
    return trace, index
