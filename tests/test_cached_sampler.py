"""Fast-dLLM's prefix and dual caches (core/cached.py) against a plain restatement of their source."""

from __future__ import annotations

import fast_dllm_source
import pytest
import torch
from sampler_models import MASK_ID, peaked_model

from llada_tui.core.cached import commits, generate_cached
from llada_tui.core.records import Step
from llada_tui.core.threshold import generate_threshold, transfer_step

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


# ---------------------------------------------------------------------------- no waiting for the device

COMMIT_CASES = {
    "schedule": dict(threshold=None, count=3),
    "schedule past the masks": dict(threshold=None, count=7),
    "schedule run out": dict(threshold=None, count=0),
    "threshold": dict(threshold=0.2, count=None),
    "threshold none reached": dict(threshold=0.99, count=None),
    "temperature": dict(threshold=0.3, count=None, temperature=0.9),
    "random": dict(threshold=None, count=2, remasking="random"),
}


@pytest.mark.parametrize("name", COMMIT_CASES)
def test_commits_choose_what_transfer_step_chooses(name):
    """The sync-free step (core/cached.py: commits) against the threshold sampler's transfer_step,
    on random logits, masks and offsets in a row longer than the block."""
    case = dict(temperature=0.0, remasking="low_confidence") | COMMIT_CASES[name]
    generator = torch.Generator().manual_seed(3)
    for trial in range(40):
        n, vocab, offset = 6, 11, int(torch.randint(0, 5, (1,), generator=generator))
        logits = torch.randn((2, n, vocab), generator=generator) * 3
        masked = torch.rand((2, n), generator=generator) < 0.6
        arguments = (logits, offset + n + 3, offset, masked, case["temperature"], case["remasking"])
        rest = (case["threshold"], case["count"])
        torch.manual_seed(trial)
        expected = transfer_step(*arguments, *rest)
        torch.manual_seed(trial)
        got = commits(*arguments, *rest)
        assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1]), trial


def count_reads(monkeypatch) -> list[int]:
    """Counts the tensors read back to Python as truth values (a wait for the device on a GPU)."""
    reads = [0]
    original = torch.Tensor.__bool__

    def counting(tensor):
        reads[0] += 1
        return original(tensor)

    monkeypatch.setattr(torch.Tensor, "__bool__", counting)
    return reads


@pytest.mark.parametrize("cache", ["prefix", "dual"])
def test_without_a_threshold_no_step_reads_the_device(model, prompt, cache, monkeypatch):
    case = dict(steps=16, gen_length=16, block_length=4)
    torch.manual_seed(SEED)
    expected, nfe, _ = fast_dllm_source.generate_cached(model, prompt, **case, cache=cache)
    reads = count_reads(monkeypatch)
    out, forwards = generate_cached(model, prompt, **case, cache=cache, mask_id=MASK_ID)
    assert reads[0] == 1  # the prompt's mask check, before the loop
    assert torch.equal(out, expected) and forwards == nfe == 16
    reads[0] = 0
    generate_cached(model, prompt, **case, threshold=0.5, cache=cache, mask_id=MASK_ID)
    assert reads[0] > 4  # with a threshold the loop asks whether each block is full
