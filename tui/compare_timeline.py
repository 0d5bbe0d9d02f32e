"""Compare's shared timeline: one position T that holds two trace views, by step or by fraction.

By step, T is a step count: each view shows its first T steps (a shorter run stays at its end).
By fraction, T runs over the longer run's steps and each view shows the same share of its own
run (T of 64 is half of 8 steps too): runs with different step counts line up. The shared
timeline has its own Playback (tui/playback.py) and timer; the views' own stay paused, moved
only through `TraceView.go_to`. A view that moves itself (find, the command palette) leads: T
follows it, and the other view follows T.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget

from llada_tui.tui.playback import Playback, State
from llada_tui.tui.trace_view import DEFAULT_SPEED, FRAME_SECONDS, SPEEDS, TraceView
from llada_tui.tui.widgets.timeline import Timeline


class Scale(Enum):
    STEP = "by step"
    FRACTION = "by fraction"


class SharedTimeline(Widget):
    DEFAULT_CSS = "SharedTimeline { height: auto; }"

    @dataclass
    class Changed(Message):
        """T, the scale, the speed or the playback state changed (the compare header says them)."""

        timeline: SharedTimeline

    def __init__(self, views: tuple[TraceView, TraceView], follows: bool, *, id: str | None = None):
        super().__init__(id=id)
        self.views = views
        self.scale = Scale.STEP
        self.speed_index = DEFAULT_SPEED
        self.playback = Playback(SPEEDS[self.speed_index], follows=follows)
        self._timer: Timer | None = None
        self._asked: dict[str, int] = {}  # view id -> the position the last sync gave it
        self._lengths: dict[str, int] = {}  # view id -> its length when last heard of

    def compose(self) -> ComposeResult:
        yield Timeline(id="shared-timeline")

    def on_mount(self) -> None:
        self._timer = self.set_interval(FRAME_SECONDS, self._tick, pause=True)

    # ------------------------------------------------------------------ the mapping

    @property
    def position(self) -> int:
        return self.playback.position

    @property
    def length(self) -> int:
        """T's known end: as far as some view has steps for."""
        return self.playback.length

    @property
    def total(self) -> int:
        """T's scale: the longer run's steps (those asked for, or seen if its sampler decides)."""
        return max((view.recording.total_steps for view in self.views if view.recording.ready), default=0)

    def target(self, view: TraceView, t: int) -> int:
        """Where T puts a view (its own go_to clamps it to its steps)."""
        if self.scale is Scale.STEP or not self.total:
            return t
        return round(t * view.recording.total_steps / self.total)

    def shared(self, view: TraceView, t: int) -> int:
        """The T that shows a view at its step t."""
        own = view.recording.total_steps
        if self.scale is Scale.STEP or not own:
            return t
        return round(t * self.total / own)

    def _known(self) -> int:
        ready = [view for view in self.views if view.recording.ready]
        if self.scale is Scale.STEP:
            return max((view.length for view in ready), default=0)
        own = [(view.length, view.recording.total_steps) for view in ready if view.recording.total_steps]
        return min(self.total, max((math.ceil(length * self.total / total) for length, total in own), default=0))

    # ------------------------------------------------------------------ hearing the views

    def runs_changed(self) -> None:
        """A header or an end arrived, or a view's length changed: T's range and end may too."""
        for view in self.views:
            self._lengths[view.id] = view.length
        self.playback.grow(self._known())
        if not self.playback.finished and all(view.recording.ended for view in self.views):
            self.playback.finish()
        self._sync()

    def view_moved(self, message: TraceView.Moved) -> bool:
        """A view moved or grew; whether it grew (its run's text so far may have changed)."""
        view = message.view
        if (message.position, message.length) != (view.position, view.length):
            return False  # stale: the view has moved on since
        if view.length != self._lengths.get(view.id):
            self.runs_changed()
            return True
        if view.position != self._asked.get(view.id, view.position):
            # the view moved itself (find, the palette): T follows it, the other view follows T
            self.playback.pause()
            self.playback.seek(self.shared(view, view.position))
            self._sync(leader=view)
        return False

    # ------------------------------------------------------------------ moving T

    def _sync(self, leader: TraceView | None = None) -> None:
        if self._timer is not None:
            self._timer.resume() if self.playback.state is State.PLAYING else self._timer.pause()
        for view in self.views:
            if view is not leader:
                view.go_to(self.target(view, self.position))
            self._asked[view.id] = view.position
        marks = [self.shared(view, step) for view in self.views for step in view.answer_marks()]
        self.query_one(Timeline).show(self.position, self.length, max(self.total, self.length), [], [], marks)
        self.post_message(self.Changed(self))

    def _tick(self) -> None:
        before = self.playback.position
        self.playback.tick()
        if self.playback.position != before:
            self._sync()

    def go_to(self, t: int) -> None:
        self.playback.seek(t)
        self._sync()

    def toggle_play(self) -> None:
        if any(view.recording.ready for view in self.views):
            self.playback.toggle()
            self._sync()

    def jump(self, tenths: int) -> None:
        self.go_to(round(self.length * tenths / 10))

    def to_block(self, direction: int) -> None:
        """To the next (previous) block boundary of either run."""
        starts = {self.shared(view, b) for view in self.views for b in view.recording.boundaries()}
        starts = sorted(s for s in {*starts, 0, self.length} if s <= self.length)
        if direction > 0:
            self.go_to(next((s for s in starts if s > self.position), self.length))
        else:
            self.go_to(next((s for s in reversed(starts) if s < self.position), 0))

    def change_speed(self, delta: int) -> None:
        self.speed_index = max(0, min(len(SPEEDS) - 1, self.speed_index + delta))
        self.playback.set_speed(SPEEDS[self.speed_index])
        self._sync()

    def toggle_scale(self) -> None:
        """By step or by fraction; T stays where it is on the (same) scale."""
        self.scale = Scale.FRACTION if self.scale is Scale.STEP else Scale.STEP
        self.playback.grow(self._known())
        self.playback.seek(min(self.position, self.length))
        self._sync()

    @on(Timeline.Seek)
    def _seek(self, message: Timeline.Seek) -> None:
        self.go_to(message.t)

    @on(Timeline.Wheel)
    def _wheel(self, message: Timeline.Wheel) -> None:
        self.go_to(self.position + message.steps)

    # ------------------------------------------------------------------ the looks, on both views

    def toggle_colour_mode(self) -> None:
        for view in self.views:
            view.toggle_colour_mode()
        self._sync()

    def toggle_placeholders(self) -> None:
        for view in self.views:
            view.toggle_placeholders()

    def toggle_order(self) -> None:
        on = all(view.overlay is None for view in self.views)
        for view in self.views:
            if (view.overlay is None) == on:
                view.toggle_order()
        self._sync()
