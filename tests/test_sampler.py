"""The sampler against a plain re-statement of LLaDA's reference generate(), and what it records."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from sampler_models import MASK_ID, VOCAB, peaked_model
from torch import nn

from llada_tui.core.llada import LLaDAModel
from llada_tui.core.predictor import HubModel
from llada_tui.core.records import Step
from llada_tui.core.sampler import StopSampling, add_gumbel_noise, generate, num_transfer_tokens
from llada_tui.core.step_capture import chunk_width, top_k

SEED = 1234


# ---------------------------------------------------------------------------- the reference, restated


def reference_generate(
    model,
    prompt,
    steps,
    gen_length,
    block_length,
    temperature=0.0,
    cfg_scale=0.0,
    remasking="low_confidence",
    mask_id=MASK_ID,
    logits_eos_inf=False,
    confidence_eos_eot_inf=False,
    eos_id=0,
    eot_id=1,
    eos_eot_quirk=True,
):
    """shared/LLADA.md "The reference sampler", point by point, over the whole sequence.

    Returns the final tokens [B, P + G] and, per step, per row, the sorted positions committed
    (relative to the first generated token). `eos_eot_quirk=False` blanks both EOS and EOT at
    every temperature: what the quirk would be if fixed, to show the tests can tell them apart.
    """
    batch, prompt_len = prompt.shape
    # 1. prompt then masks; blocks of block_length, steps / blocks steps each
    x = torch.full((batch, prompt_len + gen_length), mask_id, dtype=torch.long)
    x[:, :prompt_len] = prompt
    is_prompt = x != mask_id
    num_blocks = gen_length // block_length
    block_steps = steps // num_blocks
    commits = []
    for block in range(num_blocks):
        block_start = prompt_len + block * block_length
        block_end = block_start + block_length
        # 2. the block's masked count m: m // s per step, one more for the first m % s steps
        m = (x[:, block_start:block_end] == mask_id).sum(dim=1).tolist()
        for j in range(block_steps):
            masked = x == mask_id
            # 3. logits of the whole sequence, cfg as a second batch of rows with the prompt masked
            if cfg_scale > 0:
                unconditional = x.clone()
                unconditional[is_prompt] = mask_id
                out = model(torch.cat([x, unconditional]))
                cond, uncond = out[:batch], out[batch:]
                logits = uncond + (cfg_scale + 1) * (cond - uncond)
            else:
                logits = model(x)
            if logits_eos_inf:
                logits[:, :, eos_id] = -math.inf
            if temperature > 0:
                logits64 = logits.to(torch.float64)
                u = torch.rand_like(logits64, dtype=torch.float64)
                noisy = logits64.exp() / (-torch.log(u)) ** temperature
            else:
                noisy = logits
            x0 = noisy.argmax(dim=-1)
            # 5. the EOS/EOT confidence quirk
            if confidence_eos_eot_inf:
                if temperature == 0 or not eos_eot_quirk:
                    logits[:, :, eos_id] = -math.inf
                logits[:, :, eot_id] = -math.inf
            # 4. confidence, -inf after the block and where not masked; top-k masked take x0
            if remasking == "low_confidence":
                score = F.softmax(logits, dim=-1).gather(-1, x0[..., None])[..., 0]
            else:
                score = torch.rand((batch, x.shape[1]))
            score[:, block_end:] = -math.inf
            score = torch.where(masked, score, -math.inf)
            row_commits = []
            for row in range(batch):
                k = m[row] // block_steps + (1 if j < m[row] % block_steps else 0)
                chosen = torch.topk(score[row], k).indices
                x[row, chosen] = x0[row, chosen]
                row_commits.append(sorted((chosen - prompt_len).tolist()))
            commits.append(row_commits)
    return x, commits


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def model() -> LLaDAModel:
    return peaked_model()


@pytest.fixture(scope="module")
def prompt() -> torch.Tensor:
    return torch.tensor([[5, 17, 42, 8, 33, 21]])


@pytest.fixture(scope="module")
def eos_eot(model, prompt) -> dict[str, int]:
    """The two tokens the model predicts most often, as EOS and EOT, so the EOS options bite."""
    x = torch.cat([prompt, torch.full((1, 16), MASK_ID)], dim=1)
    with torch.no_grad():
        predicted = model(x)[0, prompt.shape[1] :].argmax(-1)
    first, second = torch.bincount(predicted, minlength=VOCAB).topk(2).indices.tolist()
    return {"eos_id": first, "eot_id": second}


CASES = {
    "one-per-step": dict(steps=8, gen_length=8, block_length=8),
    "blocks": dict(steps=8, gen_length=16, block_length=4),
    "uneven": dict(steps=5, gen_length=12, block_length=12),
    "uneven-blocks": dict(steps=6, gen_length=16, block_length=8),
    "temperature": dict(steps=8, gen_length=16, block_length=8, temperature=0.8),
    "random": dict(steps=6, gen_length=12, block_length=6, remasking="random"),
    "random-temperature": dict(steps=6, gen_length=12, block_length=6, remasking="random", temperature=0.5),
    "cfg": dict(steps=8, gen_length=16, block_length=8, cfg_scale=1.5),
    "cfg-temperature": dict(steps=8, gen_length=16, block_length=8, cfg_scale=0.5, temperature=0.7),
    "eos-inf": dict(steps=8, gen_length=16, block_length=8, logits_eos_inf=True),
    "eos-eot-quirk-greedy": dict(steps=8, gen_length=16, block_length=16, confidence_eos_eot_inf=True),
    "eos-eot-quirk-temperature": dict(
        steps=8, gen_length=16, block_length=16, confidence_eos_eot_inf=True, temperature=0.6
    ),
}


def run(model, prompt, case: dict, eos_eot: dict, **extra) -> tuple[torch.Tensor, list[Step]]:
    steps: list[Step] = []
    torch.manual_seed(SEED)
    out = generate(model, prompt, **case, mask_id=MASK_ID, **eos_eot, recorder=steps.append, **extra)
    return out, steps


def run_reference(model, prompt, case: dict, eos_eot: dict, **extra):
    torch.manual_seed(SEED)
    return reference_generate(model, prompt, **case, mask_id=MASK_ID, **eos_eot, **extra)


# ---------------------------------------------------------------------------- parity


@pytest.mark.parametrize("name", CASES)
def test_matches_reference_step_for_step(model, prompt, eos_eot, name):
    case = CASES[name]
    out, steps = run(model, prompt, case, eos_eot)
    expected, commits = run_reference(model, prompt, case, eos_eot)
    assert torch.equal(out, expected)
    assert [sorted(step.positions) for step in steps] == [row[0] for row in commits]
    # the recorder only observes: the same seed without it gives the same tokens
    torch.manual_seed(SEED)
    assert torch.equal(generate(model, prompt, **case, mask_id=MASK_ID, **eos_eot), out)


def test_cases_exercise_their_options(model, prompt, eos_eot):
    """Each option changes the outcome here, so the parity tests above can catch it being wrong."""

    def tokens(**options):
        return run_reference(model, prompt, dict(steps=8, gen_length=16, block_length=16, **options), eos_eot)[0]

    plain = tokens()
    assert (plain[0, prompt.shape[1] :] == eos_eot["eos_id"]).any()
    assert not (tokens(logits_eos_inf=True)[0, prompt.shape[1] :] == eos_eot["eos_id"]).any()
    assert not torch.equal(tokens(temperature=0.8), plain)
    assert not torch.equal(tokens(remasking="random"), plain)
    assert not torch.equal(tokens(cfg_scale=1.5), plain)
    quirk_greedy = tokens(confidence_eos_eot_inf=True)
    assert not torch.equal(quirk_greedy, plain)
    # at temperature > 0 the quirk spares EOS: blanking both would choose differently
    quirk = tokens(confidence_eos_eot_inf=True, temperature=0.6)
    assert not torch.equal(quirk, tokens(confidence_eos_eot_inf=True, temperature=0.6, eos_eot_quirk=False))


def test_batch_of_two_matches_reference(model, eos_eot):
    prompts = torch.tensor([[5, 17, 42, 8, 33, 21], [9, 9, 2, 50, 11, 4]])
    case = dict(steps=6, gen_length=12, block_length=6, temperature=0.7, cfg_scale=1.0)
    torch.manual_seed(SEED)
    out = generate(model, prompts, **case, mask_id=MASK_ID, **eos_eot)
    expected, _ = run_reference(model, prompts, case, eos_eot)
    assert out.shape == (2, 18)
    assert torch.equal(out, expected)
    assert not torch.equal(out[0, 6:], out[1, 6:])


class HubStyle(nn.Module):
    """What the official remote code looks like from outside: `.logits`, takes attention_mask."""

    def __init__(self, inner: LLaDAModel):
        super().__init__()
        self.inner = inner
        self.masks_seen: list[torch.Tensor | None] = []

    def forward(self, input_ids, attention_mask=None):
        self.masks_seen.append(attention_mask)
        return SimpleNamespace(logits=self.inner(input_ids))


@pytest.mark.parametrize("cfg_scale", [0.0, 1.5])
def test_hub_style_model_gets_the_attention_mask(model, eos_eot, cfg_scale):
    prompts = torch.tensor([[1, 1, 42, 8], [5, 17, 42, 8]])  # the first left-padded with 1
    attention_mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    case = dict(steps=4, gen_length=8, block_length=4, cfg_scale=cfg_scale, temperature=0.5)
    hub = HubStyle(model)
    torch.manual_seed(SEED)
    out = generate(HubModel(hub), prompts, attention_mask, **case, mask_id=MASK_ID, **eos_eot)
    torch.manual_seed(SEED)
    assert torch.equal(out, generate(model, prompts, attention_mask, **case, mask_id=MASK_ID, **eos_eot))
    full_mask = torch.cat([attention_mask, torch.ones(2, 8, dtype=attention_mask.dtype)], dim=1)
    rows = 2 if cfg_scale > 0 else 1
    assert len(hub.masks_seen) == 4
    for seen in hub.masks_seen:
        assert torch.equal(seen, full_mask.repeat(rows, 1))


def test_hub_style_model_without_attention_mask_gets_none(model, prompt, eos_eot):
    hub = HubStyle(model)
    generate(HubModel(hub), prompt, steps=2, gen_length=4, block_length=4, cfg_scale=1.0, mask_id=MASK_ID, **eos_eot)
    assert hub.masks_seen == [None, None]


def test_mask_tokens_in_the_prompt_are_filled_like_the_reference(model, eos_eot):
    prompt = torch.tensor([[5, MASK_ID, 42, 8, MASK_ID, 21]])
    case = dict(steps=4, gen_length=8, block_length=4, temperature=0.5)
    torch.manual_seed(SEED)
    out = generate(model, prompt, **case, mask_id=MASK_ID, **eos_eot)
    expected, _ = run_reference(model, prompt, case, eos_eot)
    assert torch.equal(out, expected)
    assert not (out[0, [1, 4]] == MASK_ID).any()
    with pytest.raises(ValueError, match="mask tokens"):
        generate(model, prompt, **case, mask_id=MASK_ID, recorder=lambda step: None)


# ---------------------------------------------------------------------------- what is recorded


def replay_probabilities(model, prompt, case: dict, eos_eot: dict, steps: list[Step]):
    """Recompute each step's softmax from the recorded commits alone: [(masked positions, probs [G, V])]."""
    prompt_len = prompt.shape[1]
    x = torch.cat([prompt, torch.full((1, case["gen_length"]), MASK_ID)], dim=1)
    out = []
    for step in steps:
        with torch.no_grad():
            if case.get("cfg_scale", 0) > 0:
                unconditional = x.clone()
                unconditional[:, :prompt_len] = MASK_ID
                cond, uncond = model(torch.cat([x, unconditional])).chunk(2)
                logits = uncond + (case["cfg_scale"] + 1) * (cond - uncond)
            else:
                logits = model(x)
        if case.get("logits_eos_inf"):
            logits[:, :, eos_eot["eos_id"]] = -math.inf
        masked = (x[0, prompt_len:] == MASK_ID).nonzero().flatten().tolist()
        out.append((masked, logits[0, prompt_len:].softmax(-1)))
        x[0, prompt_len + torch.tensor(list(step.positions), dtype=torch.long)] = torch.tensor(list(step.ids))
    return out


