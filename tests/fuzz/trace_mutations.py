"""A deterministic mutation fuzzer for traces: valid traces damaged the ways an attacker would.

`fuzz_case(seeds, number)` gives the bytes of one hostile trace and what was done to it; the
same number always gives the same case (each draws from its own seeded random source), so a
failure in CI is reproduced by its number alone. Mutations work on the bytes (bit flips,
inserted and deleted bytes, truncation, huge length headers, deep nesting, splices from
another trace) and on the records (dropped, repeated or swapped records, fields of another
type, NaN and infinite floats, extension types, bin strings in the header, deep metadata,
out-of-range integers, extra steps and data after the end, hostile token texts).
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgpack
from synthetic_traces import hostile_trace, remasking_trace, write_trace

# Texts a terminal would obey: escapes (SGR, OSC title and clipboard, DCS), C1 controls,
# bidirectional overrides and isolates, zero-width characters, separators, NUL and DEL.
HOSTILE_TEXTS = (
    "\x1b[31mred\x1b[0m",
    "\x1b]0;pwned\x07",
    "\x1b]52;c;ZWNobyBwd25lZA==\x07",
    "\x1bP+q\x1b\\",
    "\x9b2J\x9d0;title\x9c",
    "\u202egnirts\u202c",
    "\u2066iso\u2069\u200e\u200f\u061c",
    "zero\u200bwidth\u200c\u200d\u2060\ufeff",
    "line\u2028para\u2029",
    "nul\x00del\x7f\x08\r",
    "e\u0301\u0301\u0301",
    "\U0001f600\ufe0f",
    "",
)
WEIRD_VALUES: tuple[object, ...] = (
    None,
    True,
    -1,
    1 << 40,
    (1 << 64) - 1,
    -(1 << 63),
    0.5,
    float("nan"),
    float("inf"),
    "",
    "x" * 2000,
    b"\x00\xff" * 3,
    b"",
    [],
    [1, "a", None],
    {},
    {"a": {"b": [b"\x00"]}},
    msgpack.ExtType(1, b"\x00"),
    msgpack.ExtType(127, b""),
    msgpack.Timestamp(1_700_000_000, 0),
)
NON_FINITE = (float("nan"), float("inf"), float("-inf"))
FLOAT_FIELDS = ("wall_ms", "total_ms", "temperature", "cfg_scale")
# Lengths far beyond the data: str32, bin32, array32, map32 headers claiming about 4 G.
HUGE_HEADERS = (b"\xdb\xff\xff\xff\xff", b"\xc6\xff\xff\xff\xff", b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff")


@dataclass(frozen=True)
class Case:
    number: int
    data: bytes
    mutations: tuple[str, ...]

    def __str__(self) -> str:
        return f"case {self.number} ({', '.join(self.mutations)})"


def seed_traces(folder: Path) -> list[bytes]:
    """Valid traces to start from: complete, cut short, interrupted, remasking, hostile, no top-k."""
    paths = [
        write_trace(folder / "complete.trace", steps=8, block_length=16),
        write_trace(folder / "cut.trace", steps=8, block_length=16, stop_after=5, ending="none"),
        write_trace(folder / "interrupted.trace", steps=8, block_length=16, stop_after=3, ending="interrupted"),
        write_trace(folder / "no-topk.trace", steps=8, block_length=16, k=0),
        remasking_trace(folder / "remasking.trace"),
        hostile_trace(folder / "hostile.trace"),
    ]
    return [path.read_bytes() for path in paths]


# ---------------------------------------------------------------------------- records


def _containers(value: object, found: list[dict | list]) -> list[dict | list]:
    if isinstance(value, (dict, list)):
        found.append(value)
        for item in value.values() if isinstance(value, dict) else value:
            _containers(item, found)
    return found


def _set_somewhere(rng: random.Random, records: list[dict], new_value: Callable[[object], object]) -> None:
    """Replace one value somewhere in the records (any depth) by new_value(old value)."""
    holders = [c for c in _containers(records, []) if c and c is not records]
    holder = rng.choice(holders)
    key = rng.choice(list(holder)) if isinstance(holder, dict) else rng.randrange(len(holder))
    holder[key] = new_value(holder[key])


def retype(rng: random.Random, records: list[dict]) -> None:
    _set_somewhere(rng, records, lambda old: rng.choice(WEIRD_VALUES))


def non_finite(rng: random.Random, records: list[dict]) -> None:
    value = rng.choice(NON_FINITE)
    if rng.random() < 0.5:  # a float field
        record = rng.choice(records)
        holder = record.get("params", record) if isinstance(record, dict) else record
        if isinstance(holder, dict):
            holder[rng.choice(FLOAT_FIELDS)] = value
        return
    steps = [r for r in records if isinstance(r, dict) and r.get("type") == "step"]
    if steps:  # a packed float32 array: confidences or candidate probabilities
        step = rng.choice(steps)
        holder, key = (step["topk"], "probs") if "topk" in step and rng.random() < 0.5 else (step, "conf")
        raw = holder.get(key)
        if isinstance(raw, bytes) and len(raw) >= 4:
            i = rng.randrange(len(raw) // 4) * 4
            holder[key] = raw[:i] + struct.pack("<f", value) + raw[i + 4 :]


def extension(rng: random.Random, records: list[dict]) -> None:
    ext = rng.choice([msgpack.Timestamp(rng.randrange(1 << 32), 0), msgpack.ExtType(rng.randrange(128), b"x")])
    _set_somewhere(rng, records, lambda old: ext)


def metadata(rng: random.Random, records: list[dict]) -> None:
    """The header's model or params: bin strings, extension types, deep nesting, big or odd ints."""
    header = records[0] if records and isinstance(records[0], dict) else None
    if header is None:
        return
    section = header.setdefault(rng.choice(["model", "params"]), {})
    if not isinstance(section, dict):
        return
    deep: object = "leaf"
    for _ in range(rng.randrange(5, 300)):
        deep = [deep] if rng.random() < 0.5 else {"k": deep}
    key = rng.choice(["name", "dtype", "device", "config", "seed", "mask_id", "eos_id", "topk", "steps", "x"])
    section[key] = rng.choice([b"\x00bin", msgpack.Timestamp(0, 0), deep, -(1 << 63), (1 << 64) - 1, -1, 1 << 31])


