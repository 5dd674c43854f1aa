"""CTAM/VXLM losses, attention, gate and gradient reversal against hand-worked values."""
from __future__ import annotations

import math

import pytest
import torch

from xsent_core.methods.ctam import losses
from xsent_core.nn import GatedFusion, gated_fusion, reverse_gradient


def test_bilinear_scores_by_hand():
    # student h_0 = [1,0]; teachers h'_0 = [1,0], h'_1 = [0,1]; W = diag(2,3); b = .5
    # f[0,0] = tanh(h_0^T W h'_0 + b) = tanh(2 + .5); f[1,0] = tanh(0 + .5)
    s = torch.tensor([[[1.0, 0.0]]])
    t = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    f = losses.bilinear_scores(s, t, torch.diag(torch.tensor([2.0, 3.0])), torch.tensor(0.5))
    assert f.shape == (1, 2, 1)
    assert f[0, 0, 0].item() == pytest.approx(math.tanh(2.5))
    assert f[0, 1, 0].item() == pytest.approx(math.tanh(0.5))
    # asymmetric W: h_j^T W h'_i, not h'_i^T W h_j
    w = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    f = losses.bilinear_scores(s, t, w, torch.tensor(0.0))
    assert f[0, 1, 0].item() == pytest.approx(math.tanh(1.0))  # [1,0] W [0,1] = W[0,1] = 1
    assert f[0, 0, 0].item() == pytest.approx(0.0)


def test_dual_attention_and_reconstruction_uniform_case():
    # student h = [1,0],[0,1]; teacher h' = [1,1]; W = I, b = 0
    # f(h_j, h'_0) = tanh(1) for both j -> w = [.5,.5], S_0 = [.5,.5]; X = [1] (one teacher word)
    # L_R = 1 * mean([(.5-1)^2, (.5-1)^2]) = .25
    s = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    t = torch.tensor([[[1.0, 1.0]]])
    att = losses.dual_attention(s, torch.ones(1, 2), t, torch.ones(1, 1), torch.eye(2), torch.tensor(0.0))
    torch.testing.assert_close(att.teacher_to_student, torch.tensor([[[0.5, 0.5]]]))
    torch.testing.assert_close(att.context, torch.tensor([[[0.5, 0.5]]]))
    torch.testing.assert_close(att.pooled_student_to_teacher, torch.tensor([[1.0]]))
    torch.testing.assert_close(att.student_to_teacher, torch.tensor([[[1.0], [1.0]]]))
    l_r = losses.reconstruction_loss(att.context, t, att.pooled_student_to_teacher, torch.ones(1, 1))
    assert l_r.item() == pytest.approx(0.25)
    # masking the second student word: w = [1, 0], S_0 = [1, 0], L_R = mean([0, 1]) = .5
    att = losses.dual_attention(s, torch.tensor([[1, 0]]), t, torch.ones(1, 1), torch.eye(2), torch.tensor(0.0))
    torch.testing.assert_close(att.teacher_to_student, torch.tensor([[[1.0, 0.0]]]))
    l_r = losses.reconstruction_loss(att.context, t, att.pooled_student_to_teacher, torch.ones(1, 1))
    assert l_r.item() == pytest.approx(0.5)


def test_dual_attention_non_uniform_case():
    # student h = [1,0],[0,0]; teacher h' = [1,0]; W = I, b = 0
    # f = [tanh(1), tanh(0)] = [.761594, 0]; w = [e^.761594, 1] / (e^.761594 + 1) = [.681700, .318300]
    # S_0 = .681700 * [1,0] = [.681700, 0]; L_R = mean([(.681700 - 1)^2, 0]) = .101315 / 2 = .050657
    s = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    t = torch.tensor([[[1.0, 0.0]]])
    att = losses.dual_attention(s, torch.ones(1, 2), t, torch.ones(1, 1), torch.eye(2), torch.tensor(0.0))
    e = math.exp(math.tanh(1.0))
    assert att.teacher_to_student[0, 0, 0].item() == pytest.approx(e / (e + 1))
    assert att.teacher_to_student[0, 0, 0].item() == pytest.approx(0.681700, abs=1e-6)
    l_r = losses.reconstruction_loss(att.context, t, att.pooled_student_to_teacher, torch.ones(1, 1))
    assert l_r.item() == pytest.approx(0.050657, abs=1e-6)


