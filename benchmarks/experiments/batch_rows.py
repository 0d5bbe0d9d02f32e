"""Experiment (issue 17): on CUDA, through the fast path's graphs, does a row of a batch make the
choices of its single run? And does a torch.Generator seeded with s draw what torch.manual_seed(s)
then the global generator draws?

A small random model (cuda_check.py's), 3 prompts of 20 tokens, gen 64, block 16, 32 steps; the
reference sampler and Fast-dLLM's prefix and dual caches, at temperature 0 and 0.8, in float32
and bf16. Run on the device (session 6, H200):
    python benchmarks/experiments/batch_rows.py
Output: benchmarks/results/h200_s6_batch_rows.log (True everywhere: equal token for token).
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cuda_check import small_model  # noqa: E402

from llada_tui.core.cached import generate_cached  # noqa: E402
from llada_tui.core.fast import FastLLaDA  # noqa: E402
from llada_tui.core.sampler import generate  # noqa: E402

SHAPE = dict(gen_length=64, block_length=16, mask_id=1000)


def run(fast, prompt, cache, temperature, generators):
    if cache == "none":
        return generate(
            fast, prompt, steps=32, temperature=temperature, generators=generators, eos_id=1001, eot_id=1002, **SHAPE
        )
    return generate_cached(fast, prompt, 32, temperature=temperature, cache=cache, generators=generators, **SHAPE)[0]


for dtype in (torch.float32, torch.bfloat16):
    fast = FastLLaDA(small_model(dtype))
    prompts = torch.randint(0, 900, (3, 20), device="cuda", generator=torch.Generator("cuda").manual_seed(1))
    for cache in ("none", "prefix", "dual"):
        for temperature in (0.0, 0.8):
            singles, seeded = [], []
            for row in range(3):
                one = [torch.Generator("cuda").manual_seed(row)]
                singles.append(run(fast, prompts[row : row + 1], cache, temperature, one).clone())
                torch.manual_seed(row)
                seeded.append(run(fast, prompts[row : row + 1], cache, temperature, None).clone())
            generators = [torch.Generator("cuda").manual_seed(row) for row in range(3)]
            batch = run(fast, prompts, cache, temperature, generators).clone()
            rows = [bool(torch.equal(batch[row], singles[row][0])) for row in range(3)]
            streams = [bool(torch.equal(seeded[row], singles[row])) for row in range(3)]
            print(dtype, cache, temperature, "batch==single", rows, "generator==global seed", streams, flush=True)
