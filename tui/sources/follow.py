"""A trace file that another process is still writing, followed as it grows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from llada_tui.core.inert import inert_text
from llada_tui.core.records import End, Header, Step, TraceError
from llada_tui.core.trace_reader import TraceReader, describe_ending
from llada_tui.tui.sources.messages import HeaderArrived, Quiet, RunEnded, SourceFailed, Status, StepsArrived
from llada_tui.tui.sources.source import Deliver, Source

QUIET_AFTER_SECONDS = 10.0


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
        clock: Callable[[], float] = time.monotonic,
    ):
        self.path = Path(path)
        self.reader = reader  # None until the file exists
        self.interval = interval
        self.quiet_after = quiet_after  # a writer silent this long may have died: say so
        self._first = first or []  # records already polled by open()
        self._clock = clock  # tests pass their own, so "quiet" never depends on a busy machine's pace

    @classmethod
    def open(
        cls,
        path: str | Path,
        interval: float = 0.1,
        quiet_after: float = QUIET_AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> FollowSource:
        """Open a trace to follow; raises TraceError if what is there can never be one.

        A missing or empty file is fine: its writer may not have created it or written the
        header yet. A folder, an unreadable file or a path under a file is refused at once.
        """
        path = Path(path)
        if not path.exists():
            _check_can_appear(path)
            return cls(path, None, interval, quiet_after=quiet_after, clock=clock)
        reader = TraceReader(path)
        try:
            records = reader.poll()
        except TraceError:
            reader.close()
            raise
        return cls(path, reader, interval, records, quiet_after, clock)

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
        last_record = last_quiet = self._clock()
        while True:
            now = self._clock()
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
