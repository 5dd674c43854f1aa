"""MSMO's losses as pure functions of tensors (no module state, no I/O).

Tag columns follow `data.bies.TAGS`: O, then B/I/E/S for POS, NEU, NEG, so
polarity k (0 = positive, 1 = neutral, 2 = negative) owns columns 1 + 4k + {B: 0,
I: 1, E: 2, S: 3}. Span polarity distributions are in that polarity order.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

# polarity order of span distributions (TAGS order, not types.POLARITIES order)
SPAN_POLARITIES: tuple[str, ...] = ("positive", "neutral", "negative")
_B, _I, _E, _S = 0, 1, 2, 3


def _cols(part: int) -> list[int]:
    return [1 + 4 * k + part for k in range(3)]


# -- sentence level: Wasserstein critic -------------------------------------------
def wasserstein_estimate(q_source: torch.Tensor, q_target: torch.Tensor) -> torch.Tensor:
    """Critic estimate of the Wasserstein-1 distance: E[Q(source)] - E[Q(target)]."""
    return q_source.mean() - q_target.mean()


def critic_loss(q_source: torch.Tensor, q_target: torch.Tensor) -> torch.Tensor:
    """What the critic minimises: -(E[Q(src)] - E[Q(tgt)]) (it maximises J_q)."""
    return -wasserstein_estimate(q_source, q_target)


def encoder_adversarial_loss(
    q_source: torch.Tensor, q_target: torch.Tensor, weight: float, hinge: bool = False
) -> torch.Tensor:
    """What the encoder minimises: weight * (E[Q(src)] - E[Q(tgt)]), critic held fixed.

    Identical in gradient to sending the features through a gradient-reversal
    layer with lambda = weight and back-propagating the critic's loss. With
    `hinge`, weight * max(estimate, 0): a distance is never negative, so a
    negative estimate means the critic lags behind the features, and pushing on
    it would only swap the domains over (measured: it drove the tagger to
    predict no span at all).
    """
    estimate = wasserstein_estimate(q_source, q_target)
    return weight * (estimate.clamp_min(0.0) if hinge else estimate)


def dann_ramp(progress: float, gamma: float = 10.0) -> float:
    """DANN's adaptation factor 2 / (1 + exp(-gamma p)) - 1: 0 at p = 0, ~1 at p = 1."""
    p = min(max(float(progress), 0.0), 1.0)
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor], source: torch.Tensor, target: torch.Tensor, alpha: torch.Tensor
) -> torch.Tensor:
    """WGAN-GP: mean over rows of (||grad_x Q(x)|| - 1)^2 at x = alpha s + (1 - alpha) t.

    `source`/`target` [n, d] (n = the smaller side; rows are paired in order),
    `alpha` [n, 1] in [0, 1]. Differentiable in the critic's weights.
    """
    n = min(len(source), len(target))
    x = (alpha[:n] * source[:n] + (1 - alpha[:n]) * target[:n]).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return ((grad.norm(dim=-1) - 1.0) ** 2).mean()


def clipped(weights: torch.Tensor, clip: float) -> torch.Tensor:
    """The critic's 1-Lipschitz constraint (WGAN): each weight clamped to [-clip, clip]."""
    if clip <= 0:
        raise ValueError(f"clip must be positive, got {clip}")
    return weights.clamp(-clip, clip)


# -- aspect level: span consistency ------------------------------------------------
def span_log_scores(
    log_probs: torch.Tensor, rows: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor
) -> torch.Tensor:
    """Log of each span's product of token probabilities, per polarity -> [n_spans, 3].

    `log_probs` [B, W, 13] (log-softmax over tags); span i covers words
    [starts[i], ends[i]) of row rows[i]. A one-word span scores S-p; a longer one
    B-p * I-p ... * E-p. Sums of logs, so long spans do not underflow.
    """
    if rows.numel() == 0:
        return log_probs.new_zeros((0, 3))
    lp = log_probs[rows]  # [n, W, 13]
    pos = torch.arange(lp.size(1), device=lp.device)
    single = (ends - starts) == 1
    first = lp[torch.arange(lp.size(0), device=lp.device), starts]  # [n, 13]
    last = lp[torch.arange(lp.size(0), device=lp.device), ends - 1]
    inside = ((pos[None, :] > starts[:, None]) & (pos[None, :] < (ends - 1)[:, None])).to(lp.dtype)
    inner = (lp[:, :, _cols(_I)] * inside[:, :, None]).sum(1)  # [n, 3]
    multi = first[:, _cols(_B)] + inner + last[:, _cols(_E)]
    return torch.where(single[:, None], first[:, _cols(_S)], multi)


