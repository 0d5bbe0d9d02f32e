"""Playback's state machine (tui/playback.py), on a clock moved by hand."""

from __future__ import annotations

import pytest

from llada_tui.tui.playback import Playback, State


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def recorded(clock: Clock, steps: int = 16, speed: float = 10) -> Playback:
    """A whole run from a file: every step known and the run finished."""
    playback = Playback(speed, follows=False, clock=clock)
    playback.grow(steps)
    playback.finish()
    return playback


def following(clock: Clock, speed: float = 10) -> Playback:
    """A run that is still growing: no steps yet."""
    return Playback(speed, follows=True, clock=clock)


def test_opens_paused_at_the_start(clock: Clock) -> None:
    playback = recorded(clock)
    assert playback.state is State.PAUSED and playback.position == 0 and not playback.playing


def test_playing_follows_the_clock_and_stops_at_the_end(clock: Clock) -> None:
    playback = recorded(clock)
    playback.toggle()
    assert playback.state is State.PLAYING
    clock.advance(0.55)
    playback.tick()
    assert playback.position == 5
    clock.advance(10)  # frames dropped under load: the position is where the clock says
    playback.tick()
    assert playback.position == 16 and playback.state is State.ENDED and not playback.playing


def test_playing_again_after_the_end_starts_over(clock: Clock) -> None:
    playback = recorded(clock)
    playback.seek(16)
    assert playback.state is State.ENDED
    playback.toggle()
    assert playback.state is State.PLAYING and playback.position == 0
    clock.advance(0.35)
    playback.tick()
    assert playback.position == 3


def test_pausing_and_resuming_keep_exact_timing(clock: Clock) -> None:
    playback = recorded(clock)
    playback.toggle()
    clock.advance(0.25)  # 2.5 steps
    playback.pause()
    assert playback.state is State.PAUSED and playback.position == 2
    clock.advance(60)
    playback.tick()
    assert playback.position == 2
    playback.toggle()
    clock.advance(0.05)  # 3.0 steps in all: the half step before the pause counts
    playback.tick()
    assert playback.position == 3


def test_seeking_while_playing_keeps_playing_from_there(clock: Clock) -> None:
    playback = recorded(clock)
    playback.toggle()
    clock.advance(0.3)
    playback.seek(10)
    assert playback.state is State.PLAYING and playback.position == 10
    clock.advance(0.25)
    playback.tick()
    assert playback.position == 12
    playback.seek(-5)  # clamped
    assert playback.position == 0 and playback.state is State.PLAYING


def test_seeking_while_paused_stays_paused(clock: Clock) -> None:
    playback = recorded(clock)
    playback.seek(7)
    clock.advance(1)
    playback.tick()
    assert playback.position == 7 and playback.state is State.PAUSED
    playback.seek(99)
    assert playback.position == 16 and playback.state is State.ENDED
    playback.seek(15)
    assert playback.state is State.PAUSED


def test_a_speed_change_keeps_the_position(clock: Clock) -> None:
    playback = recorded(clock, steps=100)
    playback.toggle()
    clock.advance(0.55)  # 5.5 steps at 10 steps/s
    playback.set_speed(20)
    assert playback.position == 5 and playback.speed == 20
    clock.advance(0.25)  # 5 more at 20 steps/s
    playback.tick()
    assert playback.position == 10
    playback.pause()
    playback.set_speed(1)
    assert playback.position == 10 and playback.state is State.PAUSED


def test_following_waits_at_the_edge_and_moves_with_arriving_steps(clock: Clock) -> None:
    playback = following(clock)
    assert playback.state is State.FOLLOWING and playback.position == 0
    playback.grow(3)
    assert playback.position == 3 and playback.state is State.FOLLOWING
    clock.advance(5)
    playback.tick()
    playback.grow(5)
    assert playback.position == 5 and not playback.behind_live


def test_behind_the_edge_arriving_steps_leave_the_position_alone(clock: Clock) -> None:
    playback = following(clock)
    playback.grow(5)
    playback.seek(3)
    assert playback.state is State.PAUSED and playback.behind_live
    playback.grow(6)
    assert playback.position == 3
    playback.seek(6)  # End: catch up
    assert playback.state is State.FOLLOWING
    playback.grow(8)
    assert playback.position == 8


def test_playing_catches_up_with_the_edge_then_follows(clock: Clock) -> None:
    playback = following(clock)
    playback.grow(10)
    playback.seek(0)
    playback.toggle()
    clock.advance(0.5)
    playback.tick()
    assert playback.position == 5 and playback.state is State.PLAYING
    clock.advance(1)
    playback.tick()
    assert playback.position == 10 and playback.state is State.FOLLOWING and playback.playing
    playback.grow(12)
    assert playback.position == 12
    playback.seek(11)  # stepping back from the edge: playing goes on
    assert playback.state is State.PLAYING
    clock.advance(0.15)
    playback.tick()
    assert playback.state is State.FOLLOWING and playback.position == 12


def test_the_run_ending_at_the_edge_ends_playback(clock: Clock) -> None:
    playback = following(clock)
    playback.grow(4)
    playback.finish()
    assert playback.state is State.ENDED and not playback.live
    playback.toggle()
    assert playback.state is State.PLAYING and playback.position == 0


def test_the_end_of_an_unfinished_run_pauses(clock: Clock) -> None:
    playback = Playback(10, follows=False, clock=clock)  # a file still being read
    playback.grow(4)
    playback.toggle()
    clock.advance(1)
    playback.tick()
    assert playback.position == 4 and playback.state is State.PAUSED
    playback.finish()
    assert playback.state is State.ENDED


def test_pause_at_the_edge_is_remembered_when_stepping_back(clock: Clock) -> None:
    playback = following(clock)
    playback.grow(4)
    playback.toggle()  # at the edge: nothing moves, but stepping back will play
    assert playback.state is State.FOLLOWING and playback.playing
    playback.pause()
    playback.seek(2)
    assert playback.state is State.PAUSED
