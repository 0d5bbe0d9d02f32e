"""From a name to a model and a tokenizer, without ever executing code from the checkpoint.

A model is named by nothing (the embedded demo model), a local folder, or a Hub id
(`owner/name`, fetched into huggingface_hub's cache; offline use works once cached).
Only config.json, safetensors and tokenizer files are read; `auto_map` and any *.py in the
folder are ignored.

A checkpoint folder may be hostile, so everything in it is checked before it is used: its
files must be regular files inside the folder (a Hub snapshot's links into its cache count as
inside), JSON files are bounded in size, depth and digits, config.json's values are checked by
LLaDAConfig, and every weight file's header (names, shapes, dtypes) is checked against the
config before a model is built or a weight is read. The chat template runs in a sandboxed child
process (core/chat_template.py). Every refusal is a ModelLoadError of one line.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer

from llada_tui.core.chat_template import MAX_TEMPLATE_CHARS, RenderedChat, TemplateRenderError, render_chats
from llada_tui.core.llada import LLaDAConfig, LLaDAModel
from llada_tui.core.trace import MAX_GEN_LENGTH, MAX_STEPS

DEMO_DIR = Path(__file__).with_name("demo")
HUB_FILES = ["*.json", "*.safetensors", "*.jinja"]  # never *.py
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}

# Weights are taken in these dtypes only (safetensors' names); others would be cast silently.
WEIGHT_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}

MAX_JSON_BYTES = 16 << 20  # config.json, the shard index, tokenizer_config.json: kilobytes in practice
MAX_JSON_DEPTH = 32
MAX_JSON_INT_DIGITS = 30
MAX_TOKENIZER_BYTES = 64 << 20  # LLaDA-8B's tokenizer.json is a few megabytes
MAX_PROMPT_CHARS = 1 << 20
MAX_PROMPT_TOKENS = 1 << 15

Progress = Callable[[int, int, str], None]


# LLaDA-8B-Instruct's chat template (Llama-3 style), for code that writes checkpoints in the
# official layout (the tests' tiny checkpoint, the demo model's training).
CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' "
    "+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


class ModelLoadError(Exception):
    """A model or tokenizer that cannot be loaded; the message is one line meant for the user."""


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return _short(text[0], 200) if text else type(error).__name__


def _short(text: str, limit: int = 80) -> str:
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
        raise ModelLoadError(f"{_short(name_or_path)}: no such user for ~ (give the folder's full path)") from None
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
        raise ModelLoadError(f"{_short(name_or_path)}: no such folder, and not a Hub id (owner/name)")
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
            f"model {repo_id} not found locally and could not be downloaded: {_one_line(download_error)}"
        ) from None


# ---------------------------------------------------------------------------- model


def read_config(path: str | Path) -> LLaDAConfig:
    """The LLaDAConfig of a checkpoint folder (its config.json, model_type 'llada'), checked."""
    path = Path(path)
    file = _checkpoint_file(path, "config.json", MAX_JSON_BYTES)
    if file is None:
        raise ModelLoadError(f"{path / 'config.json'} not found")
    config = _read_json(file)
    if config.get("model_type") != "llada":
        raise ModelLoadError(f"{file}: model_type is {_short(repr(config.get('model_type')))}, expected 'llada'")
    try:
        return LLaDAConfig.from_json_dict(config)
    except (TypeError, ValueError) as error:
        raise ModelLoadError(f"{path}: {_one_line(error)}") from None


def read_sampling_defaults(path: str | Path) -> dict[str, int]:
    """The checkpoint's default lengths from its sampling.json, checked; {} if it has none.

    Reads gen_length, steps and block_length, each an integer in [1, 32768] (the trace limits);
    other keys are ignored.
    """
    file = _checkpoint_file(Path(path), "sampling.json", MAX_JSON_BYTES)
    if file is None:
        return {}
    data = _read_json(file)
    defaults = {}
    for key, limit in (("gen_length", MAX_GEN_LENGTH), ("steps", MAX_STEPS), ("block_length", MAX_GEN_LENGTH)):
        if key not in data:
            continue
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
            raise ModelLoadError(f"{file}: {key} must be an integer in [1, {limit}], got {_short(repr(value), 40)}")
        defaults[key] = value
    return defaults


def _may_link_to(folder: Path, target: Path) -> bool:
    """A checkpoint's file may be a link into its own folder, or to a blob of a Hugging Face cache.

    Hub snapshots link to ../../blobs, and older huggingface_hub versions made `--local-dir`
    downloads links into the cache too; a link anywhere else (~/.ssh/...) is refused.
    """
    blobs = target.parent
    return target.is_relative_to(folder.resolve()) or (
        blobs.name == "blobs" and blobs.parent.name.startswith("models--")
    )


def _checkpoint_file(folder: Path, name: str, max_bytes: int | None = None) -> Path | None:
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
        raise ModelLoadError(f"{file}: cannot read it ({_one_line(error)})") from None
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


def _read_json(file: Path) -> dict[str, Any]:
    """A JSON object from a checkpoint file already checked by _checkpoint_file."""
    try:
        data = json.loads(file.read_bytes().decode("utf-8"), parse_int=_json_int, parse_constant=_json_constant)
    except FileNotFoundError:
        raise ModelLoadError(f"{file} not found") from None
    except RecursionError:
        raise ModelLoadError(f"{file}: nested more than {MAX_JSON_DEPTH} deep") from None
    except (OSError, ValueError) as error:  # ValueError: bad JSON, bad UTF-8, huge integers
        raise ModelLoadError(f"{file}: cannot read it ({_one_line(error)})") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{file}: expected a JSON object")
    if _nested_deeper_than(data, MAX_JSON_DEPTH):
        raise ModelLoadError(f"{file}: nested more than {MAX_JSON_DEPTH} deep")
    return data


def _is_file_name(name: str) -> bool:
    """A plain file name: no folders, no way up, nothing the file system would refuse."""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0")


def _weight_files(path: Path) -> list[Path]:
    index = _checkpoint_file(path, "model.safetensors.index.json", MAX_JSON_BYTES)
    if index is not None:
        weight_map = _read_json(index).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise ModelLoadError(f"{index}: no weight_map")
        if not all(isinstance(name, str) for name in weight_map.values()):
            raise ModelLoadError(f"{index}: weight_map must map tensor names to file names")
        files = []
        for name in dict.fromkeys(weight_map.values()):
            if not _is_file_name(name):
                raise ModelLoadError(f"{index.name}: {_short(name)} is not a file name in the model folder")
            file = _checkpoint_file(path, name)
            if file is None:
                raise ModelLoadError(f"{path / _short(name)} (listed in {index.name}) not found")
            files.append(file)
        return files
    single = _checkpoint_file(path, "model.safetensors")
    if single is not None:
        return [single]
    raise ModelLoadError(f"{path}: no model.safetensors or model.safetensors.index.json")


def _check_weight_headers(files: list[Path], expected: dict[str, tuple[int, ...]]) -> None:
    """Every tensor of the config in exactly one file, with its shape and a float dtype (headers only)."""
    from safetensors import SafetensorError, safe_open

    found: dict[str, Path] = {}
    for file in files:
        try:
            with safe_open(file, framework="pt") as weights:
                for name in weights.keys():
                    if name not in expected:
                        raise ModelLoadError(f"{file.name}: unexpected tensor {_short(name)}")
                    if name in found:
                        raise ModelLoadError(f"tensor {name} is in both {found[name].name} and {file.name}")
                    header = weights.get_slice(name)
                    shape, dtype = tuple(header.get_shape()), header.get_dtype()
                    if shape != expected[name]:
                        raise ModelLoadError(
                            f"{file.name}: tensor {name} has shape {list(shape)}, "
                            f"config.json implies {list(expected[name])}"
                        )
                    if dtype not in WEIGHT_DTYPES:
                        raise ModelLoadError(
                            f"{file.name}: tensor {name} has dtype {_short(dtype, 20)}; "
                            f"only float32, float16 and bfloat16 weights are supported"
                        )
                    found[name] = file
        except (SafetensorError, OSError) as error:
            raise ModelLoadError(f"{file}: cannot read it ({_one_line(error)})") from None
    missing = [name for name in expected if name not in found]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ModelLoadError(f"{files[0].parent}: missing tensor {missing[0]}{more}")


def _device_and_dtype(device: str | torch.device, dtype: torch.dtype | str | None) -> tuple[torch.device, torch.dtype]:
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ModelLoadError(f"unknown device {device!r}; use cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("CUDA is not available; use --device cpu")
    if dtype is None:
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    elif isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ModelLoadError(f"unknown dtype {dtype!r}; use one of float32, bfloat16, float16")
        dtype = DTYPES[dtype]
    return device, dtype


def load_model(
    path: str | Path,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | str | None = None,
    progress: Progress | None = None,
) -> LLaDAModel:
    """Load an official-layout LLaDA checkpoint folder, in eval mode with gradients off.

    dtype defaults to float32 on CPU and bfloat16 on CUDA. The weight files' headers are checked
    against the config first; then the model is built on the meta device and takes the loaded
    tensors as they are, so weights are held in memory once.
    `progress(done, total, what)` is called after each weight file.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    device, dtype = _device_and_dtype(device, dtype)
    config = read_config(path)
    files = _weight_files(path)
    _check_weight_headers(files, config.tensor_shapes())
    with torch.device("meta"):
        model = LLaDAModel(config)

    state: dict[str, torch.Tensor] = {}
    for done, file in enumerate(files, 1):
        try:
            with safe_open(file, framework="pt", device=str(device)) as weights:
                for name in weights.keys():
                    state[name] = weights.get_tensor(name).to(dtype)
        except (SafetensorError, OSError) as error:
            raise ModelLoadError(f"{file}: cannot read it ({_one_line(error)})") from None
        if progress is not None:
            progress(done, len(files), file.name)
    model.load_state_dict(state, strict=True, assign=True)
    model.requires_grad_(False)
    return model.eval()


