"""The native LLaDA model: config parsing, official tensor names, and forward numerics
checked against a plain float64 re-statement of the official block maths."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from llada_tui.core.config import LLaDAConfig
from llada_tui.core.kv_cache import KVCache
from llada_tui.core.llada import LLaDAModel, init_weights
from llada_tui.core.saving import random_state_dict

# LLaDA-8B-Instruct's config.json, less bookkeeping keys.
LLADA_8B = {
    "activation_type": "silu",
    "alibi": False,
    "architectures": ["LLaDAModelLM"],
    "attention_layer_norm": False,
    "auto_map": {"AutoModel": "modeling_llada.LLaDAModelLM"},
    "block_type": "llama",
    "d_model": 4096,
    "embedding_size": 126464,
    "eos_token_id": 126081,
    "include_bias": False,
    "include_qkv_bias": False,
    "input_emb_norm": False,
    "layer_norm_type": "rms",
    "mask_token_id": 126336,
    "max_sequence_length": 4096,
    "mlp_hidden_size": 12288,
    "mlp_ratio": 4,
    "model_type": "llada",
    "multi_query_attention": None,
    "n_heads": 32,
    "n_kv_heads": 32,
    "n_layers": 32,
    "pad_token_id": 126081,
    "rms_norm_eps": 1e-05,
    "rope": True,
    "rope_full_precision": True,
    "rope_theta": 500000.0,
    "scale_logits": False,
    "vocab_size": 126464,
    "weight_tying": False,
}


def small_config(**overrides) -> LLaDAConfig:
    base = dict(d_model=64, n_layers=2, n_heads=4, vocab_size=97, mlp_hidden_size=96, rope_theta=10000.0)
    return LLaDAConfig(**{**base, **overrides})


def model_with_weights(config: LLaDAConfig, seed: int = 0) -> tuple[LLaDAModel, dict[str, torch.Tensor]]:
    state = random_state_dict(config, seed)
    model = LLaDAModel(config)
    model.load_state_dict(state)
    return model.eval(), state


def reference_logits(state: dict[str, torch.Tensor], config: LLaDAConfig, ids: torch.Tensor) -> torch.Tensor:
    """The official model's maths, written out plainly in float64."""
    return reference_forward(state, config, ids)[0]


