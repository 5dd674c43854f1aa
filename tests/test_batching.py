"""`window_shuffled_chunks`: the one batch-order rule of the training loop (base, MSMO, LFD-RT);
`size_chunks` and `eval_mode`: the one way inference batches by length and runs without dropout."""
from __future__ import annotations

import random

import pytest
import torch

from xsent_core.methods.base import window_shuffled_chunks
from xsent_core.nn import eval_mode, size_chunks


def test_unshuffled_batches_keep_the_order():
    assert window_shuffled_chunks(7, 3, False, random.Random(0), lambda i: -i) == [[0, 1, 2], [3, 4, 5], [6]]


def test_shuffled_batches_cover_every_index_once_and_are_length_sorted_within_a_window():
    lengths = [random.Random(i).randint(1, 60) for i in range(500)]
    chunks = window_shuffled_chunks(500, 4, True, random.Random(3), lambda i: lengths[i])
    flat = [i for c in chunks for i in c]
    assert sorted(flat) == list(range(500))
    assert all(len(c) == 4 for c in chunks)
    # 500 < one window of 50 batches: every batch holds neighbours in length order
    assert all(lengths[c[0]] <= lengths[c[-1]] for c in chunks)
    assert chunks != sorted(chunks, key=lambda c: lengths[c[0]])  # the batches themselves are shuffled
    assert chunks == window_shuffled_chunks(500, 4, True, random.Random(3), lambda i: lengths[i])  # seeded


def test_windows_bound_the_sorting():
    """Sorting happens inside windows of 50 batches of the shuffled order, never across them."""
    chunks = window_shuffled_chunks(400, 2, True, random.Random(1), lambda i: i)
    order = list(range(400))
    random.Random(1).shuffle(order)  # the function's first draw
    windows = [set(order[w : w + 100]) for w in range(0, 400, 100)]
    assert all(any(set(c) <= w for w in windows) for c in chunks)
    # inside a window the batches are neighbours by length: each window's pairs tile its sorted members
    for w in windows:
        members = sorted(w)
        pairs = sorted(tuple(c) for c in chunks if set(c) <= w)
        assert pairs == [tuple(members[k : k + 2]) for k in range(0, 100, 2)]


def test_size_chunks_by_hand():
    sizes = [5, 1, 3, 1, 9]
    assert size_chunks(sizes, 2) == [[1, 3], [2, 0], [4]]  # ties keep input order
    assert size_chunks(sizes, 2, largest_first=True) == [[4, 0], [2, 1], [3]]
    assert size_chunks([], 4) == [] and size_chunks([2, 1], 0) == [[1], [0]]


def test_eval_mode_restores_the_mode_it_found_even_after_an_error():
    layer = torch.nn.Dropout(0.5)
    layer.train()
    with eval_mode(layer):
        assert not layer.training
    assert layer.training
    with pytest.raises(RuntimeError), eval_mode(layer):
        raise RuntimeError("boom")
    assert layer.training
    layer.eval()
    with eval_mode(layer):
        pass
    assert not layer.training