def test_pooled_student_to_teacher_by_hand():
    # student mean h~ = [1,0]; teachers [1,0], [0,0] -> g = [tanh(1), 0] -> X = [.681700, .318300]
    # masking teacher 1 -> X = [1, 0]
    s = torch.tensor([[[1.0, 0.0]]])
    t = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    att = losses.dual_attention(s, torch.ones(1, 1), t, torch.ones(1, 2), torch.eye(2), torch.tensor(0.0))
    torch.testing.assert_close(att.pooled_student_to_teacher, torch.tensor([[0.681700, 0.318300]]), atol=1e-6, rtol=0)
    att = losses.dual_attention(s, torch.ones(1, 1), t, torch.tensor([[1, 0]]), torch.eye(2), torch.tensor(0.0))
    torch.testing.assert_close(att.pooled_student_to_teacher, torch.tensor([[1.0, 0.0]]))
    assert att.teacher_to_student[0, 1].sum().item() == 0.0  # masked teacher row


def test_domain_classification_and_total_loss_by_hand():
    # BCE: -(log sigmoid(0) + log(1 - sigmoid(ln 3))) / 2 = (ln 2 + ln 4) / 2 = 1.039721
    l_s = losses.domain_loss(torch.tensor([0.0, math.log(3.0)]), torch.tensor([1, 0]))
    assert l_s.item() == pytest.approx((math.log(2) + math.log(4)) / 2)
    # uniform logits over 3 classes: CE = ln 3
    assert losses.classification_loss(torch.zeros(1, 3), torch.tensor([1])).item() == pytest.approx(math.log(3))
    # 1.0 * 2 + 0.4 * 1 + 0.1 * 3 = 2.7
    total = losses.total_loss(torch.tensor(2.0), torch.tensor(1.0), torch.tensor(3.0))
    assert total.item() == pytest.approx(2.7)
    assert losses.total_loss(torch.tensor(2.0), torch.tensor(1.0), torch.tensor(3.0), (0.5, 0, 1)).item() == pytest.approx(4.0)


def test_gate_by_hand():
    # z = .5 * 2 - .25 * 4 + 0 = 0 -> g = .5 -> fused = .5 * 2 + .5 * 4 = 3
    w = torch.tensor([[0.5, -0.25]])
    fused, g = gated_fusion(torch.tensor([2.0]), torch.tensor([4.0]), w, torch.tensor([0.0]))
    assert g.item() == pytest.approx(0.5) and fused.item() == pytest.approx(3.0)
    # bias ln 3 -> g = .75 -> fused = 1.5 + 1 = 2.5
    fused, g = gated_fusion(torch.tensor([2.0]), torch.tensor([4.0]), w, torch.tensor([math.log(3.0)]))
    assert g.item() == pytest.approx(0.75) and fused.item() == pytest.approx(2.5)
    # per dimension, on [B, W, H]
    layer = GatedFusion(3, bias_init=2.0)
    fused, g = layer(torch.randn(2, 4, 3), torch.randn(2, 4, 3))
    assert fused.shape == g.shape == (2, 4, 3)
    assert ((g > 0) & (g < 1)).all()


@pytest.mark.parametrize("lambd", [1.0, 0.3])
def test_gradient_reversal_flips_sign_with_lambda(lambd):
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = reverse_gradient(x, lambd)
    torch.testing.assert_close(y, x.detach())  # identity forward
    (2.0 * y).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([-2.0 * lambd, -2.0 * lambd]))
