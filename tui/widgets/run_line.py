"""Live mode's run line: run number, the run's state and trace file; on the right the run keys.

The run keys are here rather than in the footer, which at 80 columns is full with the player's.
"""

from __future__ import annotations

from enum import Enum

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.widget import Widget


class RunState(Enum):
    """Where a live run stands; the value names its look (run-line--VALUE in player.tcss)."""

    LOADING = "loading"  # the model is loading: nothing is being recorded yet
    STARTING = "starting"
    RECORDING = "recording"
    SAVED = "saved"
    SAVED_WITH_PROBLEM = "problem"  # the trace keeps what was recorded, without a clean end
    NOT_RECORDED = "not-recorded"  # stopped before its trace was created
    STOPPING = "stopping"


# Each state's words. A detail (the problem, the reason) follows them: in the state's look
# after a problem, in the line's own after "not recorded".
STATE_WORDS: dict[RunState, str] = {
    RunState.LOADING: "○ loading model…",
    RunState.STARTING: "○ starting…",
    RunState.RECORDING: "● recording",
    RunState.SAVED: "■ saved",
    RunState.SAVED_WITH_PROBLEM: "■ saved, ",
    RunState.NOT_RECORDED: "✗ not recorded: ",
    RunState.STOPPING: "■ stopping…",
}


class RunLine(Widget):
    """The run's line; a long path loses its start, not its file name."""

    # in player.tcss: secondary text, a run key, and each state's look
    COMPONENT_CLASSES = {"run-line--dim", "run-line--key", *(f"run-line--{state.value}" for state in RunState)}

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self._shown: tuple[int, RunState | None, str | None, list[tuple[str, str]], str] = (1, None, None, [], "")

    def look(self, part: str) -> Style:
        """The style of a part of the line, as player.tcss has it."""
        return self.get_component_rich_style(f"run-line--{part}", partial=True)

    def show(self, run: int, state: RunState, path: str | None, keys: list[tuple[str, str]], detail: str = "") -> None:
        """`path` and `detail` must be inert already; `keys` are (key, what it does) pairs."""
        self._shown = (run, state, path, keys, detail)
        self.refresh()

    def render(self) -> Text:
        run, state, path, keys, detail = self._shown
        dim = self.look("dim")
        right = Text()
        for key, what in keys:
            right.append(f"  {key} ", self.look("key")).append(what, dim)
        left = Text(f"run {run} ", dim)
        if state is not None:  # nothing shown before the first state
            left.append(STATE_WORDS[state], self.look(state.value))
            left.append(detail, self.look(state.value) if state is RunState.SAVED_WITH_PROBLEM else "")
        room = self.content_region.width - right.cell_len - 1
        if path is not None:
            left.append(" → ").append(_tail(path, max(room - left.cell_len - 3, 12)))
        left.truncate(max(room, 0), overflow="ellipsis")
        return left.append(" " * max(0, room - left.cell_len + 1)).append_text(right)


def _tail(text: str, cells: int) -> str:
    """The end of text in at most `cells` cells, "…" marking what was cut."""
    if cell_len(text) <= cells:
        return text
    kept = ""
    for char in reversed(text):
        if cell_len(kept) + cell_len(char) > cells - 1:
            break
        kept = char + kept
    return "…" + kept
