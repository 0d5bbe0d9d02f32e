"""A checkpoint folder's weights into an LLaDAModel, every weight file's header checked first.

The names, shapes and dtypes in each safetensors header are checked against the config before
a model is built or a weight is read (core/checkpoint.py checks the folder and its config).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from llada_tui.core.checkpoint import (
    MAX_JSON_BYTES,
    ModelLoadError,
    checkpoint_file,
    first_line,
    is_file_name,
    read_config,
    read_json,
    shorten,
)
from llada_tui.core.llada import LLaDAModel

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


Progress = Callable[[int, int, str], None]


def _weight_files(path: Path) -> list[Path]:
    index = checkpoint_file(path, "model.safetensors.index.json", MAX_JSON_BYTES)
    if index is not None:
        weight_map = read_json(index).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise ModelLoadError(f"{index}: no weight_map")
        if not all(isinstance(name, str) for name in weight_map.values()):
            raise ModelLoadError(f"{index}: weight_map must map tensor names to file names")
        files = []
        for name in dict.fromkeys(weight_map.values()):
            if not is_file_name(name):
                raise ModelLoadError(f"{index.name}: {shorten(name)} is not a file name in the model folder")
            file = checkpoint_file(path, name)
            if file is None:
                raise ModelLoadError(f"{path / shorten(name)} (listed in {index.name}) not found")
            files.append(file)
        return files
    single = checkpoint_file(path, "model.safetensors")
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
                        raise ModelLoadError(f"{file.name}: unexpected tensor {shorten(name)}")
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
                            f"{file.name}: tensor {name} has dtype {shorten(dtype, 20)}; "
                            f"only float32, float16 and bfloat16 weights are supported"
                        )
                    found[name] = file
        except (SafetensorError, OSError) as error:
            raise ModelLoadError(f"{file}: cannot read it ({first_line(error)})") from None
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
    against the config first (every official tensor present once); then the model's memory is
    allocated and each tensor is copied into its place as it is read, so weights are held once
    (plus the tensor being read).
    `progress(done, total, what)` is called after each weight file.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    device, dtype = _device_and_dtype(device, dtype)
    config = read_config(path)
    files = _weight_files(path)
    _check_weight_headers(files, config.tensor_shapes())
    with torch.device("meta"):
        model = LLaDAModel(config).to(dtype)
    model.to_empty(device=device)
    places = model.official_tensors()
    for done, file in enumerate(files, 1):
        try:
            with safe_open(file, framework="pt", device=str(device)) as weights:
                for name in weights.keys():
                    places[name].copy_(weights.get_tensor(name))
        except (SafetensorError, OSError) as error:
            raise ModelLoadError(f"{file}: cannot read it ({first_line(error)})") from None
        if progress is not None:
            progress(done, len(files), file.name)
    model.requires_grad_(False)
    return model.eval()
