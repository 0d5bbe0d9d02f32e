"""LLaDA's config.json as a checked dataclass: every size bounded, every value one we implement.

Nothing here imports torch: a checkpoint's config is checked before the engine starts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

# Keys of config.json whose value we do not implement otherwise: key -> the only value we accept.
# A missing key is taken to have this value (what every LLaDA checkpoint has).
_FIXED = {
    "block_type": "llama",
    "activation_type": "silu",
    "layer_norm_type": "rms",
    "include_bias": False,
    "include_qkv_bias": False,
    "rope": True,
    "alibi": False,
    "attention_layer_norm": False,
    "input_emb_norm": False,
    "scale_logits": False,
    "layer_norm_with_affine": True,
    "bias_for_layer_norm": False,
}


# Bounds on config.json's sizes: each far above LLaDA-8B's (4096, 32, 12288, 126464, 4096), low
# enough that a hostile config cannot make us build a model of a million layers.
MAX_D_MODEL = 1 << 16
MAX_LAYERS = 1 << 10
MAX_MLP_HIDDEN = 1 << 18
MAX_MLP_RATIO = 64
MAX_VOCAB = 1 << 20
MAX_SEQUENCE_LENGTH = 1 << 20


def _shown(value: Any) -> str:
    """A config value as an error message quotes it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class LLaDAConfig:
    d_model: int
    n_layers: int
    n_heads: int
    vocab_size: int
    n_kv_heads: int | None = None  # None: as many as n_heads
    mlp_hidden_size: int | None = None  # None: mlp_ratio * d_model
    mlp_ratio: int = 4
    embedding_size: int | None = None  # rows of the embedding and the head; None: vocab_size
    max_sequence_length: int = 4096
    rope_theta: float = 500000.0
    rope_full_precision: bool = True
    rms_norm_eps: float = 1e-5
    weight_tying: bool = False
    mask_token_id: int | None = None
    eos_token_id: int | None = None
    pad_token_id: int | None = None

    def __post_init__(self) -> None:
        """Check every value (ValueError, one line naming the key and its bounds), then fill defaults."""
        sizes = {
            "d_model": MAX_D_MODEL,
            "n_layers": MAX_LAYERS,
            "n_heads": MAX_D_MODEL,
            "vocab_size": MAX_VOCAB,
            "n_kv_heads": MAX_D_MODEL,
            "mlp_hidden_size": MAX_MLP_HIDDEN,
            "mlp_ratio": MAX_MLP_RATIO,
            "embedding_size": MAX_VOCAB,
            "max_sequence_length": MAX_SEQUENCE_LENGTH,
        }
        for key, limit in sizes.items():
            value = getattr(self, key)
            if value is not None and not (_is_int(value) and 1 <= value <= limit):
                raise ValueError(f"config.json: {key} must be an integer in [1, {limit}], got {_shown(value)}")
        if not (_is_number(self.rope_theta) and self.rope_theta > 0):
            raise ValueError(f"config.json: rope_theta must be a finite number > 0, got {_shown(self.rope_theta)}")
        if not (_is_number(self.rms_norm_eps) and 0 <= self.rms_norm_eps <= 1):
            raise ValueError(
                f"config.json: rms_norm_eps must be a finite number in [0, 1], got {_shown(self.rms_norm_eps)}"
            )
        for key in ("rope_full_precision", "weight_tying"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"config.json: {key} must be true or false, got {_shown(getattr(self, key))}")
        for key in ("mask_token_id", "eos_token_id", "pad_token_id"):
            value = getattr(self, key)
            if value is not None and not (_is_int(value) and 0 <= value < self.vocab_size):
                raise ValueError(
                    f"config.json: {key} must be a token id in [0, {self.vocab_size}), got {_shown(value)}"
                )

        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads
        if self.mlp_hidden_size is None:
            self.mlp_hidden_size = self.mlp_ratio * self.d_model
            if self.mlp_hidden_size > MAX_MLP_HIDDEN:
                raise ValueError(f"config.json: mlp_ratio * d_model must be at most {MAX_MLP_HIDDEN}")
        if self.embedding_size is None:
            self.embedding_size = self.vocab_size
        if self.d_model % self.n_heads:
            raise ValueError(f"config.json: d_model {self.d_model} is not a multiple of n_heads {self.n_heads}")
        if self.head_dim % 2:
            raise ValueError(f"config.json: head size d_model / n_heads = {self.head_dim} must be even")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"config.json: n_heads {self.n_heads} is not a multiple of n_kv_heads {self.n_kv_heads}")
        if self.embedding_size < self.vocab_size:
            raise ValueError(
                f"config.json: embedding_size {self.embedding_size} is smaller than vocab_size {self.vocab_size}"
            )
        self.rope_theta = float(self.rope_theta)
        self.rms_norm_eps = float(self.rms_norm_eps)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @classmethod
    def from_json_dict(cls, d: dict[str, Any]) -> LLaDAConfig:
        """Build from the official config.json; unsupported architecture options raise ValueError."""
        for key, supported in _FIXED.items():
            value = d.get(key, supported)
            if value != supported:
                raise ValueError(f"config.json: {key}={value!r} is not supported (only {supported!r})")
        if d.get("multi_query_attention"):
            raise ValueError("config.json: multi_query_attention=True is not supported (use n_kv_heads)")
        missing = [key for key in ("d_model", "n_layers", "n_heads", "vocab_size") if d.get(key) is None]
        if missing:
            raise ValueError(f"config.json: missing key {missing[0]!r}")
        known = cls.__dataclass_fields__
        return cls(**{key: value for key, value in d.items() if key in known and value is not None})

    def to_json_dict(self) -> dict[str, Any]:
        """The official config.json keys for this model (without `auto_map`: no remote code)."""
        return {
            "model_type": "llada",
            "architectures": ["LLaDAModelLM"],
            **_FIXED,
            **asdict(self),
        }

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        """The official tensor names and shapes of a checkpoint with this config, in state_dict order.

        What LLaDAModel(self).state_dict() holds, computed without building the model, so that
        weight files can be checked against a config before a model of its size is made.
        """
        d, h, kv = self.d_model, self.mlp_hidden_size, self.n_kv_heads * self.head_dim
        prefix = "model.transformer."
        shapes: dict[str, tuple[int, ...]] = {f"{prefix}wte.weight": (self.embedding_size, d)}
        block = {
            "attn_norm": (d,),
            "q_proj": (d, d),
            "k_proj": (kv, d),
            "v_proj": (kv, d),
            "attn_out": (d, d),
            "ff_norm": (d,),
            "ff_proj": (h, d),
            "up_proj": (h, d),
            "ff_out": (d, h),
        }
        for i in range(self.n_layers):
            shapes.update({f"{prefix}blocks.{i}.{name}.weight": shape for name, shape in block.items()})
        shapes[f"{prefix}ln_f.weight"] = (d,)
        if not self.weight_tying:
            shapes[f"{prefix}ff_out.weight"] = (self.embedding_size, d)
        return shapes

    def num_params(self) -> int:
        d, h, kv = self.d_model, self.mlp_hidden_size, self.n_kv_heads * self.head_dim
        per_block = 2 * d + 2 * d * d + 2 * d * kv + 3 * d * h  # norms, q/out, k/v, swiglu
        head = 0 if self.weight_tying else self.embedding_size * d
        return self.embedding_size * d + self.n_layers * per_block + d + head

    def summary(self) -> dict[str, Any]:
        """A short description for the trace header."""
        return {
            "layers": self.n_layers,
            "d_model": self.d_model,
            "heads": self.n_heads,
            "kv_heads": self.n_kv_heads,
            "mlp_hidden": self.mlp_hidden_size,
            "vocab": self.vocab_size,
            "params": self.num_params(),
        }
