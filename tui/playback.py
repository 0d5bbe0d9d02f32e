"""Playback: where the timeline stands and how it moves, as an explicit state machine.

In the manner of asciinema's player: the position while playing is worked out from a clock
(anchored where playing last started, seeked or changed speed), so frames dropped under load
never slow playback down; pausing keeps the exact position, fractions of a step included, and
a speed change re-anchors at the exact position, so it never jumps. The clock is injectable:
tests drive it by hand.

The states:
- PAUSED: the position stays where it is.
- PLAYING: the position advances with the clock, speed steps per second.
- FOLLOWING: at the live edge of a run that may still grow; arriving steps move it along.
  It remembers whether it was playing, which goes on when the user steps back from the edge.
- ENDED: at the end of a finished run; playing again starts over from step 0.

Whether the run is at its end, and at its live edge, is worked out here and nowhere else: the
app and the header read it from here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from enum import Enum


class State(Enum):
    PAUSED = "paused"
    PLAYING = "playing"
    FOLLOWING = "following"
    ENDED = "ended"


class Playback:
    """The position on a timeline of `length` known steps, and how it moves.

    `follows`: the source may deliver steps after the first ones (following a file, live
    mode); until `finish`, the run may grow and its end is a live edge.
    """

    def __init__(self, speed: float, *, follows: bool, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._speed = speed  # steps per second
        self.follows = follows  # fixed for a run: a new run gets a new Playback
        self._length = 0
        self._finished = False
        self._position = 0  # whole steps: what is shown
        self._state = State.PAUSED
        self._resume = State.PAUSED  # FOLLOWING only: PLAYING or PAUSED, what leaving the edge goes on with
        # The exact position (fractions of a step included) at clock time _since: while playing,
        # the position is measured from there; while not, it is where playing will go on from.
        self._from = 0.0
        self._since = clock()
        self._settle()

    # ------------------------------------------------------------------ what it is

    @property
    def state(self) -> State:
        return self._state

    @property
    def position(self) -> int:
        """Whole steps shown: 0 (all masked) to length."""
        return self._position

    @property
    def speed(self) -> float:
        """Steps per second while playing."""
        return self._speed

    @property
    def length(self) -> int:
        """Steps known so far."""
        return self._length

    @property
    def finished(self) -> bool:
        """Whether the run has ended: no more steps will arrive."""
        return self._finished

    @property
    def playing(self) -> bool:
        """Whether the position advances on its own when behind (following: once it is)."""
        state = self._resume if self._state is State.FOLLOWING else self._state
        return state is State.PLAYING

    @property
    def live(self) -> bool:
        """Whether more steps may still arrive."""
        return self.follows and not self._finished

    @property
    def at_end(self) -> bool:
        return self._position >= self._length

    @property
    def behind_live(self) -> bool:
        """Following a growing run, but not at its edge: steps arrive without moving the view."""
        return self.live and not self.at_end

    # ------------------------------------------------------------------ what happens to it

    def grow(self, length: int) -> None:
        """More steps arrived: the run is now `length` steps long."""
        self._length = length
        if self._state is State.FOLLOWING:
            self._move_to(length)
        self._settle()

    def finish(self) -> None:
        """The run ended: no more steps will arrive."""
        self._finished = True
        self._settle()

    def toggle(self) -> None:
        """Play or pause; at the end of a finished run, play again from the start."""
        if self._state is State.FOLLOWING:
            self._resume = State.PAUSED if self._resume is State.PLAYING else State.PLAYING
        elif self._state is State.PLAYING:
            self.pause()
        else:
            if self._state is State.ENDED:
                self._move_to(0)
            self._state = State.PLAYING
            self._since = self._clock()  # from the exact position paused at
            self._settle()

    def pause(self) -> None:
        if self._state is State.FOLLOWING:
            self._resume = State.PAUSED
        elif self._state is State.PLAYING:
            self._from = self._exact_now()
            self._position = math.floor(self._from)
            self._state = State.PAUSED
            self._settle()

    def seek(self, t: int) -> None:
        """Move to step t (clamped to the known steps); playing goes on from there."""
        self._state = State.PLAYING if self.playing else State.PAUSED
        self._move_to(max(0, min(t, self._length)))
        self._settle()

    def set_speed(self, speed: float) -> None:
        """Play at another speed from the exact position reached so far."""
        if self._state is State.PLAYING:
            self._from, self._since = self._exact_now(), self._clock()
            self._position = math.floor(self._from)
        self._speed = speed
        self._settle()

    def tick(self) -> None:
        """Bring the position to where the clock says it is (a frame of the app's timer)."""
        if self._state is State.PLAYING:
            self._position = math.floor(self._exact_now())
            self._settle()

    # ------------------------------------------------------------------ inside

    def _exact_now(self) -> float:
        return min(self._from + (self._clock() - self._since) * self._speed, float(self._length))

    def _move_to(self, t: int) -> None:
        self._position = t
        self._from, self._since = float(t), self._clock()

    def _settle(self) -> None:
        """Enter the state the position and the run's shape call for (after every event)."""
        if self.live and self.at_end:
            if self._state is not State.FOLLOWING:
                self._resume = State.PLAYING if self._state is State.PLAYING else State.PAUSED
                self._state = State.FOLLOWING
                self._from = float(self._position)
            return
        if self._state is State.FOLLOWING:  # the run finished at the edge
            self._state = self._resume
        if not self.at_end:
            if self._state is State.ENDED:
                self._state = State.PAUSED
        elif self._finished and self._length:
            self._state = State.ENDED
            self._from = float(self._position)
        elif self._state is State.PLAYING:  # the end of a run not (yet) finished: stop there
            self._state = State.PAUSED
            self._from = float(self._position)
