"""From a name to a checkpoint folder, and the folder's small files read as hostile input.

A model is named by nothing (the embedded demo model), a local folder, or a Hub id
(`owner/name`, fetched into huggingface_hub's cache; offline use works once cached).
Only config.json, safetensors and tokenizer files are read; `auto_map` and any *.py in the
folder are ignored.

A checkpoint folder may be hostile, so everything in it is checked before it is used: its
files must be regular files inside the folder (a Hub snapshot's links into its cache count as
inside), JSON files are bounded in size, depth and digits, and config.json's values are checked
by LLaDAConfig. Every refusal is a ModelLoadError of one line. Nothing here imports torch, so
the CLI checks a run against its checkpoint before the engine starts.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from llada_tui.core.config import LLaDAConfig
from llada_tui.core.records import MAX_GEN_LENGTH, MAX_STEPS

DEMO_DIR = Path(__file__).with_name("demo")


HUB_FILES = ["*.json", "*.safetensors", "*.jinja"]  # never *.py


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

MAX_JSON_BYTES = 16 << 20  # config.json, the shard index, tokenizer_config.json: kilobytes in practice


MAX_JSON_DEPTH = 32


MAX_JSON_INT_DIGITS = 30


# Used where neither the command line nor the checkpoint (sampling.json) says otherwise:
# LLaDA-8B-Instruct's recommended chat settings.
FALLBACK_SAMPLING = {"gen_length": 128, "steps": 128, "block_length": 32}


class ModelLoadError(Exception):
    """A model or tokenizer that cannot be loaded; the message is one line meant for the user."""


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return shorten(text[0], 200) if text else type(error).__name__


def shorten(text: str, limit: int = 80) -> str:
    """A name from a checkpoint as an error message quotes it: cut short if long."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------- resolving


def resolve_checkpoint(name_or_path: str | None) -> Path:
    """The local folder holding the model: the demo model, a folder, or a Hub snapshot."""
    if name_or_path is None:
        if not (DEMO_DIR / "config.json").is_file():
            raise ModelLoadError("the embedded demo model is not installed; pass --model PATH_OR_HUB_ID")
        return DEMO_DIR
    try:
        path = Path(name_or_path).expanduser()
    except RuntimeError:  # ~user with no such user
        raise ModelLoadError(f"{shorten(name_or_path)}: no such user for ~ (give the folder's full path)") from None
    try:
        is_dir, exists = path.is_dir(), path.exists()
    except (OSError, ValueError):  # a name too long, a NUL byte: no such folder
        is_dir = exists = False
    if is_dir:
        if not os.path.lexists(path / "config.json"):
            raise ModelLoadError(f"{path} has no config.json: not a model folder")
        return path
    if exists:
        raise ModelLoadError(f"{path} is a file; expected a model folder or a Hub id (owner/name)")
    if not HUB_ID.match(name_or_path):
        raise ModelLoadError(f"{shorten(name_or_path)}: no such folder, and not a Hub id (owner/name)")
    return _hub_snapshot(name_or_path)


def _hub_snapshot(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_FILES))
    except Exception as error:  # no network, unknown repo, gated repo, offline mode, ...
        download_error = error
    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_FILES, local_files_only=True))
    except Exception:
        raise ModelLoadError(
            f"model {repo_id} not found locally and could not be downloaded: {first_line(download_error)}"
        ) from None


# ---------------------------------------------------------------------------- small files


def read_config(path: str | Path) -> LLaDAConfig:
    """The LLaDAConfig of a checkpoint folder (its config.json, model_type 'llada'), checked."""
    path = Path(path)
    file = checkpoint_file(path, "config.json", MAX_JSON_BYTES)
    if file is None:
        raise ModelLoadError(f"{path / 'config.json'} not found")
    config = read_json(file)
    if config.get("model_type") != "llada":
        raise ModelLoadError(f"{file}: model_type is {shorten(repr(config.get('model_type')))}, expected 'llada'")
    try:
        return LLaDAConfig.from_json_dict(config)
    except (TypeError, ValueError) as error:
        raise ModelLoadError(f"{path}: {first_line(error)}") from None


