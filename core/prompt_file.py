"""A prompts file for batch recording: one JSON object per line, each a prompt and its trace's name.

    {"prompt": "Lily can run 12 kilometers per hour...", "id": "lily", "block_length": 32}

`prompt` is required; `id` names the trace (`<id>.trace`, made safe as a file name; default
`p<line number>`); any other key overrides one sampling option for that prompt, named as in
SamplingOptions (`steps`, `gen_length`, `block_length`, `temperature`, `seed`, `sampler`, ...).
A line that cannot be used (not UTF-8, not JSON, an unknown key, ...) is a BadLine with its
number and why; the rest are still run. Nothing here imports torch.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from llada_tui.core.options import MAX_PROMPT_CHARS, OptionError, SamplingOptions, check_options, check_prompt

MAX_ID_CHARS = 100  # a file name, with ".trace", well under any file system's limit
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Names Windows keeps for devices, whatever follows a dot ("CON.trace" cannot be a file there).
DEVICE_NAMES = {"con", "prn", "aux", "nul", *(f"{port}{n}" for port in ("com", "lpt") for n in range(1, 10))}
# Longer than any line with a usable prompt (each character escaped as a surrogate pair, 12 bytes),
# so a line past it is refused unread instead of held in memory whole.
MAX_LINE_BYTES = 12 * MAX_PROMPT_CHARS + (1 << 20)


@dataclass(frozen=True)
class PromptJob:
    line: int  # 1-based line number in the file
    id: str  # safe as a file name
    prompt: str
    options: SamplingOptions  # the command line's options with this line's overrides

    @property
    def trace_name(self) -> str:
        return f"{self.id}.trace"


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str


def read_prompt_file(path: Path, base: SamplingOptions) -> tuple[list[PromptJob], list[BadLine]]:
    """Every usable line as a job (in file order) and every other non-blank line as a BadLine.

    Raises OSError if the file cannot be read.
    """
    jobs: list[PromptJob] = []
    bad: list[BadLine] = []
    named: dict[str, int] = {}  # file name (case-folded: some file systems ignore case) -> line
    with open(path, "rb") as file:
        for number, data in enumerate(bounded_lines(file), start=1):
            try:
                text = line_text(data, first=number == 1)
                if not text.strip():
                    continue
                job = parse_line(text, number, base)
            except OptionError as error:
                bad.append(BadLine(number, str(error)))
                continue
            taken = named.setdefault(job.trace_name.casefold(), number)
            if taken != number:
                bad.append(BadLine(number, f"id {job.id!r} names the same trace as line {taken}"))
                continue
            jobs.append(job)
    return jobs, bad


def bounded_lines(file: BinaryIO) -> Iterator[bytes | None]:
    """Each line of the file as bytes, or None for one longer than MAX_LINE_BYTES (skipped unkept)."""
    while line := file.readline(MAX_LINE_BYTES + 1):
        if len(line) > MAX_LINE_BYTES:
            while line and not line.endswith(b"\n"):
                line = file.readline(1 << 20)
            yield None
        else:
            yield line


def line_text(data: bytes | None, first: bool) -> str:
    """A line's text: UTF-8, with the byte-order mark some editors put first in a file dropped."""
    if data is None:
        raise OptionError(f"longer than {MAX_LINE_BYTES} bytes")
    try:
        return data.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as error:
        raise OptionError(f"not UTF-8 text (byte {error.start + 1} of the line)") from None


def parse_line(text: str, number: int, base: SamplingOptions) -> PromptJob:
    try:
        record = json.loads(text.strip())
    except json.JSONDecodeError as error:
        raise OptionError(f"not JSON: {error.msg} at column {error.colno}") from None
    except RecursionError:  # arrays or objects nested thousands deep
        raise OptionError("not JSON this reader takes: nested too deeply") from None
    if not isinstance(record, dict):
        raise OptionError("not a JSON object")
    prompt = record.get("prompt")
    if not isinstance(prompt, str):
        raise OptionError('no "prompt" string')
    check_prompt(prompt)
    overrides = {key: value for key, value in record.items() if key not in ("prompt", "id")}
    for key, value in overrides.items():
        check_override(key, value)
    options = replace(base, **overrides)
    check_options(options)
    return PromptJob(number, safe_id(record.get("id"), number), prompt, options)


def check_override(key: str, value: Any) -> None:
    allowed = OVERRIDABLE.get(key)
    if allowed is None:
        raise OptionError(f"unknown key {key!r} (a sampling option is one of: {', '.join(OVERRIDABLE)})")
    # bool is an int in Python, but `"steps": true` is a mistake, not 1.
    if isinstance(value, bool) and bool not in allowed or not isinstance(value, allowed):
        wanted = " or ".join(sorted({"null" if t is type(None) else t.__name__ for t in allowed}))
        raise OptionError(f"{key} must be {wanted}, not {json.dumps(value)[:40]}")


def _json_types(hint: Any) -> tuple[type, ...]:
    """The JSON values a field's type admits: a float field takes an integer too."""
    members = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    allowed = set(members)
    if float in allowed:
        allowed.add(int)
    return tuple(allowed)


# Each sampling option a line may set, and the JSON values it takes.
OVERRIDABLE = {name: _json_types(hint) for name, hint in typing.get_type_hints(SamplingOptions).items()}


def safe_id(value: Any, number: int) -> str:
    """A trace's file name stem: the id with anything but letters, digits, '.', '_' and '-' as '_',
    and a '_' before a name Windows keeps for a device ("CON", "aux.x")."""
    if value is None:
        return f"p{number}"
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise OptionError('"id" must be a string or an integer')
    safe = UNSAFE.sub("_", str(value)).strip(".")[:MAX_ID_CHARS]  # no hidden files, no "." or ".."
    if not safe:
        raise OptionError(f'"id" {json.dumps(value)[:40]} leaves nothing usable as a file name')
    if safe.split(".")[0].casefold() in DEVICE_NAMES:
        return f"_{safe}"[:MAX_ID_CHARS]
    return safe
