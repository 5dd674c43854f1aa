"""CTAM's losses and dual-path attention as pure functions (seed 002, eqs. 4-13).

Shapes: student BiGRU states h [B, N, D] (Burmese words j), teacher BiGRU
states h' [B, M, D] (English words i), masks [B, N] / [B, M] with 1 for real
positions, W_n [D, D], b_n a scalar tensor.

Reading of the paper used here (its eq. 10 is ambiguous):
- f(h_j, h'_i) = tanh(h_j^T W_n h'_i + b_n)                         (eq. 4)
- teacher->student: w_ij = softmax_j f(h_j, h'_i); S_i = sum_j w_ij h_j  (eqs. 5-6)
  S_i is the student's reconstruction of teacher position i;
- student->teacher: X_i = softmax_i f(h~, h'_i), h~ = mean_j h_j    (eqs. 7-9)
  X_i says how much teacher position i matters to the student sentence;
- L_R = sum_i X_i * mean_d (S_i - h'_i)^2, averaged over the batch: the
  attention-weighted reconstruction MSE of the teacher states;
- L_S = binary cross-entropy of the domain discriminator (1 = English source);
- L_T = cross-entropy of the sentiment classifier;
- L = lambda_1 L_T + lambda_2 L_R + lambda_3 L_S (1.0 / 0.4 / 0.1 by default).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...nn import masked_mean

NEG_INF = -1e9


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L_T (eq. 12): mean cross-entropy over the batch."""
    return F.cross_entropy(logits, labels)


def bilinear_scores(
    student: torch.Tensor, teacher: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """f[b, i, j] = tanh(h_j^T W_n h'_i + b_n) -> [B, M, N] (rows: teacher, columns: student)."""
    return torch.tanh(torch.einsum("bjd,de,bie->bij", student, weight, teacher) + bias)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Softmax over `dim` ignoring positions where mask is 0 (mask broadcasts to scores)."""
    scores = scores.masked_fill(mask == 0, NEG_INF)
    out = torch.softmax(scores, dim=dim)
    return out * (mask != 0).to(out.dtype)


@dataclass(frozen=True)
class DualAttention:
    scores: torch.Tensor  # f [B, M, N]
    teacher_to_student: torch.Tensor  # w [B, M, N], rows sum to 1 over student words
    student_to_teacher: torch.Tensor  # softmax_i f [B, N, M], rows sum to 1 over teacher words
    context: torch.Tensor  # S [B, M, D]
    pooled_student_to_teacher: torch.Tensor  # X [B, M]


def dual_attention(
    student: torch.Tensor,
    student_mask: torch.Tensor,
    teacher: torch.Tensor,
    teacher_mask: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
) -> DualAttention:
    """Both attention directions of eqs. 4-9 with one W_n, b_n."""
    f = bilinear_scores(student, teacher, weight, bias)  # [B, M, N]
    s_mask = student_mask[:, None, :]
    t_mask = teacher_mask[:, :, None]
    w = masked_softmax(f, s_mask, dim=2) * t_mask.to(f.dtype)
    s2t = masked_softmax(f.transpose(1, 2), teacher_mask[:, None, :], dim=2) * student_mask[:, :, None].to(f.dtype)
    context = torch.einsum("bij,bjd->bid", w, student)
    h_tilde = masked_mean(student, student_mask)  # [B, D]
    g = torch.tanh(torch.einsum("bd,de,bie->bi", h_tilde, weight, teacher) + bias)  # [B, M]
    x = masked_softmax(g, teacher_mask, dim=1)
    return DualAttention(f, w, s2t, context, x)


def reconstruction_loss(
    context: torch.Tensor, teacher: torch.Tensor, weights: torch.Tensor, teacher_mask: torch.Tensor
) -> torch.Tensor:
    """L_R: sum_i X_i * mean_d (S_i - h'_i)^2, averaged over the batch."""
    per_position = ((context - teacher) ** 2).mean(-1)  # [B, M]
    per_sentence = (weights * per_position * teacher_mask.to(per_position.dtype)).sum(1)
    return per_sentence.mean()


def domain_loss(logits: torch.Tensor, domains: torch.Tensor) -> torch.Tensor:
    """L_S (eq. 11): BCE of the discriminator; domains 1 = source (English), 0 = target."""
    return F.binary_cross_entropy_with_logits(logits, domains.to(logits.dtype))


def total_loss(
    l_t: torch.Tensor,
    l_r: torch.Tensor,
    l_s: torch.Tensor,
    lambdas: tuple[float, float, float] = (1.0, 0.4, 0.1),
) -> torch.Tensor:
    """Eq. 13: lambda_1 L_T + lambda_2 L_R + lambda_3 L_S."""
    a, b, c = lambdas
    return a * l_t + b * l_r + c * l_s
