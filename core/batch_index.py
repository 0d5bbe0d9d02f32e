"""A batch's traces on disk: which are done, and the index that lists them all.

Everything is read back from the traces themselves, so a batch can be stopped anywhere (a rank
killed, the machine gone) and rerun: a complete trace of the same prompt and parameters is kept,
an incomplete one recorded again, a file that is something else (another run's trace, finished
or not, or no trace at all) left alone. `index.jsonl` has
one line per line of the prompts file, in order. Nothing here imports torch.
"""

from __future__ import annotations

import json
import os
import tempfile
from enum import Enum
from pathlib import Path
from typing import Any

from llada_tui.core.prompt_file import BadLine, PromptJob
from llada_tui.core.records import Header, TraceError
from llada_tui.core.trace_reader import Trace, load_trace

INDEX_NAME = "index.jsonl"
INDEX_START = b'{"line": '  # how every index line begins (index_entry and bad_line_entry put "line" first)


class TraceState(Enum):
    MISSING = "missing"  # not recorded yet
    COMPLETE = "complete"  # this prompt with these parameters, finished: kept
    INCOMPLETE = "incomplete"  # cut short, interrupted or failed: recorded again
    OTHER_RUN = "other run"  # a trace of another prompt, model or parameters, finished or not: left alone
    NOT_A_TRACE = "not a trace"  # a file that cannot be read as a trace: left alone


def trace_state(path: Path, header: Header) -> TraceState:
    """What `path` holds, against the run `header` describes (the header it would be written with)."""
    return read_trace(path, header)[0]


def read_trace(path: Path, header: Header) -> tuple[TraceState, Trace | None, str | None]:
    """What `path` holds against the run `header` describes, the trace if it is one, and why not."""
    if not path.exists():
        return TraceState.MISSING, None, None
    try:
        trace = load_trace(path)
    except (TraceError, OSError) as error:
        return TraceState.NOT_A_TRACE, None, str(error)
    if not same_run(trace.header, header):
        # Even unfinished, it may be nobody's batch (a user's interrupted `live`): never recorded over
        return TraceState.OTHER_RUN, trace, None
    return (TraceState.COMPLETE if trace.complete else TraceState.INCOMPLETE), trace, None


def same_run(recorded: Header, wanted: Header) -> bool:
    return (
        recorded.prompt_text == wanted.prompt_text
        and list(recorded.prompt_ids) == list(wanted.prompt_ids)
        and recorded.model.get("name") == wanted.model.get("name")
        and dict(recorded.params) == dict(wanted.params)
    )


def index_entry(job: PromptJob, header: Header, out_dir: Path) -> dict[str, Any]:
    """The index line of a job (whose run `header` describes), from its trace as it is on disk now."""
    entry: dict[str, Any] = {"line": job.line, "id": job.id, "prompt": job.prompt, "trace": job.trace_name}
    state, trace, problem = read_trace(out_dir / job.trace_name, header)
    entry["status"] = state.value
    if problem is not None:
        entry["error"] = problem
    if trace is not None and state is not TraceState.OTHER_RUN:
        entry.update(trace_summary(trace))
    return entry


def trace_summary(trace: Trace) -> dict[str, Any]:
    end = trace.end
    summary: dict[str, Any] = {
        "steps": len(trace.steps),
        "forwards": len(trace.steps),  # one model forward per step, for every sampler
        "cached_forwards": sum(step.forward == "cached" for step in trace.steps),
    }
    if end is not None:
        summary["wall_s"] = round(end.total_ms / 1000, 3)
        if trace.complete:
            summary["final_text"] = end.final_text
        elif end.message:
            summary["error"] = end.message
    return summary


def bad_line_entry(bad: BadLine) -> dict[str, Any]:
    return {"line": bad.line, "status": "bad line", "error": bad.reason}


def write_index(out_dir: Path, entries: list[dict[str, Any]]) -> Path:
    """index.jsonl, in line order, replaced in one step (a reader never sees half of it); written
    first to a new file of a name no one could have put a link at in advance."""
    path = out_dir / INDEX_NAME
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=out_dir, prefix=f".{INDEX_NAME}.", suffix=".tmp", delete=False
    ) as file:
        for entry in sorted(entries, key=lambda entry: entry["line"]):
            file.write(json.dumps(entry, ensure_ascii=True) + "\n")
    os.replace(file.name, path)
    return path


def foreign_index(out_dir: Path) -> str | None:
    """What DIR/index.jsonl is, if it is something the index must not replace: a folder, a device,
    a file that does not begin as an index line does (the user's own, their prompts file)."""
    path = out_dir / INDEX_NAME
    if not path.exists():
        return None
    if path.is_dir():
        return "a folder"
    if not path.is_file():
        return "not a regular file"
    with open(path, "rb") as file:
        start = file.read(len(INDEX_START))
    return None if start in (b"", INDEX_START) else "not a batch index"
