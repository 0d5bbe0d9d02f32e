"""Writing a trace: records appended to a file and flushed one by one, so that a reader can follow."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import msgpack

from llada_tui.core.msgpack_fields import FieldMap
from llada_tui.core.records import MAX_TOKEN_TEXT_CHARS, End, Header, Step, TraceError
from llada_tui.core.trace_codec import HEADER_KEYS, decode_header, encode_end, encode_header, encode_step


def _clip_text(text: str) -> str:
    """A token text as written: at most MAX_TOKEN_TEXT_CHARS characters, the reader's limit."""
    return text if len(text) <= MAX_TOKEN_TEXT_CHARS else text[: MAX_TOKEN_TEXT_CHARS - 1] + "…"


class TraceWriter:
    """Appends records to a trace file, flushing after each so a reader can follow it.

    `token_text(id)` gives the display text of a token; each id's text is written once,
    with the first record that uses it, so replay never needs the tokenizer. `header` is the
    header as written (with the prompt's and the mask's texts); `write_step` returns the step as
    written, with the texts it brought: those are the run's texts, nothing else is updated.

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
        self._written: set[int] = set(texts)  # ids whose text is in the file
        self._packer = msgpack.Packer(use_bin_type=True)
        try:
            first = self._packer.pack(encode_header(self.header))
            decode_header(FieldMap(memoryview(first), "header", HEADER_KEYS))
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

    def write_step(self, step: Step) -> Step:
        """Append a step; the step as written: with the texts of the ids it uses first."""
        ids = set(step.ids)
        if step.candidates is not None:
            ids.update(step.candidates.ids)
        fresh = {i: _clip_text(self._token_text(i)) for i in ids - self._written}
        self._written.update(fresh)
        written = replace(step, texts=fresh)
        self._write(encode_step(written))
        return written

    def close(self, end: End | None = None) -> None:
        """Write the end record (if given) and close; a trace without one reads as cut short."""
        if self._file is None:
            return
        if end is not None:
            self._write(encode_end(end))
        self._file.close()
        self._file = None

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _temporary_beside(path: Path) -> Path:
    """A fresh hidden name in path's folder (os.replace is atomic only within one file system)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
