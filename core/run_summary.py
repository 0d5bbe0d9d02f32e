"""A run's sampler and forwards in words, the same on the CLI (`info`) and in the player.

Every value quoted from the trace is made inert. Nothing here imports torch or Textual.
"""

from __future__ import annotations

from llada_tui.core.inert import inert_text
from llada_tui.core.records import Header
from llada_tui.core.run_index import RunIndex


def sampler_line(header: Header) -> str:
    """The sampler and its settings: "threshold, threshold 0.9, prefix KV cache (approximate: …)"."""
    params = header.params
    parts = [inert_text(str(header.sampler))]
    for key in ("threshold", "threshold_back"):
        if params.get(key) is not None:
            parts.append(f"{key.replace('_', ' ')} {inert_text(str(params[key]))}")
    if header.approximate:
        cache = inert_text(str(params["cache"]))
        parts.append(f"{cache} KV cache (approximate: the cached keys are stale until the next block)")
    return ", ".join(parts)


def steps_line(run: RunIndex, complete: bool) -> str:
    """Steps (forwards) with the tokens each committed on average, and the changes of mind:
    "11; 11.73 tokens committed per forward; 0 revised, 1 re-masked"."""
    total = run.header.total_steps
    line = f"{run.length}" + ("" if total is None else f" of {total}")
    if not complete:
        line += " (incomplete)"
    if run.length:
        line += f"; {sum(run.committed_per_step) / run.length:.2f} tokens committed per forward"
    revised, remasked = sum(run.revised_per_step), sum(run.remasked_per_step)
    if revised or remasked or run.header.revises:
        line += f"; {revised} revised, {remasked} re-masked"
    return line
