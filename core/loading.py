"""From a name to a model and a tokenizer, without ever executing code from the checkpoint.

A model is named by nothing (the embedded demo model), a local folder, or a Hub id
(`owner/name`, fetched into huggingface_hub's cache; offline use works once cached).
Only config.json, safetensors and tokenizer files are read; `auto_map` and any *.py in the
folder are ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer

from llada_tui.core.llada import LLaDAConfig, LLaDAModel

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
    return text[0] if text else type(error).__name__


# ---------------------------------------------------------------------------- resolving


def resolve_checkpoint(name_or_path: str | None) -> Path:
    """The local folder holding the model: the demo model, a folder, or a Hub snapshot."""
    if name_or_path is None:
        if not (DEMO_DIR / "config.json").is_file():
            raise ModelLoadError("the embedded demo model is not installed; pass --model PATH_OR_HUB_ID")
        return DEMO_DIR
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{path} has no config.json: not a model folder")
        return path
    if path.exists():
        raise ModelLoadError(f"{path} is a file; expected a model folder or a Hub id (owner/name)")
    if not HUB_ID.match(name_or_path):
        raise ModelLoadError(f"{name_or_path}: no such folder, and not a Hub id (owner/name)")
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
    """The LLaDAConfig of a checkpoint folder (its config.json, model_type 'llada')."""
    config = _read_json(Path(path) / "config.json")
    if config.get("model_type") != "llada":
        raise ModelLoadError(
            f"{Path(path) / 'config.json'}: model_type is {config.get('model_type')!r}, expected 'llada'"
        )
    try:
        return LLaDAConfig.from_json_dict(config)
    except (TypeError, ValueError) as error:
        raise ModelLoadError(f"{path}: {_one_line(error)}") from None


def _read_json(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{file} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"{file}: cannot read it ({_one_line(error)})") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{file}: expected a JSON object")
    return data


def _weight_files(path: Path) -> list[Path]:
    index = path / "model.safetensors.index.json"
    if index.is_file():
        weight_map = _read_json(index).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise ModelLoadError(f"{index}: no weight_map")
        files = [path / name for name in dict.fromkeys(weight_map.values())]
        for file in files:
            if not file.is_file():
                raise ModelLoadError(f"{file} (listed in {index.name}) not found")
        return files
    if (path / "model.safetensors").is_file():
        return [path / "model.safetensors"]
    raise ModelLoadError(f"{path}: no model.safetensors or model.safetensors.index.json")


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

    dtype defaults to float32 on CPU and bfloat16 on CUDA. The model is built on the meta
    device and takes the loaded tensors as they are, so weights are held in memory once.
    `progress(done, total, what)` is called after each weight file.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    device, dtype = _device_and_dtype(device, dtype)
    config = read_config(path)
    with torch.device("meta"):
        model = LLaDAModel(config)
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}

    files = _weight_files(path)
    state: dict[str, torch.Tensor] = {}
    for done, file in enumerate(files, 1):
        try:
            with safe_open(file, framework="pt", device=str(device)) as weights:
                for name in weights.keys():
                    if name not in expected:
                        raise ModelLoadError(f"{file.name}: unexpected tensor {name}")
                    shape = tuple(weights.get_slice(name).get_shape())
                    if shape != expected[name]:
                        raise ModelLoadError(
                            f"{file.name}: tensor {name} has shape {list(shape)}, "
                            f"config.json implies {list(expected[name])}"
                        )
                    state[name] = weights.get_tensor(name).to(dtype)
        except (SafetensorError, OSError) as error:
            raise ModelLoadError(f"{file}: cannot read it ({_one_line(error)})") from None
        if progress is not None:
            progress(done, len(files), file.name)
    missing = [name for name in expected if name not in state]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ModelLoadError(f"{path}: missing tensor {missing[0]}{more}")

    model.load_state_dict(state, strict=True, assign=True)
    model.requires_grad_(False)
    return model.eval()


# ---------------------------------------------------------------------------- tokenizer


class LLaDATokenizer:
    """LLaDA's tokenizer from tokenizer.json, with its chat template rendered in a jinja2 sandbox.

    Special ids are looked up by token name (the demo model's ids differ from LLaDA-8B's).
    Where config.json names mask_token_id / eos_token_id, those win: they are what the model
    was trained with, and what the reference sampler is given.
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
        self.mask_id = mask_id
        self.eos_id = eos_id
        self.eot_id = eot_id
        self.bos_id = bos_id

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def special_ids(self) -> list[int]:
        """Ids of all special tokens (skipped when decoding an answer)."""
        added = self._tokenizer.get_added_tokens_decoder()
        return sorted({i for i, token in added.items() if token.special} | {self.mask_id, self.eos_id})

    def encode(self, text: str) -> list[int]:
        """Token ids of text; special tokens written in the text are recognised, none are added."""
        return self._tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return self._tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def token_text(self, token_id: int) -> str:
        """Display text of one token alone, e.g. ' the' or '\\n'; '' for ids outside the vocabulary."""
        if self._tokenizer.id_to_token(token_id) is None:
            return ""
        return self._tokenizer.decode([token_id], skip_special_tokens=False)

    def render_chat(self, message: str) -> str:
        """The prompt text for one user message, as LLaDA's chat examples build it."""
        if self._chat_template is None:
            raise ModelLoadError("this tokenizer has no chat template; use --no-chat-template")
        from jinja2 import TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str) -> None:
            raise TemplateError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        try:
            return env.from_string(self._chat_template).render(
                messages=[{"role": "user", "content": message}],
                add_generation_prompt=True,
                bos_token=self._token_name(self.bos_id),
                eos_token=self._token_name(self.eos_id),
            )
        except TemplateError as error:
            raise ModelLoadError(f"chat template: {_one_line(error)}") from None

    def apply_chat_template(self, message: str) -> list[int]:
        """Prompt ids for one user message in LLaDA's chat format, ready for generation."""
        return self.encode(self.render_chat(message))

    def _token_name(self, token_id: int | None) -> str:
        if token_id is None:
            return ""
        return self._tokenizer.id_to_token(token_id) or ""


def _token_content(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or {"content": ...}."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _chat_template(path: Path, tokenizer_config: dict[str, Any]) -> str | None:
    template = tokenizer_config.get("chat_template")
    if isinstance(template, list):  # named templates: [{"name": ..., "template": ...}]
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    if template is None and (path / "chat_template.jinja").is_file():
        template = (path / "chat_template.jinja").read_text(encoding="utf-8")
    if template is not None and not isinstance(template, str):
        raise ModelLoadError(f"{path / 'tokenizer_config.json'}: chat_template is not a string")
    return template


def load_tokenizer(path: str | Path) -> LLaDATokenizer:
    """The tokenizer of a checkpoint folder (tokenizer.json + tokenizer_config.json)."""
    path = Path(path)
    tokenizer_file = path / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise ModelLoadError(f"{path}: no tokenizer.json")
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
    except Exception as error:  # tokenizers raises plain Exception on malformed files
        raise ModelLoadError(f"{tokenizer_file}: cannot read it ({_one_line(error)})") from None
    tokenizer_config = _read_json(path / "tokenizer_config.json") if (path / "tokenizer_config.json").is_file() else {}
    model_config = _read_json(path / "config.json") if (path / "config.json").is_file() else {}

    def special(name: str, config_key: str | None = None) -> int | None:
        if config_key is not None and isinstance(model_config.get(config_key), int):
            return model_config[config_key]
        return tokenizer.token_to_id(name)

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
