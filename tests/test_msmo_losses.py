"""MSMO losses against values worked out by hand on tiny tensors."""
from __future__ import annotations

import math

import pytest
import torch

from xsent_core.methods.msmo import losses


def test_wasserstein_critic_and_encoder_losses():
    q_src = torch.tensor([1.0, 3.0])  # mean 2
    q_tgt = torch.tensor([0.5])  # mean 0.5
    # E[Q(src)] - E[Q(tgt)] = 2 - 0.5 = 1.5
    assert losses.wasserstein_estimate(q_src, q_tgt).item() == pytest.approx(1.5)
    # the critic maximises it: loss -1.5
    assert losses.critic_loss(q_src, q_tgt).item() == pytest.approx(-1.5)
    # the encoder minimises weight * 1.5 = 0.15
    assert losses.encoder_adversarial_loss(q_src, q_tgt, 0.1).item() == pytest.approx(0.15)


def test_encoder_loss_equals_gradient_reversal():
    from xsent_core.nn import reverse_gradient

    f = torch.tensor([[1.0, 2.0], [3.0, -1.0]], requires_grad=True)
    w = torch.tensor([0.5, -0.25])
    q = f @ w  # a linear critic, held fixed
    losses.encoder_adversarial_loss(q[:1], q[1:], 0.7).backward()
    direct = f.grad.clone()
    f.grad = None
    q = reverse_gradient(f, 0.7) @ w
    losses.critic_loss(q[:1], q[1:]).backward()
    # d/df of 0.7 * (q0 - q1) is +0.7 w on row 0 and -0.7 w on row 1
    assert torch.allclose(direct, torch.tensor([[0.35, -0.175], [-0.35, 0.175]]))
    assert torch.allclose(f.grad, direct)


def test_clipping():
    w = torch.tensor([-0.5, 0.003, 0.2, -0.01])
    assert losses.clipped(w, 0.01).tolist() == pytest.approx([-0.01, 0.003, 0.01, -0.01])
    with pytest.raises(ValueError):
        losses.clipped(w, 0.0)


def _probs(rows: list[dict[str, float]]) -> torch.Tensor:
    """[1, W, 13] probabilities; unnamed columns share the rest equally."""
    from xsent_core.data.bies import TAG2ID

    out = torch.zeros(1, len(rows), 13)
    for i, row in enumerate(rows):
        rest = (1.0 - sum(row.values())) / (13 - len(row))
        out[0, i, :] = rest
        for tag, p in row.items():
            out[0, i, TAG2ID[tag]] = p
    return out


def test_span_probability_is_normalised_product():
    probs = _probs(
        [
            {"B-POS": 0.5, "B-NEU": 0.1, "B-NEG": 0.2, "S-POS": 0.1},
            {"E-POS": 0.4, "E-NEU": 0.2, "E-NEG": 0.1},
        ]
    )
    logp = probs.log()
    one = torch.tensor([0])
    # two-word span: POS 0.5*0.4 = 0.2, NEU 0.1*0.2 = 0.02, NEG 0.2*0.1 = 0.02
    scores = losses.span_log_scores(logp, one, torch.tensor([0]), torch.tensor([2]))
    assert scores.exp()[0].tolist() == pytest.approx([0.2, 0.02, 0.02], rel=1e-5)
    # normalised: 0.2/0.24, 0.02/0.24, 0.02/0.24
    dist = losses.span_log_distribution(scores).exp()[0]
    assert dist.tolist() == pytest.approx([0.833333, 0.083333, 0.083333], rel=1e-4)
    # one-word span at word 0 uses S: POS 0.1, NEU/NEG (1-0.9)/9 each
    single = losses.span_log_scores(logp, one, torch.tensor([0]), torch.tensor([1])).exp()[0]
    rest = 0.1 / 9
    assert single.tolist() == pytest.approx([0.1, rest, rest], rel=1e-5)


def test_three_word_span_uses_inside_tags():
    probs = _probs([{"B-NEG": 0.5}, {"I-NEG": 0.5}, {"E-NEG": 0.8}])
    scores = losses.span_log_scores(probs.log(), torch.tensor([0]), torch.tensor([0]), torch.tensor([3])).exp()[0]
    # NEG: 0.5 * 0.5 * 0.8 = 0.2
    assert scores[2].item() == pytest.approx(0.2, rel=1e-5)
    # POS: B-POS (0.5/12) * I-POS (0.5/12) * E-POS (0.2/12)
    assert scores[0].item() == pytest.approx((0.5 / 12) * (0.5 / 12) * (0.2 / 12), rel=1e-4)


