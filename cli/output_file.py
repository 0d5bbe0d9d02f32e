"""An output file written whole or not at all: a file it replaces stays until the new one is complete."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_output(path: Path, data: bytes, force: bool) -> None:
    """Write `data` to a new file at `path`, or with `force` over the file there.

    A write that fails (a full disk, ctrl+c) leaves no part of a file behind: a new one is removed,
    and a file being replaced is replaced only once the data are all in its successor, made beside
    it (os.replace is atomic only within one file system).
    """
    target = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp") if force else path
    file = open(target, "xb")  # noqa: SIM115 - exclusive: what is removed below is only ever ours
    try:
        with file:
            file.write(data)
        if force:
            os.replace(target, path)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
