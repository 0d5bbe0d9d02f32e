"""Fast-dLLM's prefix and dual caches (core/cached.py) against a plain restatement of their source."""

from __future__ import annotations

import fast_dllm_source
import pytest
import torch
from sampler_models import MASK_ID, peaked_model

from llada_tui.core.cached import generate_cached
from llada_tui.core.records import Step
from llada_tui.core.threshold import generate_threshold

SEED = 7

SETTINGS = {
    "blocks-0.3": dict(steps=16, gen_length=16, block_length=4, threshold=0.3),
    "blocks-0.9": dict(steps=16, gen_length=16, block_length=4, threshold=0.9),
    "one-block-0.4": dict(steps=16, gen_length=16, block_length=16, threshold=0.4),
    "one-block-0.05": dict(steps=16, gen_length=16, block_length=16, threshold=0.05),  # the block fills at once
    "temperature": dict(steps=16, gen_length=16, block_length=8, threshold=0.4, temperature=0.8),
    "random": dict(steps=12, gen_length=12, block_length=6, threshold=0.5, remasking="random"),
    "schedule": dict(steps=8, gen_length=16, block_length=8),
    "schedule-one-step": dict(steps=2, gen_length=16, block_length=8),  # past the schedule's end
}
CASES = [(name, cache) for name in SETTINGS for cache in ("prefix", "dual")]


@pytest.fixture(scope="module")
def model():
    return peaked_model(seed=2)


@pytest.fixture(scope="module")
def prompt():
    return torch.tensor([[5, 17, 42, 8, 33, 21, 3]])


def run(model, prompt, case, cache):
    steps: list[Step] = []
    torch.manual_seed(SEED)
    out, forwards = generate_cached(model, prompt, **case, cache=cache, mask_id=MASK_ID, recorder=steps.append)
    return out, forwards, steps


@pytest.mark.parametrize(("name", "cache"), CASES, ids=[f"{n}-{c}" for n, c in CASES])
def test_matches_the_source_forward_for_forward(model, prompt, name, cache):
    case = SETTINGS[name]
    out, forwards, steps = run(model, prompt, case, cache)
    torch.manual_seed(SEED)
    expected, nfe, commits = fast_dllm_source.generate_cached(model, prompt, **case, cache=cache)
    assert torch.equal(out, expected)
    assert forwards == nfe == len(steps)
    assert [sorted(step.positions) for step in steps] == [row[0] for row in commits]
    assert not (out == MASK_ID).any()
    torch.manual_seed(SEED)  # recording only observes
    assert torch.equal(generate_cached(model, prompt, **case, cache=cache, mask_id=MASK_ID)[0], out)


def test_every_block_runs_a_full_and_at_least_one_cached_forward(model, prompt):
    """The block fills in its first forward at threshold 0.05; the cached forward still runs, committing nothing."""
    _, forwards, steps = run(model, prompt, SETTINGS["one-block-0.05"], "dual")
    assert forwards == 2 and [len(s.positions) for s in steps] == [16, 0]
    _, forwards, steps = run(model, prompt, SETTINGS["schedule-one-step"], "prefix")
    assert forwards == 4 and [len(s.positions) for s in steps] == [8, 0, 8, 0]


def test_the_caches_are_approximations(model, prompt):
    """With stale keys both cached samplers choose otherwise than the uncached one here."""
    case = SETTINGS["blocks-0.3"]
    torch.manual_seed(SEED)
    exact, _ = generate_threshold(model, prompt, **case, mask_id=MASK_ID)
    prefix, dual = (run(model, prompt, case, cache)[0] for cache in ("prefix", "dual"))
    assert not torch.equal(prefix, exact) and not torch.equal(dual, exact)


def test_a_cached_steps_candidates_cover_what_its_forward_predicts(model, prompt):
    case = SETTINGS["blocks-0.3"]  # blocks of 4 in 16
    for cache, expected_rows in (("prefix", lambda block: 16 - 4 * block), ("dual", lambda block: 4)):
        _, _, steps = run(model, prompt, case, cache)
        cached = [s for s in steps if s.index not in first_steps(steps)]
        for step in cached:
            still_masked = len(step.candidates.positions)
            assert still_masked <= expected_rows(step.block)
            assert all(
                4 * step.block <= p < 4 * step.block + expected_rows(step.block) for p in step.candidates.positions
            )


def first_steps(steps):
    return {next(s.index for s in steps if s.block == block) for block in {s.block for s in steps}}


def test_a_batch_of_two_matches_the_source(model):
    prompts = torch.tensor([[5, 17, 42, 8, 33, 21, 3], [9, 9, 2, 50, 11, 4, 7]])
    case = dict(steps=16, gen_length=16, block_length=8, threshold=0.4, temperature=0.7)
    for cache in ("prefix", "dual"):
        torch.manual_seed(SEED)
        out, forwards = generate_cached(model, prompts, **case, cache=cache, mask_id=MASK_ID)
        torch.manual_seed(SEED)
        expected, nfe, _ = fast_dllm_source.generate_cached(model, prompts, **case, cache=cache)
        assert torch.equal(out, expected) and forwards == nfe


def test_an_unknown_cache_is_a_one_line_error(model, prompt):
    with pytest.raises(ValueError, match="unknown cache 'full'; use prefix or dual"):
        generate_cached(model, prompt, steps=8, gen_length=8, block_length=8, cache="full", mask_id=MASK_ID)
