"""Hostile checkpoint folders: every one is refused with one line, quickly, before any weight is read.

One test per family (config values, config files, the shard index, weight files, sampling.json,
model names), each parametrized over the cases an attacker or a broken download produces.
"""

from __future__ import annotations

import json
import os
import struct
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from tiny_checkpoint import write_tiny_checkpoint

from llada_tui.core.checkpoint import ModelLoadError, read_sampling_defaults, resolve_checkpoint
from llada_tui.core.loading import load_model
from llada_tui.core.tokenizer import load_tokenizer

QUICK_S = 5.0  # generous for a loaded CI machine; a refusal takes milliseconds


def refused(call, match: str) -> str:
    """Run call, which must raise ModelLoadError matching `match`, on one line and quickly."""
    started = time.monotonic()
    with pytest.raises(ModelLoadError, match=match) as error:
        call()
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    assert len(message) < 600
    assert time.monotonic() - started < QUICK_S
    return message


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    return write_tiny_checkpoint(tmp_path / "model")


@pytest.fixture
def sharded(tmp_path: Path) -> Path:
    return write_tiny_checkpoint(tmp_path / "model", sharded=True)


def edit_config(path: Path, **changes) -> None:
    config = json.loads((path / "config.json").read_text())
    config.update(changes)
    (path / "config.json").write_text(json.dumps(config))


def edit_config_text(path: Path, key: str, raw: str) -> None:
    """Set `key` to a raw JSON text (for what json.dumps would not write: 1e999, 5000 digits)."""
    config = json.loads((path / "config.json").read_text())
    config[key] = "@@"
    (path / "config.json").write_text(json.dumps(config).replace('"@@"', raw))


# ---------------------------------------------------------------------------- config values


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"d_model": 2**40}, r"d_model must be an integer in \[1, 65536\], got 1099511627776"),
        ({"d_model": -64}, r"d_model must be an integer in \[1, 65536\], got -64"),
        ({"d_model": "64"}, r"d_model must be an integer in \[1, 65536\], got '64'"),
        ({"d_model": 64.0}, r"d_model must be an integer"),
        ({"d_model": True}, r"d_model must be an integer"),
        ({"n_layers": 10**6}, r"n_layers must be an integer in \[1, 1024\]"),
        ({"n_layers": 0}, r"n_layers must be an integer in \[1, 1024\]"),
        ({"n_heads": 3}, "d_model 64 is not a multiple of n_heads 3"),
        ({"n_heads": -4}, r"n_heads must be an integer"),
        ({"n_kv_heads": 3}, "n_heads 4 is not a multiple of n_kv_heads 3"),
        ({"n_kv_heads": 0}, r"n_kv_heads must be an integer"),
        ({"vocab_size": 2**21}, r"vocab_size must be an integer in \[1, 1048576\]"),
        ({"embedding_size": 2**21}, r"embedding_size must be an integer in \[1, 1048576\]"),
        ({"mlp_hidden_size": -1}, r"mlp_hidden_size must be an integer"),
        ({"mlp_hidden_size": 2**30}, r"mlp_hidden_size must be an integer in \[1, 262144\]"),
        ({"mlp_hidden_size": None, "mlp_ratio": 10**9}, r"mlp_ratio must be an integer"),
        ({"max_sequence_length": 0}, r"max_sequence_length must be an integer"),
        ({"max_sequence_length": 2**40}, r"max_sequence_length must be an integer"),
        ({"mask_token_id": -1}, r"mask_token_id must be a token id in \[0, 384\), got -1"),
        ({"mask_token_id": 10**9}, r"mask_token_id must be a token id in \[0, 384\), got 1000000000"),
        ({"mask_token_id": "<|mdm_mask|>"}, r"mask_token_id must be a token id"),
        ({"eos_token_id": 384}, r"eos_token_id must be a token id in \[0, 384\)"),
        ({"pad_token_id": -5}, r"pad_token_id must be a token id"),
        ({"rope_theta": 0}, r"rope_theta must be a finite number > 0, got 0"),
        ({"rope_theta": -500000.0}, r"rope_theta must be a finite number > 0"),
        ({"rope_theta": "500000"}, r"rope_theta must be a finite number > 0"),
        ({"rms_norm_eps": -1e-5}, r"rms_norm_eps must be a finite number in \[0, 1\]"),
        ({"rms_norm_eps": 2.0}, r"rms_norm_eps must be a finite number in \[0, 1\]"),
        ({"rope_full_precision": "yes"}, r"rope_full_precision must be true or false"),
        ({"weight_tying": 1}, r"weight_tying must be true or false"),
    ],
    ids=lambda case: "-".join(f"{k}={v!r}"[:40] for k, v in case.items()) if isinstance(case, dict) else None,
)
def test_hostile_config_values(checkpoint, changes, message):
    edit_config(checkpoint, **changes)
    refused(lambda: load_model(checkpoint), message)
    refused(lambda: load_tokenizer(checkpoint), message)


