"""`llada-tui live`: the player fed by a sampler running in a worker, every run kept as a trace.

Keys on top of the player's, shown on the run line: e runs a new prompt (with the session's
options), r re-runs with a new seed (at temperature 0 with low_confidence remasking a seed
changes nothing, so that re-run samples at RERUN_TEMPERATURE and says so), x cancels the run.
With `-o FILE`, later runs go beside it (FILE-2, FILE-3...), else to ./traces; no run writes
over a file. Quitting mid-run stops the sampler at the next step boundary and marks the trace
interrupted; the paths of the traces written are printed when the app exits, and the exit
status is 1 if the last run failed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import sys
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input

from llada_tui.core.inert import inert_text
from llada_tui.core.options import OptionError, check_prompt
from llada_tui.tui.app import PlayerApp
from llada_tui.tui.sources.engine import EngineCache, ModelChoice
from llada_tui.tui.sources.live import LiveSource
from llada_tui.tui.sources.messages import HeaderArrived, RunEnded, RunNotRecorded
from llada_tui.tui.trace_paths import default_trace_path, free_path
from llada_tui.tui.trace_view import TraceView
from llada_tui.tui.widgets.run_line import RunLine, RunState

STOP_WAIT_SECONDS = 120  # a step of a large model on a slow device can take a while
# A seed changes nothing when every step takes the most likely tokens and unmasks the most
# confident ones: `r` then samples at this temperature (the model's own distribution) instead.
RERUN_TEMPERATURE = 1.0


def seeds_matter(options: Any) -> bool:
    """Whether a run's seed changes anything: only noise or random remasking draw from it."""
    return options.temperature > 0 or options.remasking == "random"


class PromptBar(Input):
    BINDINGS = [Binding("escape", "close", "Close", id="prompt-close")]

    def __init__(self, *, id: str | None = None):
        super().__init__(placeholder="a new prompt (Enter to run it, Esc to close)", id=id)

    def open(self, text: str) -> None:
        self.value = text
        self.display = True
        self.focus()

    def action_close(self) -> None:
        self.display = False
        self.app.grid.focus()