@pytest.mark.parametrize("name", CASES)
def test_recorded_steps(model, prompt, eos_eot, name):
    case = CASES[name]
    out, steps = run(model, prompt, case, eos_eot, topk=3)
    gen_length = case["gen_length"]
    num_blocks = gen_length // case["block_length"]
    block_steps = case["steps"] // num_blocks

    assert [s.index for s in steps] == list(range(case["steps"]))
    assert [s.block for s in steps] == [i // block_steps for i in range(case["steps"])]
    assert all(s.wall_ms > 0 for s in steps)
    schedule = num_transfer_tokens(case["block_length"], block_steps) * num_blocks
    assert [len(s.positions) for s in steps] == schedule
    committed = [p for s in steps for p in s.positions]
    assert sorted(committed) == list(range(gen_length))  # every position exactly once
    final = out[0, prompt.shape[1] :].tolist()
    assert all(final[p] == i for s in steps for p, i in zip(s.positions, s.ids))

    confidences = []
    for step, (masked, probs) in zip(steps, replay_probabilities(model, prompt, case, eos_eot, steps)):
        positions = torch.tensor(list(step.positions), dtype=torch.long)
        expected = probs[positions, torch.tensor(list(step.ids), dtype=torch.long)]
        assert torch.allclose(torch.tensor(list(step.confidences)), expected, rtol=1e-5, atol=1e-7)
        confidences.extend(step.confidences)

        candidates = step.candidates
        assert candidates.k == 3 and list(candidates.positions) == masked
        ids = torch.tensor(list(candidates.ids)).view(-1, 3)
        values = torch.tensor(list(candidates.probs)).view(-1, 3)
        assert (values[:, :-1] >= values[:, 1:]).all()
        top = probs[masked].topk(3, dim=-1)
        assert torch.equal(ids, top.indices)
        assert torch.allclose(values, top.values, rtol=1e-5, atol=1e-7)
        if case.get("temperature", 0) == 0:  # greedy: what a step commits is its top-1 guess
            top1 = dict(zip(candidates.positions, ids[:, 0].tolist()))
            assert all(top1[p] == i for p, i in zip(step.positions, step.ids))
    assert max(confidences) - min(confidences) > 0.1  # the tiny model is far from flat


def test_topk_zero_records_no_candidates(model, prompt, eos_eot):
    _, steps = run(model, prompt, CASES["blocks"], eos_eot, topk=0)
    assert steps and all(s.candidates is None for s in steps)


@pytest.mark.parametrize("vocab", [64, 97, 1000, 126464])
def test_top_k_matches_torch_topk(vocab):
    values = torch.randn(6, vocab, generator=torch.Generator().manual_seed(vocab))
    values[0, :5] = 10.0 + torch.arange(5.0)  # all five best in one chunk
    values[1, -5:] = 10.0  # ... or tied, at the end of the row
    top, ids = top_k(values, 5)
    expected = torch.topk(values, 5, dim=-1)
    assert torch.equal(top, expected.values)
    assert torch.equal(values.gather(-1, ids), top)  # each id points at its value
    assert torch.equal(ids[2:], expected.indices[2:])  # no ties there: the same ids
    assert ids[1].unique().numel() == 5


def test_top_k_with_many_ties_finds_the_largest_values():
    values = torch.randint(0, 4, (3, 1000)).to(torch.bfloat16)  # ties everywhere, as in bf16 probabilities
    top, ids = top_k(values, 5)
    assert torch.equal(top, torch.topk(values, 5, dim=-1).values)
    assert torch.equal(values.gather(-1, ids), top) and all(row.unique().numel() == 5 for row in ids)


def test_chunk_width_divides_the_vocabulary():
    assert chunk_width(126464) == 304  # LLaDA's vocabulary: 416 chunks
    assert chunk_width(64) == 8 and chunk_width(97) == 1  # a prime: no chunks (plain torch.topk)


def test_stop_sampling_from_the_recorder_stops_at_that_step(model, prompt, eos_eot):
    seen: list[Step] = []

    def recorder(step: Step) -> None:
        seen.append(step)
        if step.index == 2:
            raise StopSampling

    with pytest.raises(StopSampling):
        generate(model, prompt, steps=8, gen_length=8, block_length=8, mask_id=MASK_ID, recorder=recorder)
    assert [s.index for s in seen] == [0, 1, 2]


# ---------------------------------------------------------------------------- arguments


def test_num_transfer_tokens():
    assert num_transfer_tokens(12, 5) == [3, 3, 2, 2, 2]
    assert num_transfer_tokens(8, 8) == [1] * 8
    assert num_transfer_tokens(32, 4) == [8] * 4
    for masked in range(1, 20):
        for steps in range(1, masked + 1):
            counts = num_transfer_tokens(masked, steps)
            assert sum(counts) == masked and max(counts) - min(counts) <= 1


def test_gumbel_noise_is_float64_and_drawn_over_the_whole_sequence():
    logits = torch.randn(2, 7, 11)  # [B, L, V]; the sampler passes only the last positions
    torch.manual_seed(SEED)
    noisy = add_gumbel_noise(logits[:, 3:], 0.7, seq_len=7)
    torch.manual_seed(SEED)
    u = torch.rand_like(logits, dtype=torch.float64)
    expected = logits.to(torch.float64).exp() / (-torch.log(u)) ** 0.7
    assert noisy.dtype == torch.float64
    assert torch.equal(noisy, expected[:, 3:])
    assert add_gumbel_noise(logits, 0.0, seq_len=7) is logits


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(gen_length=10, block_length=4), "multiple of block_length"),
        (dict(gen_length=16, block_length=4, steps=6), "multiple of the number of blocks"),
        (dict(gen_length=8, block_length=8, steps=16), "must not exceed gen_length"),
        (dict(steps=0), "steps must be between 1 and 32768"),
        (dict(gen_length=-8, block_length=8), "gen_length must be between 1 and 32768"),
        (dict(block_length=0), "block_length must be between 1 and 32768"),
        (dict(gen_length=1 << 16, block_length=1 << 16), "gen_length must be between 1 and 32768"),
        (dict(temperature=float("nan")), "temperature must be a finite number"),
        (dict(cfg_scale=float("inf")), "cfg_scale must be a finite number"),
        (dict(remasking="entropy"), "unknown remasking 'entropy'"),
        (dict(temperature=-1.0), "temperature"),
        (dict(cfg_scale=-0.5), "cfg_scale"),
        (dict(topk=-1), "topk"),
        (dict(prompt=torch.zeros((1, 0), dtype=torch.long)), "prompt is empty"),
        (dict(prompt=torch.tensor([5, 17])), r"\[batch, length\]"),
        (dict(prompt=torch.tensor([[0.5, 1.5]])), r"\[batch, length\]"),
        (dict(attention_mask=torch.ones(1, 3)), "attention_mask"),
        (dict(prompt=torch.tensor([[5, 6], [7, 8]]), recorder=print), "batch of 2"),
    ],
)
def test_bad_arguments_raise_one_line_value_errors(model, prompt, kwargs, message):
    arguments = {**dict(prompt=prompt, steps=8, gen_length=8, block_length=8, mask_id=MASK_ID), **kwargs}
    with pytest.raises(ValueError, match=message) as error:
        generate(model, **arguments)
    assert "\n" not in str(error.value)
