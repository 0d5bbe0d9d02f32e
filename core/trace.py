"""Trace format v1: record types, a writer, a reader for untrusted files, and a step index.

A trace is a stream of msgpack maps: one header, one record per sampler step, one end record.
Bulk per-step data (positions, ids, probabilities) are little-endian int32 / float32 byte
strings, not msgpack arrays, so a step of 4096 positions decodes in microseconds.
The layout is written down in docs/trace-format.md. Nothing here imports torch.
"""

from __future__ import annotations

import bisect
import sys
import time
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import msgpack

FORMAT = "llada-trace"
VERSION = (1, 0)  # (major, minor): readers refuse a newer major, accept any minor

# Limits for files from strangers: no single record may ask for more than this.
MAX_RECORD_BYTES = 256 << 20
MAX_STR_BYTES = 4 << 20
MAX_ITEMS = 1 << 22
# What a run may be, for the writer and the reader alike (the CLI refuses larger options).
# LLaDA-8B sees 4096 tokens; these leave room for longer models and keep the player interactive.
MAX_GEN_LENGTH = 1 << 15
MAX_STEPS = 1 << 15
MAX_TOKEN_TEXT_CHARS = 1024  # longer than any real token's display text
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


def _unpack_array(kind: str, raw: Any, what: str) -> array:
    if not isinstance(raw, bytes) or len(raw) % 4:
        raise TraceError(f"{what}: expected packed 4-byte values")
    values = array(kind)
    values.frombytes(raw)
    if sys.byteorder == "big":
        values.byteswap()
    return values


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


def _field(record: dict, key: str, kinds: type | tuple[type, ...], what: str) -> Any:
    value = record.get(key)
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise TraceError(f"{what}: field {key!r} has the wrong type")
    if not isinstance(value, kinds):
        raise TraceError(f"{what}: field {key!r} is missing or has the wrong type")
    return value


def _decode_texts(raw: Any, what: str) -> dict[int, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise TraceError(f"{what}: token texts are malformed")
    ids = _unpack_array("i", raw.get("ids"), what)
    texts = raw.get("texts")
    if not isinstance(texts, list) or len(texts) != len(ids) or not all(isinstance(t, str) for t in texts):
        raise TraceError(f"{what}: token texts are malformed")
    return dict(zip(ids, texts))


_PARAM_TYPES: dict[str, type | tuple[type, ...]] = {
    "steps": int,
    "gen_length": int,
    "block_length": int,
    "mask_id": int,
    "remasking": str,
    "temperature": (int, float),
    "cfg_scale": (int, float),
}


def _decode_header(record: dict) -> Header:
    what = "header"
    version = record.get("version")
    if (
        not isinstance(version, list)
        or len(version) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in version)
    ):
        raise TraceError("header: version is malformed")
    if version[0] > VERSION[0]:
        raise NewerVersionError(
            f"trace format version {version[0]}.{version[1]} is newer than this llada-tui reads "
            f"({VERSION[0]}.x); upgrade llada-tui"
        )
    prompt = _field(record, "prompt", dict, what)
    params = _field(record, "params", dict, what)
    for key, kinds in _PARAM_TYPES.items():
        _field(params, key, kinds, "header params")
    gen_length, steps, block_length = params["gen_length"], params["steps"], params["block_length"]
    if not (0 < gen_length <= MAX_GEN_LENGTH and 0 < steps <= MAX_STEPS and 0 < block_length):
        raise TraceError("header: gen_length, steps or block_length out of range")
    model = record.get("model")
    return Header(
        prompt_text=_field(prompt, "text", str, "header prompt"),
        prompt_ids=list(_unpack_array("i", prompt.get("ids"), "header prompt ids")),
        model=model if isinstance(model, dict) else {},
        params=params,
        token_texts=_decode_texts(record.get("texts"), what),
        special_ids=list(_unpack_array("i", record.get("special_ids", b""), "header special ids")),
        created=record.get("created") if isinstance(record.get("created"), str) else "",
        version=(version[0], version[1]),
    )


