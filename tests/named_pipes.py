"""A named pipe for tests of commands that must refuse one without opening it.

A command that opens it to read anyway gets an empty file at once (a writer opens and closes
it as soon as a reader is there), so that such a test fails instead of waiting forever.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def named_pipe(path: Path) -> Iterator[Path]:
    os.mkfifo(path)
    done = threading.Event()

    def end_each_read() -> None:
        while not done.is_set():
            try:
                writer = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as error:
                if error.errno != errno.ENXIO:  # ENXIO: no reader has it open yet
                    raise
                done.wait(0.01)
                continue
            os.close(writer)  # the reader sees the end of an empty file

    thread = threading.Thread(target=end_each_read, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        done.set()
        thread.join()
