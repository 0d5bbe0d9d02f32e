"""A source that runs the sampler: the player fed step by step from a live run.

The engine (torch) is imported inside the worker thread, so the app's first frame never
waits for it. The model is loaded once per session and reused for every run.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llada_tui.tui.sources import Deliver, HeaderArrived, RunEnded, Source, Status, StepsArrived

BAR_WIDTH = 24
FRAMES_PER_SECOND = 30


@dataclass(frozen=True)
class ModelChoice:
    """Which model to load and where: the `--model`, `--device` and `--dtype` options."""

    name: str | None = None
    device: str | None = None
    dtype: str | None = None
    compile: bool = False

    @property
    def label(self) -> str:
        return self.name or "the embedded demo model"


class EngineCache:
    """Loads the model on first use (in a worker thread) and keeps it for later runs."""

    def __init__(self, choice: ModelChoice):
        self.choice = choice
        self._engine: Any = None
        self._lock = threading.Lock()

    def get(self, deliver: Deliver, prompt_line: str) -> Any:
        with self._lock:
            if self._engine is None:
                deliver(Status(f"{prompt_line}\n\nloading {self.choice.label}…"))
                from llada_tui.core import recording

                def progress(done: int, total: int, what: str) -> None:
                    filled = BAR_WIDTH * done // max(total, 1)
                    bar = "█" * filled + "░" * (BAR_WIDTH - filled)
                    deliver(Status(f"{prompt_line}\n\nloading {self.choice.label}\n{bar} {done}/{total} {what}"))

                choice = self.choice
                self._engine = recording.load_engine(choice.name, choice.device, choice.dtype, progress, choice.compile)
            return self._engine


def default_trace_path(prompt: str, folder: Path = Path("traces")) -> Path:
    """./traces/20261128-031500-lily-can-run-12-kilometers.trace, never an existing file."""
    slug = "-".join(re.findall(r"[a-z0-9]+", prompt.lower()))[:40].strip("-") or "run"
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}"
    path = folder / f"{stem}.trace"
    n = 2
    while path.exists():
        path = folder / f"{stem}-{n}.trace"
        n += 1
    return path


class StepBatcher:
    """Delivers steps at most FRAMES_PER_SECOND times a second.

    A fast model (a GPU takes ~10 ms a step) would otherwise post more messages than the
    screen can show, and the UI thread would take the interpreter from the sampler.
    """

    def __init__(self, deliver: Deliver):
        self.deliver = deliver
        self.pending: list[Any] = []
        self.last = 0.0

    def add(self, step: Any) -> None:
        self.pending.append(step)
        if time.monotonic() - self.last >= 1 / FRAMES_PER_SECOND:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.deliver(StepsArrived(self.pending))
            self.pending = []
        self.last = time.monotonic()


class LiveSource(Source):
    """One sampling run: loads the model if needed, samples, writes the trace, delivers each step.

    Setting `stop` cancels at the next step boundary; the trace then ends as "interrupted".
    Errors (model not found, out of memory, bad options) are delivered as a status line or as
    the run's problem, never raised into the app. `finished` is set once the trace is closed.
    """

    follows = True

    def __init__(self, engines: EngineCache, prompt: str, options: Any, path: Path):
        self.engines = engines
        self.prompt = prompt
        self.options = options
        self.path = path
        self.finished = threading.Event()
        self.trace_open = False  # set once the trace file exists: it must be closed before exit
        self.failed = False
        self.outcome = ""  # one line for the terminal when the app exits

    def run(self, deliver: Deliver, stop: threading.Event) -> None:
        try:
            self._run(deliver, stop)
        finally:
            self.finished.set()

    def _run(self, deliver: Deliver, stop: threading.Event) -> None:
        from llada_tui.core.loading import ModelLoadError

        prompt_line = f"prompt: {self.prompt}"
        try:
            engine = self.engines.get(deliver, prompt_line)
        except ModelLoadError as error:
            self.failed = True
            self.outcome = f"could not load the model: {error}"
            deliver(Status(f"{prompt_line}\n\n{self.outcome}\n\nq quits; fix the --model option and try again."))
            return
        if stop.is_set():  # quit while the model was loading: no run, no trace
            return
        from llada_tui.core import recording
        from llada_tui.core.sampler import StopSampling

        try:
            params = recording.resolve_params(engine, self.options)
            header = recording.make_header(engine, self.prompt, params)
        except (ValueError, ModelLoadError) as error:  # bad options; a tokenizer with no chat template
            self.failed = True
            self.outcome = f"bad options: {error}"
            deliver(Status(f"{prompt_line}\n\n{self.outcome}\n\nq quits; e edits the prompt."))
            return

        steps_done = 0
        batch = StepBatcher(deliver)

        def on_step(step: Any) -> None:
            nonlocal steps_done
            steps_done += 1
            batch.add(step)
            if stop.is_set():
                raise StopSampling

        def on_header(written: Any) -> None:
            self.trace_open = True
            deliver(HeaderArrived(written))

        try:
            try:
                end = recording.record_run(engine, header, self.path, on_step=on_step, on_header=on_header)
            finally:
                batch.flush()
        except StopSampling:
            self.outcome = f"interrupted after step {steps_done} of {params['steps']}; trace: {self.path}"
            deliver(RunEnded(None, f"interrupted after step {steps_done} of {params['steps']}"))
            return
        except Exception as error:  # the trace keeps what was recorded; the app says what happened
            reason = recording.one_line(error)
            if recording.is_out_of_memory(error):
                reason = "out of GPU memory: try a shorter --gen-length, or --device cpu"
            self.failed = True
            self.outcome = f"error after step {steps_done}: {reason}; trace: {self.path}"
            deliver(RunEnded(None, f"error after step {steps_done}: {reason}"))
            return
        self.outcome = f"trace: {self.path}"
        deliver(RunEnded(end, None))