def hostile_texts(rng: random.Random, records: list[dict]) -> None:
    """Terminal controls in every text a person may read: tokens, prompt, model, status, message."""
    text = "".join(rng.choice(HOSTILE_TEXTS) for _ in range(rng.randrange(1, 4)))
    for record in records:
        if not isinstance(record, dict):
            continue
        texts = record.get("texts")
        if isinstance(texts, dict) and isinstance(texts.get("texts"), list) and texts["texts"]:
            texts["texts"][rng.randrange(len(texts["texts"]))] = text
        for key in ("message", "final_text", "status", "created"):
            if key in record and rng.random() < 0.3:
                record[key] = text
        for section, key in (("prompt", "text"), ("model", "name"), ("model", "dtype"), ("params", "remasking")):
            if isinstance(record.get(section), dict) and rng.random() < 0.3:
                record[section][key] = text


def shuffle_records(rng: random.Random, records: list[dict], other: list[dict]) -> None:
    """Drop, repeat, swap or borrow records: steps out of order, data after the end, two headers."""
    if not records:
        return
    i, j = rng.randrange(len(records)), rng.randrange(len(records))
    choice = rng.randrange(5)
    if choice == 0:
        del records[i]
    elif choice == 1:
        records.insert(j, records[i])
    elif choice == 2:
        records[i], records[j] = records[j], records[i]
    elif choice == 3 and other:
        records.insert(j, rng.choice(other))
    else:
        records.append(rng.choice(records[1:] or records))  # something after the end


def step_count(rng: random.Random, records: list[dict]) -> None:
    """A header that declares fewer (or other) steps and lengths than the records hold."""
    if records and isinstance(records[0], dict) and isinstance(records[0].get("params"), dict):
        params = records[0]["params"]
        key = rng.choice(["steps", "gen_length", "block_length"])
        params[key] = rng.choice([1, 2, 0, -1, 1 << 15, 1 << 20, params.get(key, 1) * 2])