def _decode_step(record: dict, header: Header, expected_index: int) -> tuple[Step, dict[int, str]]:
    what = f"step {expected_index}"
    index = _field(record, "step", int, what)
    if index != expected_index:
        raise TraceError(f"{what}: out of order (says {index})")
    block = _field(record, "block", int, what)
    positions = _unpack_array("i", record.get("pos"), what)
    ids = _unpack_array("i", record.get("ids"), what)
    confidences = _unpack_array("f", record.get("conf"), what)
    if not len(positions) == len(ids) == len(confidences):
        raise TraceError(f"{what}: positions, ids and confidences differ in length")
    gen_length = header.gen_length
    if any(p < 0 or p >= gen_length for p in positions):
        raise TraceError(f"{what}: a position lies outside the generated region")
    wall_ms = record.get("wall_ms", 0.0)
    candidates = None
    topk = record.get("topk")
    if topk is not None:
        if not isinstance(topk, dict):
            raise TraceError(f"{what}: top-k is malformed")
        k = _field(topk, "k", int, what)
        c_pos = _unpack_array("i", topk.get("pos"), what)
        c_ids = _unpack_array("i", topk.get("ids"), what)
        c_probs = _unpack_array("f", topk.get("probs"), what)
        if k < 1 or len(c_ids) != len(c_pos) * k or len(c_probs) != len(c_ids):
            raise TraceError(f"{what}: top-k arrays do not match")
        if any(p < 0 or p >= gen_length for p in c_pos):
            raise TraceError(f"{what}: a top-k position lies outside the generated region")
        candidates = Candidates(c_pos, c_ids, c_probs, k)
    step = Step(
        index=index,
        block=block,
        positions=positions,
        ids=ids,
        confidences=confidences,
        wall_ms=float(wall_ms) if isinstance(wall_ms, (int, float)) else 0.0,
        candidates=candidates,
    )
    return step, _decode_texts(record.get("texts"), what)


def _decode_end(record: dict) -> End:
    status = record.get("status")
    message = record.get("message", "")
    total_ms = record.get("total_ms", 0.0)
    final_text = record.get("final_text", "")
    return End(
        status=status if isinstance(status, str) else "unknown",
        final_ids=list(_unpack_array("i", record.get("final_ids", b""), "end")),
        message=message if isinstance(message, str) else "",
        total_ms=float(total_ms) if isinstance(total_ms, (int, float)) else 0.0,
        final_text=final_text if isinstance(final_text, str) else "",
    )


# ---------------------------------------------------------------------------- writing


class TraceWriter:
    """Appends records to a trace file, flushing after each so a reader can follow it.

    `token_text(id)` gives the display text of a token; each id's text is written once,
    with the first record that uses it, so replay never needs the tokenizer.
    """

    def __init__(self, path: str | Path, header: Header, token_text: Callable[[int], str]):
        self.path = Path(path)
        self._token_text = token_text
        texts = dict(header.token_texts)
        for token_id in [*header.prompt_ids, header.mask_id]:
            if token_id not in texts:
                texts[token_id] = token_text(token_id)
        self.header = replace(header, token_texts=texts)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] | None = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._packer = msgpack.Packer(use_bin_type=True)
        self._write(_encode_header(self.header))

    def _write(self, record: dict[str, Any]) -> None:
        assert self._file is not None, "trace already closed"
        self._file.write(self._packer.pack(record))
        self._file.flush()

    def _new_texts(self, ids: Iterable[int]) -> dict[int, str]:
        # header.token_texts holds every text written so far, as a reader of the file would see it
        # (live viewers in this process read it).
        known = self.header.token_texts
        fresh = {i: self._token_text(i) for i in set(ids) if i not in known}
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


# ---------------------------------------------------------------------------- reading


def _refuse_ext(code: int, data: bytes) -> Any:
    raise TraceError("unexpected msgpack extension type")


