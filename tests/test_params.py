"""SamplingParams: resolved from the user's options, written to the header as traces always held them."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import pytest

from llada_tui.core.options import OptionError, SamplingOptions
from llada_tui.core.params import SamplingParams

DEFAULTS = {"steps": 64, "gen_length": 64, "block_length": 16}
HEADER_KEYS = [  # the order of every trace written so far: the header's bytes depend on it
    "steps", "gen_length", "block_length", "temperature", "cfg_scale", "remasking", "logits_eos_inf",
    "confidence_eos_eot_inf", "seed", "topk", "chat_template", "parse_special", "mask_id", "eos_id", "eot_id",
]  # fmt: skip


def test_defaults_fill_what_the_user_left_out() -> None:
    params = SamplingParams.resolve(SamplingOptions(steps=32), DEFAULTS, mask_id=9, eos_id=2, eot_id=3)
    assert (params.steps, params.gen_length, params.block_length) == (32, 64, 16)
    assert (params.mask_id, params.eos_id, params.eot_id) == (9, 2, 3)


def test_header_dict_keeps_the_order_and_comes_back() -> None:
    params = SamplingParams.resolve(SamplingOptions(seed=5), DEFAULTS, mask_id=9, eos_id=2, eot_id=3)
    header = params.as_header()
    assert list(header) == HEADER_KEYS
    assert SamplingParams.from_header(header) == params


def test_without_an_eot_token_the_option_concerns_eos() -> None:
    params = SamplingParams.resolve(SamplingOptions(), DEFAULTS, mask_id=9, eos_id=2, eot_id=None)
    assert params.eot_id == 2


def test_lengths_are_checked_once_resolved() -> None:
    with pytest.raises(OptionError, match="multiple of block_length"):
        SamplingParams.resolve(SamplingOptions(gen_length=20), DEFAULTS, mask_id=9, eos_id=2, eot_id=3)


def test_params_are_frozen() -> None:
    params = SamplingParams.resolve(SamplingOptions(), DEFAULTS, mask_id=9, eos_id=2, eot_id=3)
    with pytest.raises(FrozenInstanceError):
        params.steps = 1  # type: ignore[misc]
