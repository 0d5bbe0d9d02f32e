"""The fast path (core/fast.py) and the sampler's asynchronous recording, on the CPU.

The GPU-only parts (CUDA graphs, compiled blocks, the asynchronous copy) are checked on the
device by benchmarks/cuda_check.py; here the fast path runs eagerly, through its own entry
points, and must match the model exactly.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from tiny_checkpoint import write_tiny_checkpoint

from llada_tui.core import fast, step_capture
from llada_tui.core.cached import generate_cached
from llada_tui.core.fast import FastLLaDA
from llada_tui.core.kv_cache import KVCache
from llada_tui.core.loading import load_model
from llada_tui.core.predictor import HubModel
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
    """The model, and its fast path."""
    model = load_model(checkpoint)
    return model, FastLLaDA(model)


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


# ---------------------------------------------------------------------------- the forward


@pytest.mark.parametrize("start", [0, 9])
def test_predict_gives_the_models_logits(models, start):
    plain, wrapped = models
    ids = torch.randint(0, 380, (2, 23))
    got = wrapped.predict(ids, start)
    assert got.shape == (2, 23 - start, plain.config.embedding_size)
    assert torch.equal(got, plain(ids, logits_start=start))


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
        got = wrapped.predict(ids, 0)
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
    monkeypatch.setattr(step_capture, "record_lag", lambda device: 1)


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
    out = generate(HubModel(counting), prompt, **CASES[name], **special(plain), recorder=recorder, topk=3)
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


# ---------------------------------------------------------------------------- the cached samplers


def test_predict_cached_gives_the_models_logits(models):
    """Filling, then a span, through the fast path's entry point and through the model."""
    plain, wrapped = models
    ids = torch.randint(0, 380, (1, 23))
    span = torch.randint(0, 380, (1, 5))
    got_cache, expected_cache = KVCache(plain.config.n_layers), KVCache(plain.config.n_layers)
    assert torch.equal(wrapped.predict_cached(ids, 7, got_cache), plain.predict_cached(ids, 7, expected_cache))
    got = wrapped.predict_cached(span, 0, got_cache.at(9))
    assert torch.equal(got, plain.predict_cached(span, 0, expected_cache.at(9)))


@pytest.mark.parametrize("cache", ["prefix", "dual"])
@pytest.mark.parametrize("threshold", [None, 0.2])
def test_cached_samplers_sample_and_record_the_same(models, prompt, cache, threshold):
    plain, wrapped = models
    results = []
    for model in (plain, wrapped):
        steps: list[Step] = []
        torch.manual_seed(7)
        out, forwards = generate_cached(
            model, prompt, 16, 16, 4, threshold=threshold, cache=cache, mask_id=plain.config.mask_token_id,
            recorder=steps.append, topk=3,
        )  # fmt: skip
        results.append((out, forwards, steps))
    (out, forwards, steps), (fast_out, fast_forwards, fast_steps) = results
    assert torch.equal(fast_out, out) and fast_forwards == forwards == len(steps)
    assert same_steps(fast_steps, steps)
    assert [s.forward for s in fast_steps] == [s.forward for s in steps]


def test_the_blas_library_is_restored_and_a_missing_one_is_no_error():
    before = torch.backends.cuda.preferred_blas_library()
    with fast.blas_library("cublaslt"):  # this CPU build of torch has no cuBLASLt: torch's choice stays
        pass
    assert torch.backends.cuda.preferred_blas_library() == before
