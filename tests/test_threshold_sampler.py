"""Fast-dLLM's threshold sampler (core/threshold.py) against a plain restatement of its source."""

from __future__ import annotations

import fast_dllm_source
import pytest
import torch
import torch.nn.functional as F
from sampler_models import MASK_ID, peaked_model

from llada_tui.core.records import Step
from llada_tui.core.sampler import generate
from llada_tui.core.threshold import generate_threshold

SEED = 99


CASES = {
    "blocks-0.9": dict(steps=16, gen_length=16, block_length=4, threshold=0.9),
    "blocks-0.3": dict(steps=16, gen_length=16, block_length=4, threshold=0.3),
    "one-block-0.9": dict(steps=16, gen_length=16, block_length=16, threshold=0.9),
    "one-block-0.4": dict(steps=16, gen_length=16, block_length=16, threshold=0.4),
    "one-block-0.05": dict(steps=16, gen_length=16, block_length=16, threshold=0.05),
    "temperature": dict(steps=16, gen_length=16, block_length=8, threshold=0.4, temperature=0.8),
    "random": dict(steps=12, gen_length=12, block_length=6, threshold=0.5, remasking="random"),
    "schedule": dict(steps=8, gen_length=16, block_length=8),
    "schedule-uneven": dict(steps=6, gen_length=16, block_length=8, temperature=0.5),
}


@pytest.fixture(scope="module")
def model():
    return peaked_model()


@pytest.fixture(scope="module")
def prompt():
    return torch.tensor([[5, 17, 42, 8, 33, 21]])


def run(model, prompt, case):
    steps: list[Step] = []
    torch.manual_seed(SEED)
    out, forwards = generate_threshold(model, prompt, **case, mask_id=MASK_ID, recorder=steps.append)
    return out, forwards, steps


def run_source(model, prompt, case):
    torch.manual_seed(SEED)
    return fast_dllm_source.generate(model, prompt, **case)


@pytest.mark.parametrize("name", CASES)
def test_matches_the_source_forward_for_forward(model, prompt, name):
    case = CASES[name]
    out, forwards, steps = run(model, prompt, case)
    expected, nfe, commits = run_source(model, prompt, case)
    assert torch.equal(out, expected)
    assert forwards == nfe == len(steps)
    assert [sorted(step.positions) for step in steps] == [row[0] for row in commits]
    assert [step.index for step in steps] == list(range(nfe))
    torch.manual_seed(SEED)  # recording only observes
    assert torch.equal(generate_threshold(model, prompt, **case, mask_id=MASK_ID)[0], out)


def test_the_cases_commit_one_and_many_per_step(model, prompt):
    """The thresholds above give one commit per forward, several, and the whole block at once:
    the parity tests see every branch of the rule."""

    def per_step(name):
        return [len(step.positions) for step in run(model, prompt, CASES[name])[2]]

    assert per_step("one-block-0.9") == [1] * 16  # nothing reaches 0.9: the most confident alone
    assert per_step("one-block-0.05") == [16]  # everything does
    mixed = per_step("one-block-0.4")
    assert sum(mixed) == 16 and 1 in mixed and max(mixed) > 1
    assert max(per_step("blocks-0.3")) > 1 and max(per_step("temperature")) > 1


def test_without_a_threshold_it_commits_as_many_as_the_reference(model, prompt):
    case = dict(steps=6, gen_length=16, block_length=8, temperature=0.5)
    _, forwards, steps = run(model, prompt, case)
    torch.manual_seed(SEED)
    reference: list[Step] = []
    generate(model, prompt, **case, mask_id=MASK_ID, recorder=reference.append)
    assert forwards == 6
    assert [len(s.positions) for s in steps] == [len(s.positions) for s in reference] == [3, 3, 2] * 2


def test_a_batch_of_two_matches_the_source(model):
    prompts = torch.tensor([[5, 17, 42, 8, 33, 21], [9, 9, 2, 50, 11, 4]])
    case = dict(steps=16, gen_length=16, block_length=8, threshold=0.4, temperature=0.7)
    torch.manual_seed(SEED)
    out, forwards = generate_threshold(model, prompts, **case, mask_id=MASK_ID)
    expected, nfe, _ = run_source(model, prompts, case)
    assert torch.equal(out, expected) and forwards == nfe


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(threshold=1.5), "threshold must be between 0 and 1"),
        (dict(threshold=-0.1), "threshold must be between 0 and 1"),
        (dict(prompt=torch.tensor([[5, MASK_ID, 3]])), "mask tokens inside the prompt"),
        (dict(prompt=torch.tensor([[5, 6], [7, 8]]), recorder=print), "batch of 2"),
    ],
)
def test_bad_arguments_raise_one_line_value_errors(model, prompt, kwargs, message):
    arguments = {**dict(prompt=prompt, steps=8, gen_length=8, block_length=8, mask_id=MASK_ID), **kwargs}
    with pytest.raises(ValueError, match=message):
        generate_threshold(model, **arguments)


def test_confidence_is_a_float64_probability_as_in_the_source(model, prompt):
    """A threshold set to one position's float64 confidence commits it, though its float32
    softmax is below even that threshold rounded to float32 (a sampler ranking float32
    probabilities would leave it masked)."""
    x = torch.cat([prompt, torch.full((1, 16), MASK_ID)], dim=1)
    with torch.no_grad():
        logits = model(x)[0, prompt.shape[1] :]
    x0 = logits.argmax(-1)
    p64 = F.softmax(logits.double(), -1).gather(-1, x0[:, None])[:, 0]
    p32 = F.softmax(logits, -1).gather(-1, x0[:, None])[:, 0]
    lower = [i for i in range(16) if p32[i] < p64[i].float() and p64[i] < p64.max()]
    assert lower, "no position whose float32 confidence rounds down: pick another prompt"
    position = lower[0]
    case = dict(steps=16, gen_length=16, block_length=16, threshold=float(p64[position]))
    first = run(model, prompt, case)[2][0]
    assert position in first.positions
    assert all(p64[i] >= p64[position] for i in first.positions)