# ---------------------------------------------------------------------------- tokenizer


class LLaDATokenizer:
    """LLaDA's tokenizer from tokenizer.json, with its chat template rendered in a sandbox.

    Special ids are looked up by token name (the demo model's ids differ from LLaDA-8B's).
    Where config.json names mask_token_id / eos_token_id, those win: they are what the model
    was trained with, and what the reference sampler is given.

    Prompts are encoded as text: special tokens the user writes (`<|eot_id|>`, `<|mdm_mask|>`)
    stay ordinary text, as transformers' `split_special_tokens` does; only the chat template's
    own special tokens are special. `parse_special=True` recognises them in the user's text too
    (the old behaviour). A prompt holds at most MAX_PROMPT_CHARS characters and
    MAX_PROMPT_TOKENS tokens, and never the mask token; otherwise ValueError, one line.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        chat_template: str | None,
        *,
        mask_id: int,
        eos_id: int,
        eot_id: int | None,
        bos_id: int | None,
    ):
        self._tokenizer = tokenizer
        self._chat_template = chat_template
        self._encoding_lock = threading.Lock()  # encode_special_tokens is a setting of the tokenizer
        self.mask_id = mask_id
        self.eos_id = eos_id
        self.eot_id = eot_id
        self.bos_id = bos_id
        added = tokenizer.get_added_tokens_decoder()
        self._special_added = {i: token.content for i, token in added.items() if token.special}

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def special_ids(self) -> list[int]:
        """Ids of all special tokens (skipped when decoding an answer)."""
        return sorted(set(self._special_added) | {self.mask_id, self.eos_id})

    def encode(self, text: str, parse_special: bool = False) -> list[int]:
        """Prompt ids of text, none added; special tokens written in it are text unless parse_special."""
        _check_prompt_text(text)
        return self._checked_prompt(self._encode(text, parse_special).ids)

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return self._tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def token_text(self, token_id: int) -> str:
        """Display text of one token alone, e.g. ' the' or '\\n'; '' for ids outside the vocabulary."""
        if self._tokenizer.id_to_token(token_id) is None:
            return ""
        return self._tokenizer.decode([token_id], skip_special_tokens=False)

    def render_chat(self, message: str) -> str:
        """The prompt text for one user message, as LLaDA's chat examples build it."""
        _check_prompt_text(message)
        [chat] = self._render((message,))
        return chat.text

    def apply_chat_template(self, message: str, parse_special: bool = False) -> list[int]:
        """Prompt ids for one user message in LLaDA's chat format, ready for generation.

        The template's special tokens (BOS, headers, EOT) are special; those written in the
        message are text unless parse_special. Token boundaries are those of the whole chat
        string: the text between the template's special tokens is encoded in one piece.
        """
        [ids] = self.apply_chat_template_batch([message], parse_special)
        return ids

    def apply_chat_template_batch(self, messages: list[str], parse_special: bool = False) -> list[list[int]]:
        """apply_chat_template for many messages, rendered by one sandboxed process (one start-up)."""
        for message in messages:
            _check_prompt_text(message)
        chats = self._render(tuple(messages))
        if parse_special:
            return [self._checked_prompt(self._encode(chat.text, True).ids) for chat in chats]
        return [self._checked_prompt(self._encode_chat(chat, message)) for chat, message in zip(chats, messages)]

    def _encode(self, text: str, parse_special: bool):
        with self._encoding_lock:
            self._tokenizer.encode_special_tokens = not parse_special
            try:
                return self._tokenizer.encode(text, add_special_tokens=False)
            finally:
                self._tokenizer.encode_special_tokens = False

    def _encode_chat(self, chat: RenderedChat, message: str) -> list[int]:
        """The chat's ids with special tokens recognised only outside the message's spans."""
        whole = self._encode(chat.text, True)
        spans = chat.message_spans
        if spans is None:
            if any(name in message for name in self._special_added.values()):
                raise ModelLoadError(
                    "chat template: it cannot tell the message from the template's own text, so special tokens "
                    "typed in the message cannot be kept as text; remove them or use --no-chat-template"
                )
            return whole.ids
        ids: list[int] = []
        position = 0  # text before this point is encoded
        for token_id, (start, end) in zip(whole.ids, whole.offsets):
            if token_id in self._special_added and not any(start < b and a < end for a, b in spans):
                ids += self._encode(chat.text[position:start], False).ids
                ids.append(token_id)
                position = end
        return ids + self._encode(chat.text[position:], False).ids

    def _checked_prompt(self, ids: list[int]) -> list[int]:
        if len(ids) > MAX_PROMPT_TOKENS:
            raise ValueError(f"the prompt has {len(ids)} tokens, more than {MAX_PROMPT_TOKENS}")
        if self.mask_id in ids:
            name = self._token_name(self.mask_id)
            raise ValueError(
                f"the prompt contains the mask token {name} (id {self.mask_id}); only the answer's positions "
                "are masked: remove it, or leave special tokens as text"
            )
        return ids

    def _render(self, messages: tuple[str, ...]) -> tuple[RenderedChat, ...]:
        if self._chat_template is None:
            raise ModelLoadError("this tokenizer has no chat template; use --no-chat-template")
        try:
            return render_chats(
                self._chat_template, messages, self._token_name(self.bos_id), self._token_name(self.eos_id)
            )
        except TemplateRenderError as error:
            raise ModelLoadError(f"chat template: {error}") from None

    def _token_name(self, token_id: int | None) -> str:
        if token_id is None:
            return ""
        return self._tokenizer.id_to_token(token_id) or ""