@pytest.mark.parametrize(
    "key, raw, message",
    [
        ("rope_theta", "1e999", r"rope_theta must be a finite number > 0, got inf"),
        ("rms_norm_eps", "-1e999", r"rms_norm_eps must be a finite number"),
        ("rope_theta", "NaN", "NaN and Infinity are not JSON"),
        ("d_model", "9" * 5000, "an integer of 5000 digits"),
        ("ignored_key", "1" * 5000, "an integer of 5000 digits"),
    ],
    ids=["inf", "minus-inf", "nan", "5000-digit-size", "5000-digit-anywhere"],
)
def test_hostile_config_numbers(checkpoint, key, raw, message):
    edit_config_text(checkpoint, key, raw)
    refused(lambda: load_model(checkpoint), message)


# ---------------------------------------------------------------------------- config files


def nested(depth: int) -> str:
    return '{"model_type": "llada", "deep": ' + "[" * depth + "]" * depth + "}"


def outside_file(folder: Path, name: str, content: bytes) -> Path:
    outside = folder.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / name).write_bytes(content)
    return outside / name


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: (p / "config.json").write_text(nested(100_000)), "nested more than 32 deep"),
        (lambda p: (p / "config.json").write_text(nested(200)), "nested more than 32 deep"),
        (lambda p: (p / "config.json").write_text("[1, 2]"), "expected a JSON object"),
        (lambda p: (p / "config.json").write_bytes(b'{"model_type": "\xff\xfe"}'), "cannot read it"),
        (lambda p: os.truncate(p / "config.json", 17 << 20), "larger than 16 MiB"),
        (lambda p: ((p / "config.json").unlink(), (p / "config.json").mkdir()), "config.json is not a regular file"),
        (lambda p: ((p / "config.json").unlink(), os.mkfifo(p / "config.json")), "config.json is not a regular file"),
        (
            lambda p: (
                (p / "config.json").rename(p.parent / "real.json"),
                (p / "config.json").symlink_to(outside_file(p, "c.json", (p.parent / "real.json").read_bytes())),
            ),
            "config.json links to outside the model folder",
        ),
        (
            lambda p: ((p / "config.json").unlink(), (p / "config.json").symlink_to(p / "config.json")),
            "config.json: cannot read it",
        ),
    ],
    ids=["deep-100000", "deep-200", "array", "not-utf8", "huge", "directory", "fifo", "link-outside", "link-loop"],
)
def test_hostile_config_files(checkpoint, damage, message):
    damage(checkpoint)
    refused(lambda: load_model(checkpoint), message)


def test_links_into_the_folder_or_a_hub_cache_are_fine(tmp_path):
    """A Hub snapshot's files link to ../../blobs; older `--local-dir` downloads link into the cache."""
    repo = tmp_path / "models--tiny--llada"
    snapshot = write_tiny_checkpoint(repo / "snapshots" / "abc")
    (repo / "blobs").mkdir()
    for file in snapshot.iterdir():
        if file.suffix in (".json", ".safetensors"):
            file.rename(repo / "blobs" / file.name)
            file.symlink_to(Path("../../blobs") / file.name)
    load_model(snapshot)
    load_tokenizer(snapshot).apply_chat_template("hi")

    local = tmp_path / "local"
    local.mkdir()
    (local / "weights").mkdir()
    for file in snapshot.iterdir():
        (local / file.name).symlink_to(file.resolve())
    (local / "model.safetensors").unlink()
    (local / "weights" / "model.safetensors").symlink_to(repo / "blobs" / "model.safetensors")
    (local / "model.safetensors").symlink_to(Path("weights") / "model.safetensors")
    load_model(local)


def write_json(file: Path, data) -> None:
    file.write_text(json.dumps(data))