def span_log_distribution(log_scores: torch.Tensor) -> torch.Tensor:
    """Normalise per-polarity span scores into a log-distribution over polarities."""
    return log_scores - torch.logsumexp(log_scores, dim=-1, keepdim=True)


def symmetric_kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """Per row 0.5 * [KL(p || q) + KL(q || p)] from log-distributions [..., K]."""
    p, q = log_p.exp(), log_q.exp()
    kl_pq = (p * (log_p - log_q)).sum(-1)
    kl_qp = (q * (log_q - log_p)).sum(-1)
    return 0.5 * (kl_pq + kl_qp)


def consistency_loss(
    log_probs: torch.Tensor,
    pairs: torch.Tensor,
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bidirectional-KL consistency over aligned spans.

    `pairs` [m, 6]: (row_a, start_a, end_a, row_b, start_b, end_b) word spans in
    `log_probs` [B, W, 13]; `weights` [m] (per-pair beta, e.g. by language).
    Returns (weighted mean = (1/m) sum_i w_i SKL_i, unweighted mean SKL); both 0
    when m = 0 (kept in the graph so backward still works).
    """
    if pairs.numel() == 0:
        zero = log_probs.sum() * 0.0
        return zero, zero.detach()
    a = span_log_distribution(span_log_scores(log_probs, pairs[:, 0], pairs[:, 1], pairs[:, 2]))
    b = span_log_distribution(span_log_scores(log_probs, pairs[:, 3], pairs[:, 4], pairs[:, 5]))
    skl = symmetric_kl(a, b)
    w = torch.ones_like(skl) if weights is None else weights.to(skl.dtype)
    return (w * skl).mean(), skl.mean().detach()


# -- distillation -------------------------------------------------------------------
def average_teachers(probs: Sequence[torch.Tensor], weights: Sequence[float] | None = None) -> torch.Tensor:
    """p_t = sum_k w_k g_k with the weights normalised to sum 1 (default: equal)."""
    if not probs:
        raise ValueError("no teacher distributions to average")
    w = [1.0] * len(probs) if weights is None else [float(x) for x in weights]
    if len(w) != len(probs):
        raise ValueError(f"{len(probs)} teachers but {len(w)} weights")
    if any(x < 0 for x in w) or sum(w) <= 0:
        raise ValueError(f"teacher weights must be >= 0 with a positive sum, got {w}")
    total = sum(w)
    return sum(p * (x / total) for p, x in zip(probs, w))  # type: ignore[return-value]


def distillation_mse(student_logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L_KD = 1/|D| sum_sentences 1/L sum_i MSE(p_t_i, p_s_i).

    `student_logits`/`targets` [B, W, 13], `mask` [B, W] (1 = real word). MSE
    is the mean over the 13 tags; each sentence is the mean over its words; the
    loss the mean over sentences that have at least one word.
    """
    p = student_logits.softmax(-1)
    per_word = ((p - targets) ** 2).mean(-1)
    m = mask.to(per_word.dtype)
    words = m.sum(1)
    per_sentence = (per_word * m).sum(1) / words.clamp_min(1.0)
    has = (words > 0).to(per_word.dtype)
    return (per_sentence * has).sum() / has.sum().clamp_min(1.0)


def distillation_kl(
    student_logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """T^2 * KL(p_t^T || softmax(z_s / T)), reduced like `distillation_mse`.

    The teacher distribution is softened as its logits would be: p^(1/T)
    renormalised (p_t may hold exact zeros: one-hot corrections; they stay 0).
    The T^2 factor keeps gradient sizes comparable across temperatures (Hinton et al.).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    log_t = targets.clamp_min(1e-12).log() / temperature
    log_t = log_t - torch.logsumexp(log_t, dim=-1, keepdim=True)
    soft_t = log_t.exp() * (targets > 0)
    soft_t = soft_t / soft_t.sum(-1, keepdim=True).clamp_min(1e-12)
    log_s = (student_logits / temperature).log_softmax(-1)
    per_word = (soft_t * (soft_t.clamp_min(1e-12).log() - log_s)).sum(-1) * temperature**2
    m = mask.to(per_word.dtype)
    words = m.sum(1)
    per_sentence = (per_word * m).sum(1) / words.clamp_min(1.0)
    has = (words > 0).to(per_word.dtype)
    return (per_sentence * has).sum() / has.sum().clamp_min(1.0)


def tagging_cross_entropy(logits: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
    """Token CE over the 13 tags, -100 = ignored (padding, unlabelled rows)."""
    if (tags != -100).sum() == 0:
        return logits.sum() * 0.0
    return F.cross_entropy(logits.flatten(0, 1), tags.flatten(), ignore_index=-100)
