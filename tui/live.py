"""`llada-tui live`: the player fed by a sampler running in a worker, every run kept as a trace.

Keys on top of the player's: e runs a new prompt, r re-runs with a new seed, x cancels the
run. Quitting mid-run stops the sampler at the next step boundary and marks the trace
interrupted; the paths of the traces written are printed when the app exits.
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
from textual.message import Message
from textual.widgets import Input, Static

from llada_tui.tui.app import PlayerApp
from llada_tui.tui.live_source import EngineCache, LiveSource, ModelChoice, default_trace_path
from llada_tui.tui.sources import RunEnded

LIVE_KEYS = Binding.Group("Run")
STOP_WAIT_SECONDS = 120  # a step of a large model on a slow device can take a while


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

    BINDINGS = [
        Binding("e", "new_prompt", "New prompt", group=LIVE_KEYS, id="new-prompt"),
        Binding("r", "rerun", "Re-run, new seed", group=LIVE_KEYS, id="rerun"),
        Binding("x", "cancel", "Cancel run", show=False, id="cancel"),
    ]

    class RunSwitched(Message):
        """Posted once the previous run has delivered everything: start showing the next."""

        def __init__(self, source: LiveSource) -> None:
            super().__init__()
            self.source = source

    def __init__(self, engines: EngineCache, prompt: str, options: Any, output: Path | None = None):
        self.engines = engines
        self.options = options
        first = LiveSource(engines, prompt, options, output or default_trace_path(prompt))
        self.runs: list[LiveSource] = [first]
        super().__init__(first)

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield Static(id="run-file")
        yield PromptBar(id="prompt-bar")

    # Textual calls the handlers of every class in the MRO (this one first): no super() calls.
    def on_mount(self) -> None:
        self.query_one(PromptBar).display = False
        self._show_run_file("● recording")
        self.query_one("#status", Static).update(f"prompt: {self.source.prompt}\n\nstarting…")

    def _show_run_file(self, state: str) -> None:
        self.query_one("#run-file", Static).update(f"{state} → {self.source.path}   (run {len(self.runs)})")

    def on_run_ended(self, message: RunEnded) -> None:
        self._show_run_file("■ saved" if message.problem is None else "■ saved, " + message.problem)

    # ------------------------------------------------------------------ runs

    def action_new_prompt(self) -> None:
        self.query_one(PromptBar).open(self.source.prompt)

    @on(Input.Submitted, "#prompt-bar")
    def _prompt_submitted(self, message: Input.Submitted) -> None:
        self.query_one(PromptBar).action_close()
        if message.value.strip():
            self._start_run(message.value.strip(), self.source.options)

    def action_rerun(self) -> None:
        seed = random.randrange(2**31)
        self._start_run(self.source.prompt, dataclasses.replace(self.source.options, seed=seed))
        self.notify(f"re-running with seed {seed}", markup=False)

    def action_cancel(self) -> None:
        if not self.source.finished.is_set():
            self._stop.set()
            self.notify("cancelling at the next step…", markup=False)

    def _start_run(self, prompt: str, options: Any) -> None:
        source = LiveSource(self.engines, prompt, options, default_trace_path(prompt))
        self.runs.append(source)
        self.run_worker(self._switch_when_done(self.source, source), exclusive=True, group="switch")

    async def _switch_when_done(self, old: LiveSource, new: LiveSource) -> None:
        self._stop.set()
        await asyncio.to_thread(old.finished.wait)
        self.post_message(self.RunSwitched(new))  # queued after everything the old run posted

    async def on_live_app_run_switched(self, message: RunSwitched) -> None:
        await self.switch_source(message.source, f"prompt: {message.source.prompt}\n\nstarting…")
        self._show_run_file("● recording")


def run_live_app(prompt: str, options: Any, choice: ModelChoice, output: Path | None = None) -> int:
    """Run `llada-tui live`; prints where each run's trace went. Returns the exit code."""
    if output is not None and output.exists():
        print(f"llada-tui: error: {output} exists; choose another -o FILE", file=sys.stderr)
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
