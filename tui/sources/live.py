"""A source that runs the sampler: the player fed step by step from a live run.

The engine (torch) is imported inside the worker thread, so the app's first frame never
waits for it. The model is loaded once per session (engine.py) and reused for every run.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from llada_tui.core.inert import inert_text
from llada_tui.core.options import OptionError, check_prompt
from llada_tui.tui.sources.engine import EngineCache
from llada_tui.tui.sources.messages import HeaderArrived, RunEnded, RunNotRecorded, Status, StepsArrived
from llada_tui.tui.sources.source import Deliver, Source

FRAMES_PER_SECOND = 30


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
    Errors (model not found, out of memory, bad options, anything unforeseen) are delivered as
    a status line and RunNotRecorded if no trace was started, else as the run's problem; they are
    never raised into the app, and they mark the run `failed`. `finished` is set once the
    trace is closed. Every text delivered is inert: prompts and errors may hold anything.
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
        self.outcome = ""  # one line (inert) for the terminal when the app exits

    @property
    def prompt_line(self) -> str:
        return f"prompt: {inert_text(self.prompt)}"

    def run(self, deliver: Deliver, stop: threading.Event) -> None:
        try:
            self._run(deliver, stop)
        except Exception as error:  # a bug or an input nobody foresaw: say so, never die silently
            from llada_tui.core.recording import one_line

            if self.trace_open:
                self._ended_badly(deliver, f"unexpected error: {one_line(error)}")
            else:
                self._not_recorded(deliver, f"unexpected error: {one_line(error)}", "q quits; e edits the prompt.")
        finally:
            self.finished.set()

    def _run(self, deliver: Deliver, stop: threading.Event) -> None:
        try:
            check_prompt(self.prompt)  # the CLI checked it already; the Python API may not have
        except OptionError as error:
            self._not_recorded(deliver, str(error), "q quits; e edits the prompt.")
            return
        from llada_tui.core.loading import ModelLoadError

        try:
            engine = self.engines.get(deliver, self.prompt_line)
        except ModelLoadError as error:
            hint = "q quits; fix the --model option and try again."
            self._not_recorded(deliver, f"could not load the model: {error}", hint)
            return
        if stop.is_set():  # cancelled (x, a new run, quitting) while the model was loading
            self._not_recorded(deliver, "cancelled before the run began", "e runs a prompt; q quits.", failed=False)
            return
        from llada_tui.core import recording

        try:
            params = recording.resolve_params(engine, self.options)
            header = recording.make_header(engine, self.prompt, params)
        except (ValueError, ModelLoadError) as error:  # bad options; a tokenizer with no chat template
            self._not_recorded(deliver, f"bad options: {error}", "q quits; e edits the prompt.")
            return
        self._record(engine, header, deliver, stop)

    def _record(self, engine: Any, header: Any, deliver: Deliver, stop: threading.Event) -> None:
        from llada_tui.core import recording
        from llada_tui.core.sampler import StopSampling

        steps_done = 0
        of_total = "" if header.total_steps is None else f" of {header.total_steps}"
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
            self.outcome = f"interrupted after step {steps_done}{of_total}; trace: {inert_text(str(self.path))}"
            deliver(RunEnded(None, f"interrupted after step {steps_done}{of_total}"))
            return
        except Exception as error:  # the trace keeps what was recorded; the app says what happened
            reason = recording.one_line(error)
            if recording.is_out_of_memory(error):
                reason = recording.OUT_OF_MEMORY_ADVICE
            if not self.trace_open:  # e.g. the file appeared meanwhile, or its folder is read-only
                self._not_recorded(deliver, f"could not create the trace: {reason}", "q quits; e runs again.")
                return
            self._ended_badly(deliver, f"error after step {steps_done}: {reason}")
            return
        self.outcome = f"trace: {inert_text(str(self.path))}"
        deliver(RunEnded(end, None))

    def _not_recorded(self, deliver: Deliver, reason: str, hint: str, failed: bool = True) -> None:
        """The run ends before its trace exists: say why in place of the grid, and on the run line."""
        reason = inert_text(reason)
        self.failed = failed
        self.outcome = f"not recorded: {reason}"
        deliver(Status(f"{self.prompt_line}\n\n{reason}\n\n{hint}"))
        deliver(RunNotRecorded(reason))

    def _ended_badly(self, deliver: Deliver, reason: str) -> None:
        """The run fails after its trace was started: the trace keeps what was recorded."""
        reason = inert_text(reason)
        self.failed = True
        self.outcome = f"{reason}; trace: {inert_text(str(self.path))}"
        deliver(RunEnded(None, reason))
