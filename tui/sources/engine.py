"""The model a live session samples with: which one (ModelChoice), loaded once and kept (EngineCache)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from llada_tui.core.inert import inert_text
from llada_tui.tui.sources.messages import Status
from llada_tui.tui.sources.source import Deliver

BAR_WIDTH = 24


@dataclass(frozen=True)
class ModelChoice:
    """Which model to load, where and how: the `--model`, `--device`, `--dtype`, `--threads` options."""

    name: str | None = None
    device: str | None = None
    dtype: str | None = None
    compile: bool = False
    threads: int | None = None  # torch's threads; None: chosen to leave a core to the UI

    @property
    def label(self) -> str:
        return inert_text(self.name) if self.name else "the embedded demo model"


class EngineCache:
    """Loads the model on first use (in a worker thread) and keeps it for later runs."""

    def __init__(self, choice: ModelChoice):
        self.choice = choice
        self._engine: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def get(self, deliver: Deliver, prompt_line: str) -> Any:
        with self._lock:
            if self._engine is None:
                deliver(Status(f"{prompt_line}\n\nloading {self.choice.label}…"))
                from llada_tui.core.threads import use_threads

                # Before torch loads: its spinning threads made sampling ~10x slower beside the UI.
                use_threads(self.choice.threads, leave_for_ui=True)
                from llada_tui.core import recording

                def progress(done: int, total: int, what: str) -> None:
                    filled = BAR_WIDTH * done // max(total, 1)
                    bar = "█" * filled + "░" * (BAR_WIDTH - filled)
                    loading = f"loading {self.choice.label}\n{bar} {done}/{total} {inert_text(what)}"
                    deliver(Status(f"{prompt_line}\n\n{loading}"))

                choice = self.choice
                self._engine = recording.load_engine(choice.name, choice.device, choice.dtype, progress, choice.compile)
            return self._engine
