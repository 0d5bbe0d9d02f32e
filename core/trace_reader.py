"""Reading a trace that may come from a stranger, may still be growing, or may have been cut short.

A file may still be growing (follow mode): an incomplete tail is simply waited for. A file
replaced or truncated under the reader, or data after the end record, ends the reading.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import msgpack

from llada_tui.core.msgpack_fields import KIND_NAMES, KINDS, MAX_RECORD_BYTES, READ_CHUNK, FieldMap
from llada_tui.core.records import FORMAT, MAX_STEPS, End, Header, NewerVersionError, Step, TraceError
from llada_tui.core.trace_codec import (
    END_KEYS,
    HEADER_KEYS,
    MAX_STATUS_CHARS,
    STEP_KEYS,
    decode_end,
    decode_header,
    decode_step,
    record_type,
)

HEADER_COMPARED_BYTES = 64 << 10  # a follower re-reads this much of the header to notice a rewrite


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
        self._last_block = 0
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
        kind = record_type(view)
        if self.header is None:
            if kind != "header":
                found = KINDS[view[0]]
                if found != "map":
                    raise TraceError(f"the first record is {KIND_NAMES[found]}, not a llada-trace header")
                raise TraceError("no llada-trace header at the start")
            record = FieldMap(view, "header", HEADER_KEYS)
            if record.string("format", max_chars=MAX_STATUS_CHARS) != FORMAT:
                raise TraceError("no llada-trace header at the start")
            self.header = decode_header(record)
            self._header_start = bytes(view[:HEADER_COMPARED_BYTES])
            return self.header
        if kind is None:
            raise TraceError(f"record after step {self.steps_read} is not a map with a type")
        if kind == "step":
            total = self.header.total_steps
            if total is not None and self.steps_read >= total:
                raise TraceError(f"more steps than the header's {total}")
            if self.steps_read >= MAX_STEPS:
                raise TraceError(f"more than {MAX_STEPS} steps")
            what = f"step {self.steps_read}"
            step = decode_step(FieldMap(view, what, STEP_KEYS), self.header, self.steps_read)
            if total is None and step.block < self._last_block:  # blocks of varying length, still in order
                raise TraceError(f"{what}: block {step.block} after block {self._last_block}")
            self._last_block = step.block
            self.steps_read += 1
            return step
        if kind == "end":
            self.end = decode_end(FieldMap(view, "end", END_KEYS), self.header, self.steps_read)
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
    where = f"after step {reader.steps_read}" + ("" if total is None else f" of {total}")
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
