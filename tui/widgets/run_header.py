"""The header: what was run (model, parameters, prompt) and where playback stands."""

from __future__ import annotations

from rich.console import Group
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.events import Click, Resize
from textual.message import Message
from textual.widgets import Static

from llada_tui.core.inert import inert_text
from llada_tui.core.run_index import RunIndex
from llada_tui.tui.playback import Playback, State

PROMPT_ROOM = 16  # cells the prompt keeps on the position's line before the position's wording gets shorter
COMPACT_LEVELS = 3

# each state's label and its look (a component class of the header, in player.tcss)
STATE_LABELS: dict[State, tuple[str, str]] = {
    State.FOLLOWING: ("● following ", "live"),  # steps keep arriving and the view moves with them
    State.PLAYING: ("▶ playing ", "playing"),
    State.ENDED: ("■ at end ", "state"),
    State.PAUSED: ("‖ paused ", "state"),
}


def _number(value: object) -> str:
    """A parameter as a short number, or as it is if it is none (the header is not ours)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}"
    return str(value)


def describe_run(recording: RunIndex) -> str:
    """Model and sampling parameters on one line."""
    header = recording.header
    model = header.model
    name = str(model.get("name", "unknown model"))
    details = " ".join(str(model[key]) for key in ("dtype", "device") if model.get(key))
    params = header.params
    steps = f"{header.total_steps} steps" if header.total_steps is not None else sampler_settings(recording)
    parts = [
        f"{header.gen_length} tokens",
        steps,
        f"blocks of {header.block_length}",
        f"temp {_number(params.get('temperature', 0))}",
    ]
    if params.get("cfg_scale"):
        parts.append(f"cfg {_number(params['cfg_scale'])}")
    if params.get("remasking"):
        parts.append(f"remasking {params['remasking']}")
    model_part = f"{name} ({details})" if details else name
    return inert_text(f"{model_part} · " + " · ".join(parts))


def sampler_settings(recording: RunIndex) -> str:
    """A sampler that decides its own steps, and its thresholds: "wino τ 0.6 / back 0.9", "threshold τ 0.9"."""
    params = recording.header.params
    shown = str(recording.header.sampler)
    if params.get("threshold") is not None:
        shown += f" τ {_number(params['threshold'])}"
    if params.get("threshold_back") is not None:
        shown += f" / back {_number(params['threshold_back'])}"
    return shown


def approximate_mark(recording: RunIndex) -> str:
    """For a run with a KV cache, which only approximates its sampler: "≈ approximate (dual KV cache)"."""
    if not recording.header.approximate:
        return ""
    return inert_text(f"≈ approximate ({recording.header.params['cache']} KV cache)")


def steps_shown(recording: RunIndex, t: int) -> tuple[str, str]:
    """Where playback stands among the steps ("step 5/10"), and while more may come, how many the
    run was asked for ("of 64") or that it is not known yet ("of …"); else ""."""
    shown = f"step {t}/{recording.length}"
    if not recording.steps_known:
        return shown, "of …"
    if recording.length < recording.total_steps:
        return shown, f"of {recording.total_steps}"
    return shown, ""


class RunHeader(Static):
    DEFAULT_CSS = """
    RunHeader { height: 2; padding: 0 1; background: $panel; }
    RunHeader.-problem { height: 3; }
    """
    # styled in player.tcss: the run's line, secondary text, the live edge, warnings, the states
    COMPONENT_CLASSES = {
        "run-header--title",
        "run-header--dim",
        "run-header--live",
        "run-header--warning",
        "run-header--playing",
        "run-header--state",
        "run-header--approximate",
        "run-header--label",
        "run-header--label-mono",
        "run-header--label-other",
    }

    class Clicked(Message):
        """The header was clicked: show the run's details (the prompt is cut here)."""

        def __init__(self, header: RunHeader) -> None:
            super().__init__()
            self.header = header

        @property
        def control(self) -> RunHeader:
            return self.header

    _asked: tuple = ()  # the arguments of the last show(): worded again for a new width
    says_speed = False  # whether the header shows the playback speed now (a narrow one may not)

    def on_resize(self, event: Resize) -> None:
        if self._asked:
            self.show(*self._asked)

    def on_click(self, event: Click) -> None:
        self.post_message(self.Clicked(self))

    def look(self, part: str) -> Style:
        """The style of a part of the header, as player.tcss has it."""
        return self.get_component_rich_style(f"run-header--{part}", partial=True)

    def _position(
        self, recording: RunIndex, playback: Playback, quiet_s: float | None, state: bool, compact: int
    ) -> Text:
        """Where playback stands; compact 1: the live edge's notes shorter, the block as b3/8; 2: no
        speed either, unless playing."""
        dim, warning = self.look("dim"), self.look("warning")
        t = playback.position
        position = Text(" ", no_wrap=True, justify="right")
        if state:
            label, part = STATE_LABELS[playback.state]
            speed = compact < 2 or playback.playing
            position.append(label if speed else label.rstrip(), self.look(part))
            if speed:
                position.append(f"{playback.speed:g} steps/s", dim)
        step, of = steps_shown(recording, t)
        position.append(f"  {step}")
        if of:
            position.append(f" {of}", dim)
        block = f"{recording.block_at(t) + 1}/{recording.n_blocks}"
        position.append(f"  block {block}" if not compact else f"  b{block}")
        if playback.behind_live:
            position.append(
                "  ○ behind live: End to catch up" if not compact else "  ○ End: catch up", self.look("live")
            )
        if playback.live and quiet_s is not None:
            position.append(
                f"  no new step for {quiet_s:.0f} s" if not compact else f"  no step for {quiet_s:.0f} s", warning
            )
        elif playback.follows and playback.finished:
            position.append("  ■ ended", warning)
        return position

    def show(
        self,
        recording: RunIndex,
        playback: Playback,
        quiet_s: float | None = None,
        state: bool = True,
        label: str = "",
        keys: bool = True,
    ) -> None:
        """The run, and where playback stands; quiet_s: following, no new step for this long.

        state: whether to say if it plays and how fast (compare says it once for both views);
        label: the run's name on screen, before the rest (compare's A and B), marked as the run
        the keys for one run act on if `keys`."""
        self._asked = (recording, playback, quiet_s, state, label, keys)
        if not recording.ready:
            self.update(Text("llada-tui", style=self.look("title")), layout=False)
            return
        dim, warning = self.look("dim"), self.look("warning")
        run = Text(no_wrap=True, overflow="ellipsis")
        if label:
            run.append(
                f" {label} ", self.look("label-other" if not keys else "label-mono" if self.app.no_color else "label")
            )
            run.append(" ")
        if approximate := approximate_mark(recording):  # first: a narrow header cuts the end of the line
            run.append(approximate, self.look("approximate"))
            run.append(" · ", self.look("title"))
        run.append(describe_run(recording), self.look("title"))
        prompt = Text("prompt: ", style=dim, no_wrap=True, overflow="ellipsis")
        prompt.append(inert_text(recording.header.prompt_text))

        width = self.content_region.width or self.app.size.width
        for compact in range(COMPACT_LEVELS):  # the fullest wording that leaves the prompt some room
            position = self._position(recording, playback, quiet_s, state, compact)
            if position.cell_len + PROMPT_ROOM <= width:
                break
        self.says_speed = state and (compact < 2 or playback.playing)

        grid = Table.grid(expand=True)
        grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        grid.add_column(no_wrap=True, justify="right")
        grid.add_row(prompt, position)
        rows = [run, grid]
        self.set_class(bool(recording.problem), "-problem")
        if recording.problem:
            rows.append(Text(f"⚠ {inert_text(recording.problem)}", style=warning, no_wrap=True))
        self.update(Group(*rows), layout=False)
