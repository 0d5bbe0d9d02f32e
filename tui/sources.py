"""Where the player's records come from: a finished file, a file still being written, or (later) a live run.

A source runs in a worker thread and delivers a run's records to the app as small messages:

    Status("loading model…")   optional, any time before the header: shown in place of the grid
    HeaderArrived(header)      exactly once, before any steps
    StepsArrived([step, ...])  in order, as they land (batches of any size)
    Quiet(seconds)             following only: no new record for this long (repeated while it lasts)
    RunEnded(end, problem)     at most once, last: the end record (None if there is none) and
                               one line on why the run has no clean end, if it has none
    SourceFailed(message)      instead of the above when nothing can be played: the app exits

To add a source (e.g. a LiveSource running the sampler), subclass `Source` and implement
`run(deliver, stop)`: call `deliver` with those messages (it is thread-safe), return when the
run is over or as soon as `stop` is set. The app, its index and its widgets never learn which
source they are fed by.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from textual.message import Message

from llada_tui.core.inert import inert_text
from llada_tui.core.records import End, Header, Step, TraceError
from llada_tui.core.trace_reader import Trace, TraceReader, describe_ending, load_trace


class Status(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class HeaderArrived(Message):
    def __init__(self, header: Header) -> None:
        super().__init__()
        self.header = header


class StepsArrived(Message):
    def __init__(self, steps: list[Step]) -> None:
        super().__init__()
        self.steps = steps


class Quiet(Message):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds


class RunEnded(Message):
    def __init__(self, end: End | None, problem: str | None) -> None:
        super().__init__()
        self.end = end
        self.problem = problem


class SourceFailed(Message):
    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message


Deliver = Callable[[Message], object]
QUIET_AFTER_SECONDS = 10.0


class Source(ABC):
    follows = False  # whether more steps may keep arriving after the first delivery

    @abstractmethod
    def run(self, deliver: Deliver, stop: threading.Event) -> None:
        """Deliver the run's records (see the module docstring); called in a worker thread."""


class FileSource(Source):
    """A trace read in full before the app starts, so that bad files fail before the first frame."""

    def __init__(self, trace: Trace):
        self.trace = trace

    @classmethod
    def open(cls, path: str | Path) -> FileSource:
        """Read a trace; raises TraceError with a one-line message if nothing in it can be played."""
        return cls(load_trace(path))

    def run(self, deliver: Deliver, stop: threading.Event) -> None:
        deliver(HeaderArrived(self.trace.header))
        if self.trace.steps:
            deliver(StepsArrived(self.trace.steps))
        deliver(RunEnded(self.trace.end, self.trace.warning))


class FollowSource(Source):
    """A trace that another process is still writing: polls the file and delivers what lands.

    The file need not exist yet (a writer creates it only once its model has loaded): the
    source then waits for it to appear, saying so, and goes on as for an empty file.
    """

    follows = True

    def __init__(
        self,
        path: str | Path,
        reader: TraceReader | None,
        interval: float = 0.1,
        first: list[Step | End | Header] | None = None,
        quiet_after: float = QUIET_AFTER_SECONDS,
    ):
        self.path = Path(path)
        self.reader = reader  # None until the file exists
        self.interval = interval
        self.quiet_after = quiet_after  # a writer silent this long may have died: say so
        self._first = first or []  # records already polled by open()

    @classmethod
    def open(cls, path: str | Path, interval: float = 0.1, quiet_after: float = QUIET_AFTER_SECONDS) -> FollowSource:
        """Open a trace to follow; raises TraceError if what is there can never be one.

        A missing or empty file is fine: its writer may not have created it or written the
        header yet. A folder, an unreadable file or a path under a file is refused at once.
        """
        path = Path(path)
        if not path.exists():
            _check_can_appear(path)
            return cls(path, None, interval, quiet_after=quiet_after)
        reader = TraceReader(path)
        try:
            records = reader.poll()
        except TraceError:
            reader.close()
            raise
        return cls(path, reader, interval, records, quiet_after)

    def run(self, deliver: Deliver, stop: threading.Event) -> None:
        try:
            if self.reader is None and not self._wait_for_file(deliver, stop):
                return
            self._follow(self.reader, deliver, stop)
        except TraceError as error:
            deliver(SourceFailed(str(error)))
        finally:
            if self.reader is not None:
                self.reader.close()

    def _wait_for_file(self, deliver: Deliver, stop: threading.Event) -> bool:
        """Poll until the file exists and open it; False if stopped first."""
        deliver(Status(f"waiting for {inert_text(str(self.path))} to appear…"))
        while not self.path.exists():
            if stop.wait(self.interval):
                return False
        self.reader = TraceReader(self.path)
        self._first = self.reader.poll()
        return True

    def _follow(self, reader: TraceReader, deliver: Deliver, stop: threading.Event) -> None:
        records = self._first
        if reader.header is None:
            deliver(Status(f"waiting for {inert_text(reader.path.name)} to get a header…"))
        last_record = last_quiet = time.monotonic()
        while True:
            now = time.monotonic()
            if records:
                last_record = now
            elif reader.header is not None and now - last_record >= self.quiet_after and now - last_quiet >= 1:
                deliver(Quiet(now - last_record))
                last_quiet = now
            steps = [r for r in records if isinstance(r, Step)]
            for record in records:
                if isinstance(record, Header):
                    deliver(HeaderArrived(record))
            if steps:
                deliver(StepsArrived(steps))
            if reader.end is not None or reader.corrupt is not None:
                deliver(RunEnded(reader.end, describe_ending(reader)))
                return
            if stop.wait(self.interval):
                return
            records = reader.poll()


def _check_can_appear(path: Path) -> None:
    """Refuse a missing path that no writer could create: one under something that is not a folder."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise TraceError(f"cannot follow {path}: {parent} is not a folder")
            return
