"""One cache of frozen lower-layer states for every method (LFD-RT, MSMO and their benchmarks)."""
from __future__ import annotations

import pytest

from xsent_core.methods.common import FrozenStateCache


def test_fill_computes_each_missing_key_once_in_first_seen_order():
    cache, calls = FrozenStateCache(), []

    def compute(missing):
        calls.append(list(missing))
        return [f"state:{k}" for k in missing]

    assert cache.fill(["b", "a", "b"], compute) == ["state:b", "state:a", "state:b"]
    assert cache.fill(["a", "c"], compute) == ["state:a", "state:c"]
    assert cache.fill(["c", "b"], compute) == ["state:c", "state:b"]
    assert calls == [["b", "a"], ["c"]] and len(cache) == 3


def test_fill_refuses_a_short_answer_and_keeps_nothing_from_it():
    cache = FrozenStateCache()
    with pytest.raises(ValueError, match="1 frozen states for 2 inputs"):
        cache.fill(["a", "b"], lambda missing: ["only one"])
    assert len(cache) == 0


def test_msmo_models_on_different_frozen_layers_do_not_share_states():
    """The key holds the first live layer: a teacher with other frozen layers gets its own states."""
    import copy

    from xsent_core.encoders.registry import load_text_encoder
    from xsent_core.methods.msmo import MsmoConfig, MsmoMethod
    from xsent_core.types import Example

    encoder = load_text_encoder("builtin")
    low = MsmoMethod(MsmoConfig(train_from_layer=10), copy.deepcopy(encoder))
    high = MsmoMethod(MsmoConfig(train_from_layer=11), copy.deepcopy(encoder))
    cache = FrozenStateCache()
    rows = [Example("a", "The fish was fresh", "en"), Example("b", "", "en"), Example("c", "The fish was fresh", "en")]
    first = low.encode_sentences(rows, labelled=False, cache=cache)
    assert first[1] is None and first[0].lower is first[2].lower and len(cache) == 1
    again = low.encode_sentences(rows[:1], labelled=False, cache=cache)
    assert again[0].lower is first[0].lower  # reused, not recomputed
    other = high.encode_sentences(rows[:1], labelled=False, cache=cache)
    assert len(cache) == 2 and not other[0].lower.equal(first[0].lower)
