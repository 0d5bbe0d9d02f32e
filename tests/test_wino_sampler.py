"""WINO's revising sampler (core/wino.py) against a plain restatement of its source (shared/SAMPLERS.md)."""

from __future__ import annotations

import pytest
import torch
from sampler_models import MASK_ID, peaked_model
from wino_source import wino_source

from llada_tui.core.records import Step
from llada_tui.core.wino import generate_wino

SEED = 11


SETTINGS = {
    "defaults": dict(gen_length=16, block_length=8),
    "one-block": dict(gen_length=16, block_length=16),
    "low-threshold": dict(gen_length=16, block_length=8, threshold=0.3),
    "re-mask-often": dict(gen_length=16, block_length=8, threshold=0.2, threshold_back=0.5),
    "max-accept": dict(gen_length=32, block_length=32, threshold=0.05, threshold_back=0.3),
    "re-mask-cap": dict(gen_length=32, block_length=32, threshold=0.01, threshold_back=0.99),
    "temperature": dict(gen_length=16, block_length=8, threshold=0.3, temperature=0.7),
}


@pytest.fixture(scope="module")
def model():
    return peaked_model(seed=2)


@pytest.fixture(scope="module")
def prompt():
    return torch.tensor([[5, 17, 42, 8, 33, 21, 3]])


def run(model, prompt, case):
    steps: list[Step] = []
    torch.manual_seed(SEED)
    out, forwards = generate_wino(model, prompt, **case, mask_id=MASK_ID, recorder=steps.append)
    return out, forwards, steps


def split(step: Step) -> tuple[list[int], list[int]]:
    """A step's (committed, re-masked) positions."""
    commits = sorted(p for p, i in zip(step.positions, step.ids) if i != MASK_ID)
    remasks = sorted(p for p, i in zip(step.positions, step.ids) if i == MASK_ID)
    return commits, remasks


@pytest.mark.parametrize("name", SETTINGS)
def test_matches_the_source_forward_for_forward(model, prompt, name):
    case = SETTINGS[name]
    out, forwards, steps = run(model, prompt, case)
    torch.manual_seed(SEED)
    expected, nfe, changes = wino_source(model, prompt, **case)
    assert torch.equal(out, expected)
    assert forwards == nfe == len(steps)
    assert [split(step) for step in steps] == changes
    torch.manual_seed(SEED)  # recording only observes
    assert torch.equal(generate_wino(model, prompt, **case, mask_id=MASK_ID)[0], out)


def test_the_settings_reach_every_rule(model, prompt):
    """Between them the settings re-mask, hit the max_accept cap, and hit the re-mask cap."""

    def changes(name):
        return [split(step) for step in run(model, prompt, SETTINGS[name])[2]]

    assert any(remasks for _, remasks in changes("re-mask-often"))
    assert not any(remasks for _, remasks in changes("defaults"))
    capped = changes("max-accept")
    assert len(capped[0][0]) == 20  # 32 masked: 0.7 x 32 = 22, capped at 20
    # At threshold_back 0.99 nearly every decoded token is doubted: the cap (last_accept - 1) decides.
    cap = changes("re-mask-cap")
    assert any(0 < len(remasks) == len(cap[i - 1][0]) - 1 for i, (_, remasks) in enumerate(cap) if i)


def test_a_re_masked_position_carries_the_shadow_confidence_and_its_history(model, prompt):
    _, _, steps = run(model, prompt, SETTINGS["re-mask-often"])
    remask = next(step for step in steps if MASK_ID in step.ids)
    i = list(remask.ids).index(MASK_ID)
    position = remask.positions[i]
    assert remask.confidences[i] < 0.5  # below threshold_back: why it was re-masked
    earlier = [s for s in steps if s.index < remask.index and position in s.positions]
    assert earlier and earlier[-1].ids[list(earlier[-1].positions).index(position)] != MASK_ID
    # the step's candidates judged the decoded position (from its shadow) before re-masking it
    assert position in remask.candidates.positions


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(threshold=1.5), "threshold must be between 0 and 1"),
        (dict(threshold_back=-1.0), "threshold_back must be between 0 and 1"),
        (dict(prompt=torch.tensor([[5, MASK_ID, 3]])), "mask tokens inside the prompt"),
        (dict(prompt=torch.tensor([[5, 6], [7, 8]])), "one sequence at a time"),
    ],
)
def test_bad_arguments_raise_one_line_value_errors(model, prompt, kwargs, message):
    arguments = {**dict(prompt=prompt, gen_length=8, block_length=8, mask_id=MASK_ID), **kwargs}
    with pytest.raises(ValueError, match=message):
        generate_wino(model, **arguments)