class TraceReader:
    """Reads a trace incrementally; `poll()` returns what has landed since the last call.

    Safe for untrusted input: bounded record sizes, no extension types, every field checked.
    A file may still be growing (follow mode): an incomplete tail is simply waited for.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._file: IO[bytes] = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        except FileNotFoundError:
            raise TraceError(f"no such file: {self.path}") from None
        except IsADirectoryError:
            raise TraceError(f"{self.path} is a directory, not a trace") from None
        except OSError as error:
            raise TraceError(f"cannot open {self.path}: {error.strerror}") from None
        self._unpacker = msgpack.Unpacker(
            raw=False,
            use_list=True,
            strict_map_key=True,
            unicode_errors="replace",
            ext_hook=_refuse_ext,
            max_buffer_size=MAX_RECORD_BYTES,
            max_str_len=MAX_STR_BYTES,
            max_bin_len=MAX_RECORD_BYTES,
            max_array_len=MAX_ITEMS,
            max_map_len=MAX_ITEMS,
        )
        self.header: Header | None = None
        self.end: End | None = None
        self.steps_read = 0
        self.corrupt: str | None = None  # set once the rest of the file cannot be trusted
        self.bytes_read = 0

    def close(self) -> None:
        self._file.close()

    def poll(self) -> list[Step | End | Header]:
        """Read what has been appended; returns new records (the header first, once)."""
        records: list[Step | End | Header] = []
        if self.corrupt is not None or self.end is not None:
            return records
        while True:
            chunk = self._file.read(READ_CHUNK)
            if not chunk:
                break
            self.bytes_read += len(chunk)
            try:
                self._unpacker.feed(chunk)
            except msgpack.BufferFull:
                self._fail("a record is larger than the reader allows")
                break
            if not self._drain(records):
                break
        return records

    @property
    def pending_bytes(self) -> bool:
        """True if an incomplete record waits at the end of what was read."""
        # The unpacker keeps unconsumed input; tell() counts what it consumed.
        return self._unpacker.tell() < self.bytes_read

    def _fail(self, error: TraceError | str) -> None:
        """Before the header: nothing to play, raise. After it: keep what came before."""
        if self.header is None:
            if isinstance(error, NewerVersionError):
                raise NewerVersionError(f"{self.path}: {error}")
            raise TraceError(f"{self.path}: not a llada-tui trace ({error})")
        self.corrupt = str(error)

    def _drain(self, records: list[Step | End | Header]) -> bool:
        while True:
            try:
                record = next(self._unpacker)
            except StopIteration:
                return True
            except TraceError as error:
                self._fail(error)
                return False
            except (ValueError, TypeError, msgpack.UnpackException) as error:
                self._fail(f"undecodable data: {type(error).__name__}")
                return False
            try:
                decoded = self._decode(record)
            except TraceError as error:
                self._fail(error)
                return False
            if decoded is not None:
                records.append(decoded)
                if isinstance(decoded, End):
                    return False

    def _decode(self, record: Any) -> Step | End | Header | None:
        if self.header is None:
            if not isinstance(record, dict) or record.get("format") != FORMAT or record.get("type") != "header":
                raise TraceError("no llada-trace header at the start")
            self.header = _decode_header(record)
            return self.header
        if not isinstance(record, dict) or not isinstance(record.get("type"), str):
            raise TraceError(f"record after step {self.steps_read} is not a map with a type")
        kind = record["type"]
        if kind == "step":
            step, texts = _decode_step(record, self.header, self.steps_read)
            self.header.token_texts.update(texts)
            self.steps_read += 1
            return step
        if kind == "end":
            self.end = _decode_end(record)
            return self.end
        return None  # a record type from a newer minor version: skip it


@dataclass
class Trace:
    """A whole trace as read from disk, with what went wrong at its end, if anything."""

    header: Header
    steps: list[Step]
    end: End | None
    warning: str | None  # e.g. "cut short after step 12 of 64"

    @property
    def complete(self) -> bool:
        return self.end is not None and self.end.status == "complete"


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
    if reader.corrupt is not None:
        return f"damaged after step {reader.steps_read} of {total}: {reader.corrupt}"
    if reader.end is None:
        return f"cut short after step {reader.steps_read} of {total} (no end record)"
    if reader.end.status != "complete":
        detail = f": {reader.end.message}" if reader.end.message else ""
        return f"{reader.end.status} after step {reader.steps_read} of {total}{detail}"
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
