"""The interface every source implements.

To add a source, subclass `Source` and implement `run(deliver, stop)`: call `deliver` with the
messages of messages.py (it is thread-safe), return when the run is over or as soon as `stop`
is set. The view, its index and its widgets never learn which source they are fed by.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from textual.message import Message

Deliver = Callable[[Message], object]


class Source(ABC):
    follows = False  # whether more steps may keep arriving after the first delivery
    path: Path | None = None  # the trace file read or written, if any (exports go beside it)

    @abstractmethod
    def run(self, deliver: Deliver, stop: threading.Event) -> None:
        """Deliver the run's records (see messages.py); called in a worker thread."""
