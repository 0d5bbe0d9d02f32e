"""The KV cache (core/kv_cache.py) keeps its tensors: a span forward writes into them in place.

That is what lets one CUDA graph of a cached forward serve every step (core/fast.py); the values
a cached forward computes are tested against a float64 restatement in tests/test_model.py.
"""

from __future__ import annotations

import torch
from sampler_models import peaked_model

from llada_tui.core.kv_cache import KVCache


def test_a_span_forward_writes_its_keys_into_the_kept_tensors():
    model = peaked_model(seed=4)
    ids = torch.randint(0, 60, (1, 12), generator=torch.Generator().manual_seed(1))
    cache = KVCache(model.config.n_layers)
    with torch.no_grad():
        model(ids, cache=cache)
        kept = [(layer.keys, layer.values, layer.keys.clone()) for layer in cache.layers]
        changed = ids.clone()
        changed[:, 4:8] = (ids[:, 4:8] + 1) % 60
        model(changed[:, 4:8], cache=cache.at(4))
        fresh = KVCache(model.config.n_layers)
        model(changed, cache=fresh)
    for layer, (keys, values, before) in zip(cache.layers, kept):
        assert layer.keys is keys and layer.values is values  # the same tensors, written in place
        assert torch.equal(keys[:, :, :4], before[:, :, :4]) and torch.equal(keys[:, :, 8:], before[:, :, 8:])
        assert not torch.equal(keys[:, :, 4:8], before[:, :, 4:8])
    # The first layer's keys of the span depend only on the span's tokens: the fresh sequence's.
    torch.testing.assert_close(cache.layers[0].keys[:, :, 4:8], fresh.layers[0].keys[:, :, 4:8])


def test_share_lends_the_same_tensors():
    model = peaked_model(seed=4)
    filled, borrower = KVCache(model.config.n_layers), KVCache(model.config.n_layers)
    with torch.no_grad():
        model(torch.randint(0, 60, (1, 6)), cache=filled)
    borrower.share(filled)
    assert all(a.keys is b.keys and a.values is b.values for a, b in zip(borrower.layers, filled.layers))
    assert borrower.length == 6 and borrower.at(2).start == 2