def edit_json(file: Path, **changes) -> None:
    write_json(file, {**json.loads(file.read_text()), **changes})


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: os.truncate(p / "tokenizer.json", 65 << 20), "tokenizer.json is larger than 64 MiB"),
        (lambda p: (p / "tokenizer.json").write_text("[" * 100_000), "tokenizer.json: cannot read it"),
        (lambda p: (p / "tokenizer.json").write_text('{"model": 5}'), "tokenizer.json: cannot read it"),
        (lambda p: os.truncate(p / "tokenizer_config.json", 17 << 20), "tokenizer_config.json is larger than 16 MiB"),
        (lambda p: (p / "tokenizer_config.json").write_text(nested(100_000)), "nested more than 32 deep"),
        (
            lambda p: edit_json(p / "tokenizer_config.json", chat_template=[{"name": ["x"]}, 5]),
            "chat_template is a list without a 'default' template",
        ),
        (
            lambda p: edit_config(p, vocab_size=300, mask_token_id=None, eos_token_id=None, pad_token_id=None),
            r"token id 383 is outside the model's vocabulary \(vocab_size 300\)",
        ),
    ],
    ids=["huge", "deep", "wrong-shape", "config-huge", "config-deep", "named-templates", "larger-than-the-model"],
)
def test_hostile_tokenizer_files(checkpoint, damage, message):
    damage(checkpoint)
    refused(lambda: load_tokenizer(checkpoint), message)


# ---------------------------------------------------------------------------- the shard index


def edit_index(path: Path, change) -> None:
    index_file = path / "model.safetensors.index.json"
    index = json.loads(index_file.read_text())
    change(index)
    index_file.write_text(json.dumps(index))


def first_shard_to(value):
    def change(index):
        shard = next(iter(index["weight_map"].values()))
        index["weight_map"] = {k: (value if v == shard else v) for k, v in index["weight_map"].items()}

    return change


def escape_with_dots(path: Path) -> None:
    shard = path / "model-00001-of-00003.safetensors"
    outside_file(path, shard.name, shard.read_bytes())
    edit_index(path, first_shard_to(f"../outside/{shard.name}"))


def link_shard_outside(path: Path) -> None:
    shard = path / "model-00001-of-00003.safetensors"
    target = outside_file(path, shard.name, shard.read_bytes())
    shard.unlink()
    shard.symlink_to(target)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: edit_index(p, first_shard_to(5)), "weight_map must map tensor names to file names"),
        (lambda p: edit_index(p, first_shard_to(None)), "weight_map must map tensor names to file names"),
        (lambda p: edit_index(p, lambda i: i.update(weight_map=["a"])), "no weight_map"),
        (lambda p: edit_index(p, lambda i: i.update(weight_map={})), "no weight_map"),
        (escape_with_dots, "is not a file name in the model folder"),
        (lambda p: edit_index(p, first_shard_to("/etc/passwd")), "is not a file name in the model folder"),
        (lambda p: edit_index(p, first_shard_to("a\x00b")), "is not a file name in the model folder"),
        (lambda p: edit_index(p, first_shard_to("x" * 5000)), r"x{20}\.\.\. \(listed in"),
        (link_shard_outside, "links to outside the model folder"),
        (lambda p: edit_index(p, first_shard_to("config.json")), "config.json: cannot read it"),
    ],
    ids=["int", "null", "list", "empty", "dot-dot", "absolute", "nul", "long-name", "link-outside", "not-weights"],
)
def test_hostile_shard_index(sharded, damage, message):
    damage(sharded)
    refused(lambda: load_model(sharded), message)


# ---------------------------------------------------------------------------- weight files


def rewrite_weights(path: Path, change) -> None:
    state = load_file(path / "model.safetensors")
    change(state)
    save_file(state, path / "model.safetensors")


def as_dtype(dtype: torch.dtype):
    name = "model.transformer.blocks.0.q_proj.weight"
    return lambda p: rewrite_weights(p, lambda s: s.update({name: s[name].to(dtype)}))


def raw_safetensors(header: bytes | dict, length: int | None = None, data: bytes = b""):
    """A weight file written by hand: an 8-byte little-endian header length, the header, data."""
    blob = header if isinstance(header, bytes) else json.dumps(header).encode()

    def write(path: Path) -> None:
        size = len(blob) if length is None else length
        (path / "model.safetensors").write_bytes(struct.pack("<Q", size) + blob + data)

    return write


HUGE_TENSOR = {
    "model.transformer.wte.weight": {"dtype": "F32", "shape": [2**31, 2**31], "data_offsets": [0, 2**64 - 1]}
}
SMALL_CLAIM = {"model.transformer.wte.weight": {"dtype": "F32", "shape": [384, 64], "data_offsets": [0, 384 * 64 * 4]}}


def duplicate_across_shards(path: Path) -> None:
    first, second = path / "model-00001-of-00003.safetensors", path / "model-00002-of-00003.safetensors"
    state = load_file(second)
    state.update({name: tensor for name, tensor in list(load_file(first).items())[:1]})
    save_file(state, second)