RECORD_MUTATIONS: dict[str, Callable[..., None]] = {
    "retype": retype,
    "non-finite": non_finite,
    "extension": extension,
    "metadata": metadata,
    "hostile texts": hostile_texts,
    "step count": step_count,
}


# ---------------------------------------------------------------------------- bytes


def bit_flip(rng: random.Random, data: bytes, other: bytes) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randrange(1, 9)):
        i = rng.randrange(len(buffer))
        buffer[i] ^= 1 << rng.randrange(8)
    return bytes(buffer)


def insert_bytes(rng: random.Random, data: bytes, other: bytes) -> bytes:
    i = rng.randrange(len(data) + 1)
    return data[:i] + rng.randbytes(rng.randrange(1, 64)) + data[i:]


def delete_bytes(rng: random.Random, data: bytes, other: bytes) -> bytes:
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.randrange(1, 64) :]


def truncate(rng: random.Random, data: bytes, other: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def huge_length(rng: random.Random, data: bytes, other: bytes) -> bytes:
    i = rng.randrange(len(data))
    header = rng.choice(HUGE_HEADERS)
    return data[:i] + header + data[i + (len(header) if rng.random() < 0.5 else 0) :]


def deep_nesting(rng: random.Random, data: bytes, other: bytes) -> bytes:
    i = rng.randrange(len(data) + 1)
    depth = rng.choice([100, 1000, 5000])
    return data[:i] + rng.choice([b"\x91", b"\x81\xa1k"]) * depth + b"\xc0" + data[i:]


def extension_bytes(rng: random.Random, data: bytes, other: bytes) -> bytes:
    """A fixext value of any code, the reserved negative ones too (msgpack's ExtType cannot make those)."""
    i = rng.randrange(len(data) + 1)
    size = rng.choice([(0xD4, 1), (0xD5, 2), (0xD6, 4), (0xD7, 8)])
    return data[:i] + bytes([size[0], rng.randrange(256)]) + rng.randbytes(size[1]) + data[i:]


def splice(rng: random.Random, data: bytes, other: bytes) -> bytes:
    i, j = rng.randrange(len(data)), rng.randrange(len(other))
    return data[:i] + other[j : j + rng.randrange(1, 2000)] + data[i:]


BYTE_MUTATIONS: dict[str, Callable[[random.Random, bytes, bytes], bytes]] = {
    "bit flip": bit_flip,
    "insert": insert_bytes,
    "delete": delete_bytes,
    "truncate": truncate,
    "huge length": huge_length,
    "deep nesting": deep_nesting,
    "extension bytes": extension_bytes,
    "splice": splice,
}


def _records(data: bytes) -> list[dict]:
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data)
    return list(unpacker)


def _pack(records: list[object]) -> bytes:
    return b"".join(msgpack.packb(r, use_bin_type=True) for r in records)


def fuzz_case(seeds: list[bytes], number: int) -> Case:
    """Case `number`: one to three mutations of a seed trace, the same every time."""
    rng = random.Random(number)
    index = rng.randrange(len(seeds))
    data, other = seeds[index], seeds[(index + 1) % len(seeds)]
    done: list[str] = []
    if rng.random() < 0.6:  # mutate the records, then pack them again
        records, other_records = _records(data), _records(other)
        for _ in range(rng.randrange(1, 3)):
            name = rng.choice([*RECORD_MUTATIONS, "shuffle records"])
            if name == "shuffle records":
                shuffle_records(rng, records, other_records)
            else:
                RECORD_MUTATIONS[name](rng, records)
            done.append(name)
        data = _pack(records)
    if not done or rng.random() < 0.4:
        for _ in range(rng.randrange(1, 3)):
            if not data:
                break
            name = rng.choice(list(BYTE_MUTATIONS))
            data = BYTE_MUTATIONS[name](rng, data, other)
            done.append(name)
    return Case(number, data, tuple(done))


def is_finite_json(value: object) -> bool:
    """True for str, int, finite float, bool, None and lists / string-keyed maps of those."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_finite_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(is_finite_json(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (str, int, bool))
