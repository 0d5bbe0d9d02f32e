"""A checkpoint's chat template, rendered where it cannot hurt us.

A chat template is jinja2 code that comes with the checkpoint. jinja2's sandbox stops attribute
tricks, but not a loop that never ends, a 10 GB string or a recursion bomb (one such string once
aborted the whole process). So the template is rendered in a short-lived child Python process
limited to CPU_SECONDS of CPU time and MEMORY_BYTES of address space, killed after WALL_SECONDS,
with include/extends/import refused, and its text (at most MAX_RENDERED_CHARS characters) comes
back through a pipe.

A fresh interpreter rather than fork(): forking a process that holds a model copies its page
tables (measured here: ~0.1-0.2 s with 2 GB of weights, growing with the model) and inherits its
threads; a fresh interpreter costs the same whatever the model (~0.1 s on an idle core, mostly
importing jinja2), once per run, and renders are cached.

The message is rendered a second time as a sentinel, so that the caller can tell the text the
template wrote from the text the user wrote (`RenderedChat.message_spans`).
"""

from __future__ import annotations

import json
import resource
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

CPU_SECONDS = 1
MEMORY_BYTES = 512 << 20
WALL_SECONDS = 10  # only reached on a starved machine: the CPU limit stops a busy template first
MAX_TEMPLATE_CHARS = 1 << 20  # checked when the tokenizer is loaded
MAX_RENDERED_CHARS = 1 << 20

# Stands for the message in the second rendering: digits only, so that case changes, trimming
# and escaping leave it as it is.
SENTINEL = f"{secrets.randbelow(10**40):040d}"


class TemplateRenderError(Exception):
    """The template failed, or went over its budget; the message is one line."""


@dataclass(frozen=True)
class RenderedChat:
    text: str
    # Where the message's text lies in `text`, one span per time the template shows it;
    # None when the template's own text depends on the message, so that it cannot be told.
    message_spans: tuple[tuple[int, int], ...] | None


@lru_cache(maxsize=32)
def render_chats(template: str, messages: tuple[str, ...], bos_token: str, eos_token: str) -> tuple[RenderedChat, ...]:
    """Each user message in the template's chat format, with a generation prompt for the answer.

    One child renders them all (and the sentinel once), under one budget.
    """
    contexts = [
        {
            "messages": [{"role": "user", "content": content}],
            "add_generation_prompt": True,
            "bos_token": bos_token,
            "eos_token": eos_token,
        }
        for content in (*messages, SENTINEL)
    ]
    *texts, with_sentinel = render_in_child(template, contexts)
    return tuple(RenderedChat(text, message_spans(text, with_sentinel)) for text in texts)


def message_spans(text: str, with_sentinel: str) -> tuple[tuple[int, int], ...] | None:
    """The spans of `text` that hold the message, given the same template rendered with SENTINEL.

    The pieces around the sentinels must be found unchanged in `text`, with the same message
    text between each; otherwise the template's own text depended on the message: None.
    """
    pieces = with_sentinel.split(SENTINEL)
    shown = len(pieces) - 1
    free = len(text) - sum(len(piece) for piece in pieces)
    if shown == 0:
        return () if free == 0 else None
    if free < 0 or free % shown:
        return None
    size = free // shown
    spans = []
    position = 0
    for i, piece in enumerate(pieces):
        if not text.startswith(piece, position):
            return None
        position += len(piece)
        if i < shown:
            spans.append((position, position + size))
            position += size
    if len({text[start:end] for start, end in spans}) > 1:
        return None
    return tuple(spans)


def render_in_child(template: str, contexts: list[dict[str, Any]]) -> list[str]:
    """The template rendered once per context (its jinja2 variables), in a child under the budget."""
    request = json.dumps({"template": template, "contexts": contexts}).encode()
    try:
        child = subprocess.run(
            [sys.executable, "-I", "-m", __name__],
            input=request,
            capture_output=True,
            timeout=WALL_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise TemplateRenderError(f"rendering took more than {WALL_SECONDS} s") from None
    except OSError as error:
        raise TemplateRenderError(f"cannot start a process to render it ({error.strerror or error})") from None
    if child.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise TemplateRenderError(f"rendering took more than {CPU_SECONDS} s of CPU time")
    try:
        reply = json.loads(child.stdout)
    except ValueError:
        detail = child.stderr.decode("utf-8", "replace").strip().splitlines()
        why = detail[-1][:200] if detail else f"exit status {child.returncode}"
        raise TemplateRenderError(f"the process rendering it failed ({why})") from None
    if "error" in reply:
        raise TemplateRenderError(reply["error"])
    return reply["texts"]


# ---------------------------------------------------------------------------- in the child


def _lower_limit(kind: int, soft: int, hard: int) -> None:
    _, current = resource.getrlimit(kind)
    if current != resource.RLIM_INFINITY:
        soft, hard = min(soft, current), min(hard, current)
    try:
        resource.setrlimit(kind, (soft, hard))
    except (ValueError, OSError):  # e.g. RLIMIT_AS on macOS: the wall-clock limit still holds
        pass


def _render(template: str, contexts: list[dict[str, Any]]) -> list[str]:
    from jinja2 import BaseLoader, TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class RefusingLoader(BaseLoader):
        def get_source(self, environment: Any, name: str) -> Any:
            raise TemplateError("include, extends and import are not allowed in a chat template")

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, loader=RefusingLoader())
    env.globals["raise_exception"] = raise_exception
    compiled = env.from_string(template)
    texts = []
    for context in contexts:
        chunks, size = [], 0
        for chunk in compiled.generate(**context):
            size += len(chunk)
            if size > MAX_RENDERED_CHARS:
                raise TemplateError(f"it renders more than {MAX_RENDERED_CHARS} characters")
            chunks.append(chunk)
        texts.append("".join(chunks))
    return texts


def _serve() -> None:
    """Read a request on stdin, answer {"texts": [...]} or {"error": "one line"} on stdout."""
    _lower_limit(resource.RLIMIT_CORE, 0, 0)
    _lower_limit(resource.RLIMIT_CPU, CPU_SECONDS, CPU_SECONDS + 1)  # SIGXCPU, then SIGKILL a second later
    _lower_limit(resource.RLIMIT_AS, MEMORY_BYTES, MEMORY_BYTES)
    request = json.loads(sys.stdin.buffer.read())
    try:
        reply: dict[str, Any] = {"texts": _render(request["template"], request["contexts"])}
    except MemoryError:
        reply = {"error": f"rendering needs more than {MEMORY_BYTES >> 20} MiB of memory"}
    except RecursionError:
        reply = {"error": "recursion too deep"}
    except Exception as error:  # the template's own error, or what its code ran into
        lines = str(error).strip().splitlines()
        reply = {"error": (lines[0] if lines else type(error).__name__)[:300]}
    sys.stdout.buffer.write(json.dumps(reply).encode())


if __name__ == "__main__":
    _serve()
