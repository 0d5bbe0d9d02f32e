"""What a command refuses, and how: one line and an exit status for each kind of failure."""

from __future__ import annotations

import tempfile
from pathlib import Path


class UsageError(Exception):
    """A mistake on the command line; printed as one line, exit status 2."""


class RunError(Exception):
    """A failure the user can act on (missing model, no GPU, ...); one line, exit status 1."""


def refuse_pipes_and_devices(path: Path, name: str | None = None) -> None:
    """Refuse a path that is there but is neither a file nor a folder: a pipe with no writer, a
    device, read whole, may never end (`name`: the path as the user wrote it)."""
    if path.exists() and not path.is_file() and not path.is_dir():
        raise RunError(f"{name or path}: not a regular file")


def check_output(path: Path, force: bool) -> None:
    """Refuse, before any slow work, an output file that would overwrite something or cannot be made."""
    if path.is_dir():
        raise UsageError(f"{path} is a directory")
    if (path.exists() or path.is_symlink()) and not force:  # a link to nothing is refused when opened
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    if path.parent.exists() and not path.parent.is_dir():
        raise UsageError(f"{path.parent} is not a folder")
    check_writable(path.parent)


def check_writable(folder: Path) -> None:
    """Refuse a folder in which no file can be made (read-only, not ours, /proc), or, where it is
    not there yet, whose nearest existing ancestor is no folder or takes no new entry. Nothing is
    left behind: the probe is an anonymous temporary file."""
    existing = next(path for path in (folder, *folder.parents) if path.exists())
    if not existing.is_dir():
        raise UsageError(f"{existing} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        reason = (error.strerror or type(error).__name__).lower()
        raise RunError(f"{folder}: nothing can be written there ({reason})") from None
