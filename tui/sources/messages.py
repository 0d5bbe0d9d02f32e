"""What a source delivers, in this order, from its worker thread:

    Status("loading model…")   optional, any time before the header: shown in place of the grid
    HeaderArrived(header)      exactly once, before any steps
    StepsArrived([step, ...])  in order, as they land (batches of any size)
    Quiet(seconds)             following only: no new record for this long (repeated while it lasts)
    RunEnded(end, problem)     at most once, last: the end record (None if there is none) and
                               one line on why the run has no clean end, if it has none
    SourceFailed(message)      instead of the above when nothing can be played: the app exits
    RunNotRecorded(reason)     live only: the run stopped before its trace was created

They are posted to the trace view playing the source; the view handles what it shows and lets
them bubble on, so that the app (live mode's run line) hears them too.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from llada_tui.core.records import End, Header, Step


@dataclass
class Status(Message):
    text: str


@dataclass
class HeaderArrived(Message):
    header: Header


@dataclass
class StepsArrived(Message):
    steps: list[Step]


@dataclass
class Quiet(Message):
    seconds: float


@dataclass
class RunEnded(Message):
    end: End | None
    problem: str | None


@dataclass
class SourceFailed(Message):
    message: str


@dataclass
class RunNotRecorded(Message):
    reason: str