def test_long_spans_do_not_underflow():
    probs = torch.full((1, 200, 13), 1e-3)
    probs[..., 0] = 1 - 12e-3
    scores = losses.span_log_scores(probs.log(), torch.tensor([0]), torch.tensor([0]), torch.tensor([200]))
    assert torch.isfinite(scores).all()  # the product is 1e-600, its log is fine
    dist = losses.span_log_distribution(scores).exp()
    assert dist.sum().item() == pytest.approx(1.0, abs=1e-4)  # float32 logs near -1400


def test_symmetric_kl_by_hand():
    p = torch.tensor([[0.5, 0.5]])
    q = torch.tensor([[0.25, 0.75]])
    # KL(p||q) = 0.5 ln 2 + 0.5 ln(2/3) = 0.143841; KL(q||p) = 0.25 ln 0.5 + 0.75 ln 1.5 = 0.130812
    expected = 0.5 * (0.5 * math.log(2) + 0.5 * math.log(2 / 3) + 0.25 * math.log(0.5) + 0.75 * math.log(1.5))
    assert losses.symmetric_kl(p.log(), q.log()).item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.137327, rel=1e-5)
    assert losses.symmetric_kl(q.log(), p.log()).item() == pytest.approx(expected, rel=1e-6)
    assert losses.symmetric_kl(p.log(), p.log()).item() == pytest.approx(0.0, abs=1e-7)


def test_consistency_loss_weights_and_empty():
    # row 0 word 0: S-POS likely; row 1 word 0: S-NEG likely
    a = _probs([{"S-POS": 0.6, "S-NEU": 0.2, "S-NEG": 0.1}])
    b = _probs([{"S-POS": 0.1, "S-NEU": 0.2, "S-NEG": 0.6}])
    logp = torch.cat([a, b]).log()
    pairs = torch.tensor([[0, 0, 1, 1, 0, 1]])
    weighted, plain = losses.consistency_loss(logp, pairs, torch.tensor([0.5]))
    p = torch.tensor([0.6, 0.2, 0.1]) / 0.9
    q = torch.tensor([0.1, 0.2, 0.6]) / 0.9
    skl = 0.5 * ((p * (p / q).log()).sum() + (q * (q / p).log()).sum())
    assert plain.item() == pytest.approx(skl.item(), rel=1e-5)
    assert weighted.item() == pytest.approx(0.5 * skl.item(), rel=1e-5)
    logits = torch.zeros(2, 1, 13, requires_grad=True)
    zero, _ = losses.consistency_loss(logits.log_softmax(-1), torch.zeros((0, 6), dtype=torch.long))
    zero.backward()
    assert zero.item() == 0.0


def test_distillation_mse_by_hand():
    logits = torch.zeros(2, 2, 2)  # softmax [0.5, 0.5] everywhere
    targets = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.5, 0.5], [0.0, 0.0]]])
    mask = torch.tensor([[1, 0], [1, 0]])
    # sentence 0: word 0 ((0.5)^2 + (0.5)^2) / 2 = 0.25 (word 1 masked); sentence 1: 0
    # mean over sentences = 0.125
    assert losses.distillation_mse(logits, targets, mask).item() == pytest.approx(0.125)
    # a sentence without words does not count
    mask = torch.tensor([[1, 0], [0, 0]])
    assert losses.distillation_mse(logits, targets, mask).item() == pytest.approx(0.25)


def test_average_teachers():
    p1, p2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    # weights 3 and 1 normalise to 0.75 / 0.25
    assert losses.average_teachers([p1, p2], [3, 1]).tolist() == pytest.approx([0.75, 0.25])
    assert losses.average_teachers([p1, p2]).tolist() == pytest.approx([0.5, 0.5])
    with pytest.raises(ValueError):
        losses.average_teachers([p1, p2], [1.0])
    with pytest.raises(ValueError):
        losses.average_teachers([p1], [-1.0])


