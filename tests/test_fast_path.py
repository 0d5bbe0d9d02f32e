"""The fast path (core/fast.py) and the sampler's asynchronous recording, on the CPU.

The GPU-only parts (CUDA graphs, the asynchronous copy, bfloat16 kernels) are checked on the
device by benchmarks/cuda_check.py; here the same code runs eagerly and must match the plain
model exactly in float32.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from tiny_checkpoint import write_tiny_checkpoint

from llada_tui.core import fast, sampler
from llada_tui.core.fast import FastLLaDA, accelerate
from llada_tui.core.loading import load_model
from llada_tui.core.records import Step
from llada_tui.core.sampler import StopSampling, generate

CASES = {
    "greedy": dict(steps=8, gen_length=16, block_length=8),
    "uneven": dict(steps=5, gen_length=12, block_length=12),
    "temperature": dict(steps=8, gen_length=16, block_length=8, temperature=0.8),
    "random": dict(steps=6, gen_length=12, block_length=6, remasking="random"),
    "cfg": dict(steps=8, gen_length=16, block_length=8, cfg_scale=1.5, temperature=0.5),
    "eos-eot": dict(steps=8, gen_length=16, block_length=16, confidence_eos_eot_inf=True, logits_eos_inf=True),
}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("fast"), n_layers=2, d_model=64, n_heads=4, seed=3)


@pytest.fixture(scope="module")
def models(checkpoint):
    """The same checkpoint loaded twice: plain, and wrapped (fused in place)."""
    return load_model(checkpoint), accelerate(load_model(checkpoint))


@pytest.fixture(scope="module")
def prompt(checkpoint):
    return torch.tensor([[3, 41, 17, 250, 8, 99, 120]])


def special(model) -> dict[str, int]:
    config = model.config
    return dict(mask_id=config.mask_token_id, eos_id=config.eos_token_id, eot_id=config.mask_token_id - 1)


def sample(model, prompt, case, **extra) -> tuple[torch.Tensor, list[Step]]:
    steps: list[Step] = []
    torch.manual_seed(7)
    out = generate(model, prompt, **case, **special(model), recorder=steps.append, topk=3, **extra)
    return out, steps


def same_steps(a: list[Step], b: list[Step]) -> bool:
    def content(step: Step):
        c = step.candidates
        return (
            step.index,
            step.block,
            list(step.positions),
            list(step.ids),
            list(step.confidences),
            (list(c.positions), list(c.ids), list(c.probs)) if c else None,
        )

    return [content(s) for s in a] == [content(s) for s in b]


# ---------------------------------------------------------------------------- fusion


def test_fusion_keeps_one_copy_of_the_weights(checkpoint):
    model = load_model(checkpoint)
    before = {name: t.clone() for name, t in model.state_dict().items()}
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    logits = model(ids)
    wrapped = FastLLaDA(model)
    block, layer = model.transformer.blocks[1], wrapped.layers[1]
    for linear in (block.q_proj, block.k_proj, block.v_proj):
        assert linear.weight.untyped_storage().data_ptr() == layer.qkv.untyped_storage().data_ptr()
    for linear in (block.ff_proj, block.up_proj):
        assert linear.weight.untyped_storage().data_ptr() == layer.gate_up.untyped_storage().data_ptr()
    assert layer.qkv.shape == (3 * 64, 64) and layer.gate_up.shape == (2 * 128, 64)
    after = model.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[name], before[name]) for name in before)
    assert torch.equal(model(ids), logits)  # the wrapped model still works on its own


@pytest.mark.parametrize(
    "shape",
    [
        dict(),
        dict(n_kv_heads=2),
        dict(weight_tying=True),
        dict(n_heads=2, d_model=48, mlp_hidden_size=80),
    ],
    ids=["plain", "gqa", "tied", "odd-sizes"],
)
def test_logits_match_the_plain_model(tmp_path, shape):
    path = write_tiny_checkpoint(tmp_path, n_layers=3, seed=5, **{"d_model": 64, "n_heads": 4, **shape})
    plain, wrapped = load_model(path), accelerate(load_model(path))
    ids = torch.randint(0, 380, (2, 23))
    for start in (0, 9):
        expected = plain(ids, logits_start=start)
        got = wrapped(ids, logits_start=start)
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_rotary_without_full_precision_matches(tmp_path):
    path = write_tiny_checkpoint(tmp_path, seed=2)
    plain = load_model(path, dtype=torch.bfloat16)
    plain.config.rope_full_precision = False
    for block in plain.transformer.blocks:
        block.rope_full_precision = False
    ids = torch.randint(0, 380, (1, 19))
    expected = plain(ids)
    assert torch.equal(accelerate(plain)(ids), expected)


def test_bfloat16_logits_match_on_cpu(checkpoint):
    plain = load_model(checkpoint, dtype=torch.bfloat16)
    ids = torch.randint(0, 380, (1, 30))
    expected = plain(ids, logits_start=10)
    assert torch.equal(accelerate(load_model(checkpoint, dtype=torch.bfloat16))(ids, logits_start=10), expected)


def test_failed_compile_falls_back_to_eager(checkpoint, monkeypatch):
    def broken_compile(fn, **options):
        def compiled(*args, **kwargs):
            raise RuntimeError("no compiler here\nsecond line")

        return compiled

    monkeypatch.setattr(fast.torch, "compile", broken_compile)
    plain = load_model(checkpoint)
    ids = torch.randint(0, 380, (1, 12))
    wrapped = FastLLaDA(load_model(checkpoint), compile=True)
    with pytest.warns(UserWarning, match="torch.compile failed, running eagerly: no compiler here$"):
        got = wrapped(ids)
    torch.testing.assert_close(got, plain(ids), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("name", CASES)
def test_fast_model_samples_and_records_the_same(models, prompt, name):
    plain, wrapped = models
    case = CASES[name]
    out, steps = sample(plain, prompt, case)
    fast_out, fast_steps = sample(wrapped, prompt, case)
    assert torch.equal(fast_out, out)
    assert same_steps(fast_steps, steps)
    assert len(steps) == case["steps"]


def test_prompt_with_masks_samples_the_same(models):
    plain, wrapped = models
    mask_id = plain.config.mask_token_id
    prompt = torch.tensor([[3, mask_id, 17, 250, mask_id, 99]])
    case = dict(steps=4, gen_length=8, block_length=4, temperature=0.5, **special(plain))
    torch.manual_seed(1)
    out = generate(plain, prompt, **case)
    torch.manual_seed(1)
    assert torch.equal(generate(wrapped, prompt, **case), out)
    assert not (out[0, [1, 4]] == mask_id).any()  # the prompt's masks were filled in


@pytest.fixture
def lagged(monkeypatch):
    """Records handed over one step late, as on a GPU."""
    monkeypatch.setattr(sampler, "record_lag", lambda device: 1)


@pytest.mark.parametrize("name", ["greedy", "uneven", "random"])
def test_lagged_recording_delivers_every_step_in_order(models, prompt, name, request):
    plain, _ = models
    expected_out, expected_steps = sample(plain, prompt, CASES[name])
    request.getfixturevalue("lagged")
    seen_when: list[int] = []  # how many forward passes had run when each step arrived
    forwards = 0

    def counting(ids, attention_mask=None):  # a Hub-style model that counts its calls
        nonlocal forwards
        forwards += 1
        return SimpleNamespace(logits=plain(ids))

    def recorder(step: Step) -> None:
        seen_when.append(forwards)
        steps.append(step)

    steps: list[Step] = []
    torch.manual_seed(7)
    out = generate(counting, prompt, **CASES[name], **special(plain), recorder=recorder, topk=3)
    assert torch.equal(out, expected_out)
    assert same_steps(steps, expected_steps)
    n = CASES[name]["steps"]
    assert seen_when == [i + 2 for i in range(n - 1)] + [n]  # step i after forward i + 1, the last at the end


def test_stop_sampling_with_lagged_recording(models, prompt, lagged):
    _, wrapped = models
    seen: list[int] = []

    def recorder(step: Step) -> None:
        seen.append(step.index)
        if step.index == 2:
            raise StopSampling

    with pytest.raises(StopSampling):
        generate(wrapped, prompt, **CASES["greedy"], **special(wrapped), recorder=recorder)
    assert seen == [0, 1, 2]
