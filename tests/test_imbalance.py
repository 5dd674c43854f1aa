"""Class weighting and logit adjustment, checked by hand."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from xsent_core.imbalance import balance_prior, balanced_class_weights, class_counts, log_prior, logit_adjusted_cross_entropy


def test_balanced_weights_by_hand():
    counts = class_counts([0, 2, 2, 2], 3)
    assert counts.tolist() == [1.0, 0.0, 3.0]
    # N / (present classes * n_c): 4 / (2 * 1) = 2, absent 0, 4 / (2 * 3) = 2/3
    assert balanced_class_weights(counts).tolist() == pytest.approx([2.0, 0.0, 2 / 3])


def test_log_prior_is_smoothed():
    assert log_prior(torch.tensor([1.0, 0.0, 3.0])).exp().tolist() == pytest.approx([2 / 7, 1 / 7, 4 / 7])


def test_logit_adjusted_loss_by_hand():
    logits = torch.tensor([[1.0, 0.0, 0.0]])
    label = torch.tensor([2])
    prior = torch.tensor([math.log(0.5), math.log(0.25), math.log(0.25)])
    # adjusted logits: [1 + ln .5, ln .25, ln .25]; loss = -log softmax[2]
    adjusted = [1 + math.log(0.5), math.log(0.25), math.log(0.25)]
    expected = -(adjusted[2] - math.log(sum(math.exp(a) for a in adjusted)))
    got = logit_adjusted_cross_entropy(logits, label, log_prior=prior, tau=1.0)
    assert float(got) == pytest.approx(expected)
    # a rare true class costs more under adjustment than plain cross-entropy
    assert float(got) > float(F.cross_entropy(logits, label))


def test_plain_and_weighted_cross_entropy_are_the_special_cases():
    logits = torch.randn(5, 3)
    labels = torch.tensor([0, 1, 2, 2, 2])
    assert torch.allclose(logit_adjusted_cross_entropy(logits, labels), F.cross_entropy(logits, labels))
    w = torch.tensor([2.0, 1.0, 0.5])
    assert torch.allclose(logit_adjusted_cross_entropy(logits, labels, weight=w), F.cross_entropy(logits, labels, weight=w))


def test_balance_prior_by_hand():
    p = torch.tensor([[0.9, 0.1], [0.5, 0.5]])
    # column means (0.7, 0.3); row 1: (0.9/0.7, 0.1/0.3) = (1.2857, 0.3333) -> (0.7941, 0.2059);
    # row 2: (0.7143, 1.6667) -> (0.3, 0.7): the rarer class now wins where it is relatively likely
    out = balance_prior(p)
    assert torch.allclose(out, torch.tensor([[0.7941, 0.2059], [0.3, 0.7]]), atol=1e-4)
    assert torch.allclose(out.sum(-1), torch.ones(2))
    # already balanced columns: unchanged
    q = torch.tensor([[0.8, 0.2], [0.2, 0.8]])
    assert torch.allclose(balance_prior(q), q)
    # a class the model never believes in (mean 0) does not divide by zero
    assert torch.isfinite(balance_prior(torch.tensor([[1.0, 0.0], [0.6, 0.0]])).sum(-1)).all()
    # a marginal estimated elsewhere (other rows of the same language): row 2 with (0.5, 0.5) / (0.8, 0.2)
    # = (0.625, 2.5) -> (0.2, 0.8)
    assert torch.allclose(balance_prior(p, torch.tensor([0.8, 0.2]))[1], torch.tensor([0.2, 0.8]))
    with pytest.raises(ValueError):
        balance_prior(torch.zeros(0, 3))
    with pytest.raises(ValueError):
        balance_prior(p, torch.tensor([0.5, 0.3, 0.2]))