def read_sampling_defaults(path: str | Path) -> dict[str, int]:
    """The checkpoint's default lengths from its sampling.json, checked; {} if it has none.

    Reads gen_length, steps and block_length, each an integer in [1, 32768] (the trace limits);
    other keys are ignored.
    """
    file = checkpoint_file(Path(path), "sampling.json", MAX_JSON_BYTES)
    if file is None:
        return {}
    data = read_json(file)
    defaults = {}
    for key, limit in (("gen_length", MAX_GEN_LENGTH), ("steps", MAX_STEPS), ("block_length", MAX_GEN_LENGTH)):
        if key not in data:
            continue
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
            raise ModelLoadError(f"{file}: {key} must be an integer in [1, {limit}], got {shorten(repr(value), 40)}")
        defaults[key] = value
    return defaults


def sampling_defaults(path: str | Path) -> dict[str, int]:
    """The lengths a run takes when the user gives none: the checkpoint's sampling.json, else LLaDA-8B's."""
    return {**FALLBACK_SAMPLING, **read_sampling_defaults(path)}


def _may_link_to(folder: Path, target: Path) -> bool:
    """A checkpoint's file may be a link into its own folder, or to a blob of a Hugging Face cache.

    Hub snapshots link to ../../blobs, and older huggingface_hub versions made `--local-dir`
    downloads links into the cache too; a link anywhere else (~/.ssh/...) is refused.
    """
    blobs = target.parent
    return target.is_relative_to(folder.resolve()) or (
        blobs.name == "blobs" and blobs.parent.name.startswith("models--")
    )


def checkpoint_file(folder: Path, name: str, max_bytes: int | None = None) -> Path | None:
    """folder / name if it exists, None if not; refused if it is not a regular file inside the folder."""
    file = folder / name
    try:
        os.lstat(file)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.ENAMETOOLONG:
            return None
        raise ModelLoadError(f"{file}: cannot read it ({error.strerror})") from None
    try:
        target = file.resolve(strict=True)
        info = target.stat()
    except (OSError, RuntimeError) as error:  # a broken link, a loop of links
        raise ModelLoadError(f"{file}: cannot read it ({first_line(error)})") from None
    if not _may_link_to(folder, target):
        raise ModelLoadError(f"{file} links to outside the model folder ({target}); copy the file into it")
    if not stat.S_ISREG(info.st_mode):
        raise ModelLoadError(f"{file} is not a regular file")
    if max_bytes is not None and info.st_size > max_bytes:
        raise ModelLoadError(f"{file} is larger than {max_bytes >> 20} MiB")
    return file


def _json_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_JSON_INT_DIGITS:  # int() of 5000 digits raises inside json; 10**6 digits is slow
        raise ValueError(f"an integer of {digits} digits")
    return int(text)


def _json_constant(text: str) -> None:
    raise ValueError("NaN and Infinity are not JSON")


def _nested_deeper_than(value: Any, depth: int) -> bool:
    level = [value]
    for _ in range(depth):
        level = [
            child
            for item in level
            if isinstance(item, (dict, list))
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return False
    return True


def read_json(file: Path) -> dict[str, Any]:
    """A JSON object from a checkpoint file already checked by checkpoint_file."""
    try:
        data = json.loads(file.read_bytes().decode("utf-8"), parse_int=_json_int, parse_constant=_json_constant)
    except FileNotFoundError:
        raise ModelLoadError(f"{file} not found") from None
    except RecursionError:
        raise ModelLoadError(f"{file}: nested more than {MAX_JSON_DEPTH} deep") from None
    except (OSError, ValueError) as error:  # ValueError: bad JSON, bad UTF-8, huge integers
        raise ModelLoadError(f"{file}: cannot read it ({first_line(error)})") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{file}: expected a JSON object")
    if _nested_deeper_than(data, MAX_JSON_DEPTH):
        raise ModelLoadError(f"{file}: nested more than {MAX_JSON_DEPTH} deep")
    return data


def is_file_name(name: str) -> bool:
    """A plain file name: no folders, no way up, nothing the file system would refuse."""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0")