def reference_forward(state, config, ids, positions=None, mask=None, borrowed=None, start=0):
    """reference_logits, with what the samplers need: rotary positions [L] (default 0..L-1), a mask
    [L, keys] (True = may attend), and `borrowed` keys and values per layer ([B, Hkv, T, D] each) of
    a longer sequence, over which the input (its positions start..start+L) attends, its own keys
    and values replacing theirs. Returns the logits and each layer's own keys and values."""
    w = {name: t.double() for name, t in state.items()}
    p = "model.transformer."
    B, L = ids.shape
    H, Hkv, D = config.n_heads, config.n_kv_heads, config.d_model // config.n_heads
    positions = torch.arange(L) if positions is None else positions

    def rms_norm(x, weight):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + config.rms_norm_eps) * weight

    # rotary: dimension i pairs with i + D/2, rotated by angle pos / theta^(2i/D)
    angle = positions.double()[:, None] / config.rope_theta ** (
        torch.arange(D // 2, dtype=torch.float64)[None, :] * 2 / D
    )

    def rope(t):  # [B, heads, L, D]
        a, b = t[..., : D // 2], t[..., D // 2 :]
        return torch.cat([a * angle.cos() - b * angle.sin(), b * angle.cos() + a * angle.sin()], dim=-1)

    x = w[p + "wte.weight"][ids]
    own = []
    for i in range(config.n_layers):
        b = f"{p}blocks.{i}."
        h = rms_norm(x, w[b + "attn_norm.weight"])
        q = rope((h @ w[b + "q_proj.weight"].T).view(B, L, H, D).transpose(1, 2))
        k = rope((h @ w[b + "k_proj.weight"].T).view(B, L, Hkv, D).transpose(1, 2))
        v = (h @ w[b + "v_proj.weight"].T).view(B, L, Hkv, D).transpose(1, 2)
        own.append((k, v))
        if borrowed is not None:
            k_all, v_all = (t.clone() for t in borrowed[i])
            k_all[:, :, start : start + L], v_all[:, :, start : start + L] = k, v
            k, v = k_all, v_all
        heads = []
        for head in range(H):
            kv = head // (H // Hkv)
            scores = q[:, head] @ k[:, kv].transpose(-1, -2) / math.sqrt(D)  # [B, L, keys]
            if mask is not None:
                scores = scores.masked_fill(~mask, -math.inf)
            weights = torch.exp(scores - scores.amax(-1, keepdim=True))
            weights = weights / weights.sum(-1, keepdim=True)
            heads.append(weights @ v[:, kv])
        x = x + torch.stack(heads, dim=2).reshape(B, L, H * D) @ w[b + "attn_out.weight"].T
        h = rms_norm(x, w[b + "ff_norm.weight"])
        gate, up = h @ w[b + "ff_proj.weight"].T, h @ w[b + "up_proj.weight"].T
        x = x + (gate * torch.sigmoid(gate) * up) @ w[b + "ff_out.weight"].T
    x = rms_norm(x, w[p + "ln_f.weight"])
    head_weight = w[p + "wte.weight"] if config.weight_tying else w[p + "ff_out.weight"]
    return x @ head_weight.T, own


@pytest.mark.parametrize(
    "overrides",
    [{}, {"n_kv_heads": 2}, {"n_kv_heads": 1, "n_heads": 8}, {"weight_tying": True}, {"embedding_size": 128}],
    ids=["mha", "gqa", "mqa", "tied", "padded-embedding"],
)
def test_forward_matches_float64_reference(overrides):
    config = small_config(**overrides)
    model, state = model_with_weights(config)
    ids = torch.randint(0, config.vocab_size, (2, 23), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = model(ids)
    expected = reference_logits(state, config, ids)
    assert logits.dtype == torch.float32
    assert logits.shape == (2, 23, config.embedding_size)
    assert expected.std() > 1.0  # the comparison means something only if logits are not flat
    relative_error = (logits.double() - expected).abs().max() / expected.abs().max()
    assert relative_error < 1e-5


def test_bfloat16_forward_stays_close_and_returns_bfloat16():
    config = small_config()
    model, state = model_with_weights(config)
    ids = torch.randint(0, config.vocab_size, (1, 17), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits = model.to(torch.bfloat16)(ids)
    expected = reference_logits(state, config, ids)
    assert logits.dtype == torch.bfloat16
    assert (logits.double() - expected).abs().max() / expected.abs().max() < 5e-2


def test_logits_start_equals_slicing_full_logits(tiny_model):
    ids = torch.randint(0, 300, (2, 20), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        full = tiny_model(ids)
        tail = tiny_model(ids, logits_start=12)
    assert tail.shape == (2, 8, full.shape[-1])
    torch.testing.assert_close(tail, full[:, 12:], rtol=1e-5, atol=1e-5)


def test_attention_is_bidirectional(tiny_model):
    ids = torch.randint(0, 300, (1, 16), generator=torch.Generator().manual_seed(4))
    changed = ids.clone()
    changed[0, -1] = (ids[0, -1] + 1) % 300
    with torch.no_grad():
        before, after = tiny_model(ids), tiny_model(changed)
    assert (before[0, 0] - after[0, 0]).abs().max() > 1e-3  # the first position sees the last


def test_rows_of_a_batch_do_not_interact(tiny_model):
    ids = torch.randint(0, 300, (3, 12), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        batched = tiny_model(ids)
        single = tiny_model(ids[1:2])
    torch.testing.assert_close(batched[1:2], single, rtol=1e-5, atol=1e-5)


def test_key_mask_computes_each_row_as_if_it_ended_there(tiny_model):
    ids = torch.randint(0, 300, (2, 16), generator=torch.Generator().manual_seed(6))
    lengths = (10, 16)
    key_mask = torch.arange(16)[None, :] < torch.tensor(lengths)[:, None]
    with torch.no_grad():
        padded = tiny_model(ids, mask=key_mask[:, None, None, :])
        for row, length in enumerate(lengths):
            alone = tiny_model(ids[row : row + 1, :length])
            torch.testing.assert_close(padded[row : row + 1, :length], alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("weight_tying", [False, True])
def test_state_dict_keys_are_the_official_names(weight_tying):
    model = LLaDAModel(small_config(weight_tying=weight_tying, n_kv_heads=2))
    per_block = ["attn_norm", "q_proj", "k_proj", "v_proj", "attn_out", "ff_norm", "ff_proj", "up_proj", "ff_out"]
    expected = ["model.transformer.wte.weight"]
    expected += [f"model.transformer.blocks.{i}.{name}.weight" for i in range(2) for name in per_block]
    expected += ["model.transformer.ln_f.weight"] + ([] if weight_tying else ["model.transformer.ff_out.weight"])
    state = model.state_dict()
    assert sorted(state) == sorted(expected)
    assert state["model.transformer.blocks.0.k_proj.weight"].shape == (32, 64)  # 2 kv heads of 16
    assert state["model.transformer.blocks.0.ff_out.weight"].shape == (64, 96)


def test_official_state_dicts_load_and_save_unchanged():
    config = small_config(n_kv_heads=2)
    model, state = model_with_weights(config)
    saved = model.state_dict()
    assert list(saved) == list(config.tensor_shapes())  # the official names, in the official order
    assert all(torch.equal(saved[name], state[name]) for name in state)


def test_official_tensors_are_the_fused_weights_themselves():
    config = small_config(n_kv_heads=2)
    model, state = model_with_weights(config)
    tensors = model.official_tensors()
    assert {name: tuple(t.shape) for name, t in tensors.items()} == config.tensor_shapes()
    block = model.transformer.blocks[1]
    for name in ("q_proj", "k_proj", "v_proj"):
        view = tensors[f"model.transformer.blocks.1.{name}.weight"]
        assert view.untyped_storage().data_ptr() == block.qkv.weight.untyped_storage().data_ptr()
        assert torch.equal(view, state[f"model.transformer.blocks.1.{name}.weight"])
    for name in ("ff_proj", "up_proj"):
        view = tensors[f"model.transformer.blocks.1.{name}.weight"]
        assert view.untyped_storage().data_ptr() == block.gate_up.weight.untyped_storage().data_ptr()
    assert sum(p.numel() for p in model.parameters()) == sum(t.numel() for t in tensors.values())


def test_a_partial_official_state_dict_names_what_is_missing():
    config = small_config()
    model = LLaDAModel(config)
    state = random_state_dict(config, 0)
    del state["model.transformer.blocks.0.k_proj.weight"]
    with pytest.raises(RuntimeError, match="blocks.0.qkv.weight"):
        model.load_state_dict(state)


def test_rotary_in_the_models_dtype_without_full_precision():
    config = small_config()
    model, state = model_with_weights(config)
    model = model.to(torch.bfloat16)
    ids = torch.randint(0, config.vocab_size, (1, 19), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        full = model(ids)
        model.config.rope_full_precision = False
        half = model(ids)
    expected = reference_logits(state, config, ids)
    assert (half.double() - expected).abs().max() / expected.abs().max() < 5e-2
    assert not torch.equal(half, full)  # the flag is honoured: rotary in bfloat16 rounds differently


def test_llada_8b_config_parses_and_counts_eight_billion_parameters():
    config = LLaDAConfig.from_json_dict(LLADA_8B)
    assert (config.n_kv_heads, config.head_dim, config.embedding_size) == (32, 128, 126464)
    assert (config.mask_token_id, config.eos_token_id) == (126336, 126081)
    summary = config.summary()
    assert summary["layers"] == 32 and summary["vocab"] == 126464
    assert 7.9e9 < summary["params"] < 8.1e9
    with torch.device("meta"):
        model = LLaDAModel(config)
    assert summary["params"] == sum(t.numel() for t in model.parameters())


def test_config_round_trips_through_json_dict():
    config = small_config(n_kv_heads=2, weight_tying=True, mask_token_id=5)
    assert LLaDAConfig.from_json_dict(config.to_json_dict()) == config
    assert config.to_json_dict()["model_type"] == "llada"


def test_config_defaults():
    config = LLaDAConfig.from_json_dict({"d_model": 64, "n_layers": 1, "n_heads": 4, "vocab_size": 50})
    assert (config.n_kv_heads, config.mlp_hidden_size, config.embedding_size) == (4, 256, 50)
    config = LLaDAConfig.from_json_dict({**LLADA_8B, "n_kv_heads": None})
    assert config.n_kv_heads == 32


@pytest.mark.parametrize(
    "key, value",
    [
        ("block_type", "sequential"),
        ("activation_type", "swiglu"),
        ("layer_norm_type", "default"),
        ("include_bias", True),
        ("rope", False),
        ("alibi", True),
        ("scale_logits", True),
        ("multi_query_attention", True),
    ],
)
def test_unsupported_options_name_the_key(key, value):
    with pytest.raises(ValueError, match=key):
        LLaDAConfig.from_json_dict({**LLADA_8B, key: value})


@pytest.mark.parametrize(
    "change, key",
    [
        ({"d_model": None}, "d_model"),
        ({"n_heads": 0}, "n_heads"),
        ({"d_model": 4000}, "n_heads"),
        ({"n_kv_heads": 5}, "n_kv_heads"),
        ({"embedding_size": 100}, "embedding_size"),
        ({"n_layers": "32"}, "n_layers"),
    ],
)
def test_bad_shapes_are_rejected_with_the_key(change, key):
    with pytest.raises(ValueError, match=key):
        LLaDAConfig.from_json_dict({**LLADA_8B, **change})


def test_trains_under_autocast_with_gradients_everywhere():
    config = small_config(n_kv_heads=2)
    model, _ = model_with_weights(config)
    model.train()
    ids = torch.randint(0, config.vocab_size, (2, 10), generator=torch.Generator().manual_seed(6))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(ids)
    loss = F.cross_entropy(logits.float().flatten(0, 1), ids.flatten())
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_rotary_tables_are_reused_across_lengths():
    config = small_config()
    model, state = model_with_weights(config)
    ids = torch.randint(0, config.vocab_size, (1, 24), generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        model(ids)  # caches tables for 24 positions
        short = model(ids[:, :9])
    cos, _ = model.rotary(5, ids.device)
    assert cos.shape == (5, 1, config.head_dim) and cos.data_ptr() == model.rotary(24, ids.device)[0].data_ptr()
    expected = reference_logits(state, config, ids[:, :9])
    assert (short.double() - expected).abs().max() / expected.abs().max() < 1e-5


def test_init_weights_for_training_from_scratch():
    model = LLaDAModel(small_config(n_layers=8, d_model=128, mlp_hidden_size=256))
    init_weights(model, std=0.02)
    state = model.state_dict()
    assert torch.equal(state["model.transformer.ln_f.weight"], torch.ones(128))
    assert torch.equal(state["model.transformer.blocks.3.ff_norm.weight"], torch.ones(128))
    assert abs(state["model.transformer.blocks.0.q_proj.weight"].std() - 0.02) < 2e-3
    assert abs(state["model.transformer.ff_out.weight"].std() - 0.02) < 2e-3  # the head is not a residual
    assert abs(state["model.transformer.blocks.0.attn_out.weight"].std() - 0.005) < 5e-4  # 0.02 / sqrt(16)
    assert abs(state["model.transformer.blocks.0.ff_out.weight"].std() - 0.005) < 5e-4


def relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    return float((got.double() - expected).abs().max() / expected.abs().max())


@pytest.mark.parametrize("overrides", [{}, {"n_kv_heads": 2}], ids=["mha", "gqa"])
@pytest.mark.parametrize(("start", "end"), [(8, 20), (8, 12), (0, 20), (4, 9)], ids=["prefix", "dual", "all", "inner"])
def test_a_cached_forward_attends_over_the_kept_keys(overrides, start, end):
    """A KVCache filled on one sequence, then a forward over positions start..end of another: the
    float64 restatement with the first sequence's keys and values outside the span."""
    config = small_config(**overrides)
    model, state = model_with_weights(config)
    generator = torch.Generator().manual_seed(5)
    stale = torch.randint(0, config.vocab_size, (2, 20), generator=generator)
    fresh = stale.clone()
    fresh[:, start:end] = torch.randint(0, config.vocab_size, (2, end - start), generator=generator)
    cache = KVCache(config.n_layers)
    with torch.no_grad():
        full = model(stale, cache=cache)
        cached = model(fresh[:, start:end], cache=cache.at(start))
    expected_full, kept = reference_forward(state, config, stale)
    expected = reference_forward(
        state, config, fresh[:, start:end], torch.arange(start, end), borrowed=kept, start=start
    )[0]
    assert relative_error(full, expected_full) < 1e-5
    assert relative_error(cached, expected) < 1e-5
    if (start, end) != (0, 20):  # stale keys matter: the uncached forward of the new sequence differs
        assert relative_error(model(fresh)[:, start:end].detach(), expected) > 1e-3


def test_positions_and_a_mask_follow_the_restatement():
    """Explicit rotary positions (a block's twin, as WINO appends) and a mask over the keys."""
    config = small_config(n_kv_heads=2)
    model, state = model_with_weights(config)
    ids = torch.randint(0, config.vocab_size, (1, 16), generator=torch.Generator().manual_seed(6))
    positions = torch.cat([torch.arange(12), torch.arange(8, 12)])  # the last four repeat positions 8..11
    mask = torch.ones(16, 16, dtype=torch.bool)
    mask[:12, 12:] = False  # the first twelve do not see the last four
    mask[12:, 8:12] = ~torch.eye(4, dtype=torch.bool)  # each of the last four sees all but its twin
    with torch.no_grad():
        got = model(ids, positions=positions, mask=mask)
    expected = reference_forward(state, config, ids, positions, mask=mask)[0]
    assert relative_error(got, expected) < 1e-5
    assert relative_error(model(ids).detach(), expected) > 1e-3  # positions and mask changed the result


def test_an_empty_cache_cannot_be_used():
    with pytest.raises(ValueError, match="the cache is empty"):
        KVCache(2).at(4)