def _check_prompt_text(text: str) -> None:
    if len(text) > MAX_PROMPT_CHARS:
        raise ValueError(f"the prompt has {len(text)} characters, more than {MAX_PROMPT_CHARS}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: undecodable bytes of a command line
        raise ValueError("the prompt is not valid UTF-8 text") from None


def _token_content(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or {"content": ...}."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _chat_template(path: Path, tokenizer_config: dict[str, Any]) -> str | None:
    where = path / "tokenizer_config.json"
    template = tokenizer_config.get("chat_template")
    if isinstance(template, list):  # named templates: [{"name": ..., "template": ...}]
        named = [t.get("template") for t in template if isinstance(t, dict) and t.get("name") == "default"]
        if not named:
            raise ModelLoadError(f"{where}: chat_template is a list without a 'default' template")
        template = named[0]
    if template is None:
        file = _checkpoint_file(path, "chat_template.jinja", 4 * MAX_TEMPLATE_CHARS)
        if file is not None:
            where = file
            try:
                template = file.read_bytes().decode("utf-8")
            except (OSError, ValueError) as error:
                raise ModelLoadError(f"{file}: cannot read it ({_one_line(error)})") from None
    if template is not None and not isinstance(template, str):
        raise ModelLoadError(f"{where}: chat_template is not a string")
    if template is not None and len(template) > MAX_TEMPLATE_CHARS:
        raise ModelLoadError(f"{where}: chat_template is longer than {MAX_TEMPLATE_CHARS} characters")
    return template


def load_tokenizer(path: str | Path) -> LLaDATokenizer:
    """The tokenizer of a checkpoint folder (tokenizer.json + tokenizer_config.json)."""
    path = Path(path)
    tokenizer_file = _checkpoint_file(path, "tokenizer.json", MAX_TOKENIZER_BYTES)
    if tokenizer_file is None:
        raise ModelLoadError(f"{path}: no tokenizer.json")
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
    except Exception as error:  # tokenizers raises plain Exception on malformed files
        raise ModelLoadError(f"{tokenizer_file}: cannot read it ({_one_line(error)})") from None
    config_file = _checkpoint_file(path, "tokenizer_config.json", MAX_JSON_BYTES)
    tokenizer_config = _read_json(config_file) if config_file is not None else {}
    config = read_config(path) if os.path.lexists(path / "config.json") else None

    if config is not None:
        largest = max(tokenizer.get_vocab(with_added_tokens=True).values(), default=0)
        if largest >= config.vocab_size:
            raise ModelLoadError(
                f"{tokenizer_file}: token id {largest} is outside the model's vocabulary "
                f"(vocab_size {config.vocab_size})"
            )

    def special(name: str, config_key: str | None = None) -> int | None:
        configured = getattr(config, config_key) if config is not None and config_key else None
        return configured if configured is not None else tokenizer.token_to_id(name)

    bos_name = _token_content(tokenizer_config.get("bos_token")) or "<|startoftext|>"
    mask_id = special("<|mdm_mask|>", "mask_token_id")
    eos_id = special("<|endoftext|>", "eos_token_id")
    if mask_id is None:
        raise ModelLoadError(f"{path}: the tokenizer has no <|mdm_mask|> token and config.json no mask_token_id")
    if eos_id is None:
        raise ModelLoadError(f"{path}: the tokenizer has no <|endoftext|> token and config.json no eos_token_id")
    return LLaDATokenizer(
        tokenizer,
        _chat_template(path, tokenizer_config),
        mask_id=mask_id,
        eos_id=eos_id,
        eot_id=special("<|eot_id|>"),
        bos_id=special(bos_name),
    )