class LiveApp(PlayerApp):
    TITLE = "llada-tui live"

    # Shown on the run line, with what applies now: at 80 columns the footer is full.
    BINDINGS = [
        Binding("e", "new_prompt", "New prompt", show=False, id="new-prompt"),
        Binding(
            "r",
            "rerun",
            "Re-run",
            tooltip=(
                "Re-run the prompt with a new seed. At temperature 0 with low_confidence remasking "
                f"a seed changes nothing, so the re-run samples at temperature {RERUN_TEMPERATURE:g}"
            ),
            show=False,
            id="rerun",
        ),
        Binding("x", "cancel", "Cancel", tooltip="Cancel the run at its next step", show=False, id="cancel"),
    ]

    def __init__(self, engines: EngineCache, prompt: str, options: Any, output: Path | None = None):
        self.engines = engines
        self.options = options
        self.output = output  # -o FILE: later runs go beside it, FILE-2, FILE-3...
        first = LiveSource(engines, prompt, options, output or default_trace_path(prompt))
        self.runs: list[LiveSource] = [first]
        self.source = first  # the run shown: the view's, from its Loaded message on
        super().__init__(first)

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield RunLine(id="run-file")
        yield PromptBar(id="prompt-bar")

    # Textual calls the handlers of every class in the MRO (this one first): no super() calls.
    def on_mount(self) -> None:
        self.query_one(PromptBar).display = False

    def starting_status(self, source: LiveSource) -> str:
        return f"prompt: {inert_text(source.prompt)}\n\nstarting…"

    def on_trace_view_loaded(self, message: TraceView.Loaded) -> None:
        self.source = message.source
        self._show_starting()

    def on_header_arrived(self, message: HeaderArrived) -> None:
        self._show_run(RunState.RECORDING)

    def on_run_ended(self, message: RunEnded) -> None:
        if message.problem is None:
            self._show_run(RunState.SAVED)
        else:
            self._show_run(RunState.SAVED_WITH_PROBLEM, inert_text(message.problem))

    def on_run_not_recorded(self, message: RunNotRecorded) -> None:
        self._show_run(RunState.NOT_RECORDED, inert_text(message.reason))

    def _show_starting(self) -> None:
        """Before the header: the model may still be loading, nothing is being recorded yet."""
        self._show_run(RunState.STARTING if self.engines.loaded else RunState.LOADING)

    def _show_run(self, state: RunState, detail: str = "") -> None:
        """`detail` must be inert already."""
        running = state in (RunState.LOADING, RunState.STARTING, RunState.RECORDING)
        keys = ([("x", "cancel")] if running else []) + [("e", "new prompt"), ("r", "re-run")]
        path = None if state is RunState.NOT_RECORDED else inert_text(str(self.source.path))
        for line in self.query(RunLine):  # none once the app is exiting: a run's last messages may come later
            line.show(len(self.runs), state, path, keys, detail)

    # ------------------------------------------------------------------ runs

    def action_new_prompt(self) -> None:
        self.query_one(PromptBar).open(self.source.prompt)

    @on(Input.Submitted, "#prompt-bar")
    def _prompt_submitted(self, message: Input.Submitted) -> None:
        prompt = message.value.strip()
        try:
            check_prompt(prompt)
        except OptionError as error:  # checked at once: nothing starts, the bar stays open to fix it
            self.notify(f"{error}: nothing to run", severity="warning", markup=False)
            return
        self.query_one(PromptBar).action_close()
        self._start_run(prompt, self.options)  # the session's options, not a re-run's seed and temperature

    def action_rerun(self) -> None:
        options = self.source.options
        seed = random.randrange(2**31)
        if seeds_matter(options):
            self.notify(f"re-running with seed {seed}", markup=False)
        else:
            options = dataclasses.replace(options, temperature=RERUN_TEMPERATURE)
            # Short enough for the notice line at 80 columns; the help (?) says the whole of it.
            self.notify(f"temp 0 ignores the seed: re-running at temp {RERUN_TEMPERATURE:g}, seed {seed}", markup=False)
        self._start_run(self.source.prompt, dataclasses.replace(options, seed=seed))

    def action_cancel(self) -> None:
        if not self.source.finished.is_set():
            self.view.stop()
            self.notify("cancelling at the next step…", markup=False)
        else:
            self.notify("nothing to cancel: the run is over", markup=False)

    def _start_run(self, prompt: str, options: Any) -> None:
        source = LiveSource(self.engines, prompt, options, self._next_path(prompt))
        if not self.source.finished.is_set():
            self._show_run(RunState.STOPPING)
        self.runs.append(source)
        self.run_worker(self._switch_when_done(self.source, source), exclusive=True, group="switch")

    def _next_path(self, prompt: str) -> Path:
        """Where a later run goes: beside -o FILE if given, else ./traces; never over a file."""
        taken = {run.path for run in self.runs}
        if self.output is None:
            return default_trace_path(prompt, taken=taken)
        return free_path(self.output, taken, first_number=len(self.runs) + 1)

    async def _switch_when_done(self, old: LiveSource, new: LiveSource) -> None:
        self.view.stop()
        await asyncio.to_thread(old.finished.wait)
        self.view.load(new, self.starting_status(new))  # queued after everything the old run posted


def run_live_app(prompt: str, options: Any, choice: ModelChoice, output: Path | None = None) -> int:
    """Run `llada-tui live`; prints where each run's trace went. Returns the exit code."""
    if output is not None and output.exists():
        print(f"llada-tui: error: {inert_text(str(output))} exists; choose another -o FILE", file=sys.stderr)
        return 2
    app = LiveApp(EngineCache(choice), prompt, options, output)
    app.run()
    for source in app.runs:
        if source.trace_open:
            source.finished.wait(STOP_WAIT_SECONDS)  # the sampler stops at its next step
        if source.outcome:
            print(f"llada-tui: {source.outcome}", file=sys.stderr)
    if app.return_code:
        return app.return_code
    return 1 if app.runs[-1].failed else 0