@pytest.mark.parametrize(
    "damage, message",
    [
        (as_dtype(torch.int8), r"q_proj.weight has dtype I8; only float32, float16 and bfloat16 weights"),
        (as_dtype(torch.bool), "has dtype BOOL; only float32, float16 and bfloat16"),
        (as_dtype(torch.float8_e4m3fn), "has dtype F8_E4M3; only float32, float16 and bfloat16"),
        (as_dtype(torch.complex64), "has dtype C64; only"),
        (as_dtype(torch.float64), "has dtype F64; only"),
        (as_dtype(torch.int64), "has dtype I64; only"),
        (raw_safetensors(HUGE_TENSOR), "model.safetensors: cannot read it"),
        (raw_safetensors(SMALL_CLAIM), "model.safetensors: cannot read it"),
        (raw_safetensors(b"{}", length=2**40), "model.safetensors: cannot read it"),
        (raw_safetensors(b"not json at all"), "model.safetensors: cannot read it"),
        (raw_safetensors(b"", length=0), "model.safetensors: cannot read it"),
        (lambda p: (p / "model.safetensors").write_bytes(b"\x01\x02"), "model.safetensors: cannot read it"),
        (lambda p: ((p / "model.safetensors").unlink(), os.mkfifo(p / "model.safetensors")), "not a regular file"),
        (
            lambda p: rewrite_weights(p, lambda s: s.update({"x" * 3000: torch.ones(1)})),
            r"unexpected tensor x{20,80}\.\.\.$",
        ),
    ],
    ids=[
        "int8",
        "bool",
        "f8",
        "complex",
        "float64",
        "int64",
        "huge-tensor",
        "truncated",
        "huge-header",
        "bad-header",
        "empty-header",
        "too-short",
        "fifo",
        "long-name",
    ],
)
def test_hostile_weight_files(checkpoint, damage, message):
    damage(checkpoint)
    refused(lambda: load_model(checkpoint), message)


def test_a_tensor_in_two_shards_is_refused(sharded):
    duplicate_across_shards(sharded)
    refused(lambda: load_model(sharded), "tensor model.transformer.* is in both model-00001-of-00003.safetensors and")


def test_the_largest_config_allowed_is_refused_quickly_when_its_weights_are_missing(checkpoint):
    """1024 layers of width 65536: the file's header is checked against the config before a model is built."""
    edit_config(checkpoint, d_model=65536, n_layers=1024, n_heads=512, mlp_hidden_size=2**18, vocab_size=2**20)
    edit_config(checkpoint, embedding_size=2**20)
    refused(lambda: load_model(checkpoint), "has shape .*, config.json implies")


# ---------------------------------------------------------------------------- sampling.json


@pytest.mark.parametrize(
    "content, message",
    [
        ("{bad", "sampling.json: cannot read it"),
        ("[64]", "sampling.json: expected a JSON object"),
        ('{"steps": "64"}', r"sampling.json: steps must be an integer in \[1, 32768\], got '64'"),
        ('{"steps": -1}', r"steps must be an integer in \[1, 32768\], got -1"),
        ('{"gen_length": 0}', r"gen_length must be an integer in \[1, 32768\], got 0"),
        ('{"block_length": 32769}', r"block_length must be an integer in \[1, 32768\], got 32769"),
        ('{"steps": true}', "steps must be an integer"),
        ('{"steps": 64.0}', "steps must be an integer"),
        ('{"steps": ' + "9" * 5000 + "}", "an integer of 5000 digits"),
        ('{"steps": ' + "[" * 5000 + "]" * 5000 + "}", "nested more than 32 deep"),
    ],
    ids=["bad-json", "array", "string", "negative", "zero", "too-big", "bool", "float", "5000-digits", "deep"],
)
def test_hostile_sampling_json(checkpoint, content, message):
    (checkpoint / "sampling.json").write_text(content)
    refused(lambda: read_sampling_defaults(checkpoint), message)


def test_sampling_defaults_read_from_the_checkpoint(checkpoint):
    assert read_sampling_defaults(checkpoint) == {}
    (checkpoint / "sampling.json").write_text('{"gen_length": 64, "steps": 32, "block_length": 16, "note": "x"}')
    assert read_sampling_defaults(checkpoint) == {"gen_length": 64, "steps": 32, "block_length": 16}
    assert read_sampling_defaults(resolve_checkpoint(None)) == {"gen_length": 64, "steps": 64, "block_length": 16}


# ---------------------------------------------------------------------------- model names


@pytest.mark.parametrize(
    "name, message",
    [
        ("~nosuchuser/x", r"~nosuchuser/x: no such user for ~"),
        ("a\x00b", "no such folder, and not a Hub id"),
        ("x" * 5000, "no such folder, and not a Hub id"),
    ],
    ids=["unknown-user", "nul", "too-long"],
)
def test_hostile_model_names(name, message):
    refused(lambda: resolve_checkpoint(name), message)