def test_cross_entropy_ignores_unlabelled():
    logits = torch.zeros(1, 2, 13, requires_grad=True)
    assert losses.tagging_cross_entropy(logits, torch.full((1, 2), -100)).item() == 0.0
    # uniform logits over 13 tags: CE = ln 13
    ce = losses.tagging_cross_entropy(logits, torch.tensor([[0, -100]]))
    assert ce.item() == pytest.approx(math.log(13))


# -- critic schedule and penalty, distillation KL (issue 13) --------------------------
def test_dann_ramp_values():
    # 2 / (1 + e^{-10 p}) - 1: 0 at the start, tanh(5 p) in closed form
    assert losses.dann_ramp(0.0) == 0.0
    assert losses.dann_ramp(0.5) == pytest.approx(math.tanh(2.5))
    assert losses.dann_ramp(1.0) == pytest.approx(math.tanh(5.0))
    assert losses.dann_ramp(2.0) == losses.dann_ramp(1.0)  # progress is clamped
    assert losses.dann_ramp(-1.0) == 0.0


def test_gradient_penalty_of_a_linear_critic():
    # Q(x) = w . x has gradient w everywhere: penalty (|w| - 1)^2, whatever alpha
    w = torch.tensor([3.0, 4.0], requires_grad=True)  # |w| = 5
    critic = lambda x: x @ w  # noqa: E731
    src, tgt = torch.randn(3, 2), torch.randn(2, 2)
    gp = losses.gradient_penalty(critic, src, tgt, torch.rand(3, 1))
    assert gp.item() == pytest.approx(16.0)
    gp.backward()  # d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w| = 8 * (0.6, 0.8)
    assert torch.allclose(w.grad, torch.tensor([4.8, 6.4]))


def test_distillation_kl_by_hand():
    targets = torch.tensor([[[0.5, 0.5, 0.0]]])
    logits = torch.tensor([[[0.0, math.log(3.0), 0.0]]])  # softmax (0.2, 0.6, 0.2)
    mask = torch.ones(1, 1)
    # T = 1: KL = 0.5 ln(0.5/0.2) + 0.5 ln(0.5/0.6)
    expected = 0.5 * math.log(2.5) + 0.5 * math.log(5 / 6)
    assert losses.distillation_kl(logits, targets, mask, 1.0).item() == pytest.approx(expected, abs=1e-6)
    # T = 2: the teacher (0.5, 0.5, 0) stays itself (p^(1/2) renormalised), the student becomes
    # softmax(z / 2) = (1, sqrt 3, 1) / (2 + sqrt 3); times T^2 = 4
    s = [1 / (2 + math.sqrt(3)), math.sqrt(3) / (2 + math.sqrt(3))]
    expected2 = 4 * (0.5 * math.log(0.5 / s[0]) + 0.5 * math.log(0.5 / s[1]))
    assert losses.distillation_kl(logits, targets, mask, 2.0).item() == pytest.approx(expected2, abs=1e-6)
    # a student equal to the teacher costs nothing; padding words are ignored
    same = torch.tensor([[[0.0, 0.0, -30.0], [5.0, 0.0, 0.0]]])
    pad_mask = torch.tensor([[1.0, 0.0]])
    both = torch.cat([targets, torch.tensor([[[0.0, 1.0, 0.0]]])], dim=1)
    assert losses.distillation_kl(same, both, pad_mask, 1.0).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError):
        losses.distillation_kl(logits, targets, mask, 0.0)


def test_hinged_encoder_term_stops_at_a_negative_estimate():
    q_src, q_tgt = torch.tensor([0.2], requires_grad=True), torch.tensor([1.0], requires_grad=True)
    # estimate 0.2 - 1.0 = -0.8: the plain term keeps pushing, the hinged one is 0 with no gradient
    assert losses.encoder_adversarial_loss(q_src, q_tgt, 1.0).item() == pytest.approx(-0.8)
    hinged = losses.encoder_adversarial_loss(q_src, q_tgt, 1.0, hinge=True)
    hinged.backward()
    assert hinged.item() == 0.0 and q_src.grad.item() == 0.0
    ahead = losses.encoder_adversarial_loss(torch.tensor([1.5]), torch.tensor([0.5]), 0.5, hinge=True)
    assert ahead.item() == pytest.approx(0.5)  # 0.5 * (1.5 - 0.5)
