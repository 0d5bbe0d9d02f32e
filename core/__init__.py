"""llada-tui's engine: the native LLaDA model, the recording sampler and the trace format.

`generate` needs torch; it is imported on first use so that the player, which only reads
traces, runs where torch is not installed.
"""

from typing import Any

__all__ = ["generate"]


def __getattr__(name: str) -> Any:
    if name == "generate":
        from llada_tui.core.sampler import generate

        return generate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
