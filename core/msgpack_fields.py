"""Reading msgpack from strangers: each value's type is told from its first byte before it is built.

A record is decoded field by field, so a hostile value (millions of empty maps where a string
belongs, an extension type, a bin string in the metadata) is refused, or skipped unread,
without costing more memory than its bytes. Every refusal is a TraceError.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Callable, Collection
from typing import Any

import msgpack

from llada_tui.core.records import TraceError

# Limits for files from strangers: no single record may ask for more than this. A step at the
# run limits (32768 positions, 64 candidates each) takes about 17 MiB.
MAX_RECORD_BYTES = 64 << 20
MAX_STR_BYTES = 4 << 20
MAX_KEYS = 1024  # in any map of the format
MAX_METADATA_BYTES = 64 << 10  # the header's free-form `model` and `params`, each
MAX_METADATA_DEPTH = 8
READ_CHUNK = 1 << 20


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


KINDS = tuple(_kind_of(first) for first in range(256))
KIND_NAMES = {
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


class Cursor:
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
        return KINDS[self._view[self._unpacker.tell()]]

    def expect(self, kind: str, what: str) -> None:
        found = self.kind()
        if found != kind:
            raise TraceError(f"{what} is {KIND_NAMES[found]}, not {KIND_NAMES[kind]}")

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
        raise TraceError(f"{what} holds {KIND_NAMES[kind]}; only JSON-like values are allowed")


class FieldMap:
    """A map of the format: the values of the keys it knows, undecoded until asked for by type.

    Unknown keys (maybe from a newer minor version) are skipped without being decoded.
    """

    def __init__(self, view: memoryview, what: str, keys: Collection[str]):
        self.what = what
        cursor = Cursor(view, what)
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
        kind = KINDS[view[0]]
        if kind not in kinds:
            raise TraceError(f"{self.what}: field {key!r} has the wrong type ({KIND_NAMES[kind]})")
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

    def map(self, key: str, keys: Collection[str], what: str) -> FieldMap | None:
        """A nested map of the format, or None if absent."""
        view = self._values.get(key)
        return None if view is None else FieldMap(view, what, keys)

    def json_like(self, key: str, what: str, default: Any = _REQUIRED) -> Any:
        """Free-form metadata (model, params): small, JSON-like, every float finite."""
        if self._absent(key, default):
            return default
        view = self._values.get(key)
        if view is None:
            raise TraceError(f"{self.what}: field {key!r} is missing")
        if len(view) > MAX_METADATA_BYTES:
            raise TraceError(f"{what} is larger than {MAX_METADATA_BYTES} bytes")
        return Cursor(view, what).json_like(what)

    def strings(self, key: str, count: int, max_chars: int) -> list[str]:
        """A msgpack array of `count` strings of at most max_chars characters each."""
        view = self._values.get(key)
        if view is None:
            raise TraceError(f"{self.what}: field {key!r} is missing")
        cursor = Cursor(view, self.what)
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
