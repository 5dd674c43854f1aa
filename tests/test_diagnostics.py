"""gradient_shares by hand: x = (1, 2), a = sum(x^2) (gradient 2x), b = sum(x) weighted 0.5 (gradient 0.5)."""
from __future__ import annotations

import math

import pytest
import torch

from xsent_core.diagnostics import gradient_shares


def test_gradient_shares_by_hand():
    x = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    frozen = torch.nn.Parameter(torch.tensor([5.0]), requires_grad=False)
    terms = {"a": (x ** 2).sum(), "b": x.sum(), "c": torch.tensor(4.0)}  # c: no graph, no gradient
    out = gradient_shares(terms, {"a": 1.0, "b": 0.5, "c": 2.0}, [x, frozen])
    na, nb = math.sqrt(4 + 16), math.sqrt(0.25 + 0.25)
    assert out["a"] == pytest.approx({"value": 5.0, "weighted": 5.0, "grad_norm": na, "share": na / (na + nb)})
    assert out["b"] == pytest.approx({"value": 3.0, "weighted": 1.5, "grad_norm": nb, "share": nb / (na + nb)})
    assert out["c"] == pytest.approx({"value": 4.0, "weighted": 8.0, "grad_norm": 0.0, "share": 0.0})
    assert x.grad is None  # nothing accumulated
