"""LFD-RT losses and decision rules as pure functions (no module state, no parameters).

Equation numbers refer to Chen et al., "Cross-lingual Multimodal Sentiment
Analysis for Low-Resource Languages via Language Family Disentanglement and
Rethinking Transfer" (the seed paper).
"""
from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn.functional as F

IGNORE = -100  # target id of positions that are not predicted


def unified_contrastive_loss(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """Eq. 2/4: symmetric InfoNCE over a batch of aligned pairs (a_j, b_j).

    s = cosine similarity / temperature. For each pair j the loss is
    -log softmax_row(s)[j, j] - log softmax_col(s)[j, j] (both directions, summed,
    as Eq. 2 writes two log terms), averaged over the batch. The same function
    aligns anchor/translation text (L_CLA) and text/image (L_CMA).
    """
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"expected two [B, D] tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    sim = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return F.cross_entropy(sim, target) + F.cross_entropy(sim.T, target)


def kl_to_uniform(logits: torch.Tensor) -> torch.Tensor:
    """Eq. 9: mean over rows of KL(p || uniform) with p = softmax(logits) over the last dim.

    KL(p || u) = sum_c p_c log(p_c * C) = log C - H(p); 0 exactly when p is uniform.
    """
    if logits.numel() == 0:
        return logits.new_zeros(())
    logp = logits.log_softmax(-1)
    c = logits.shape[-1]
    return ((logp.exp() * logp).sum(-1) + torch.log(torch.tensor(float(c), device=logits.device))).mean()


def masked_lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Eq. 8/15: mean negative log-likelihood of the masked words.

    logits [N, V] (one row per masked position), targets [N] vocabulary indices
    (IGNORE rows are skipped). 0 when nothing is masked.
    """
    keep = targets != IGNORE
    if not bool(keep.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[keep], targets[keep])


def bag_of_words_mlm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-row masked-LM loss when one distribution per row predicts all its masked words.

    logits [B, V]; targets [B, M] word indices, IGNORE as padding. Returns [B]:
    the mean -log p(word) over the row's masked words (0 for rows without any).
    Used where the representation is one fused vector per row (Eq. 14-15 and the
    rethinking step, Eq. 18).
    """
    logp = logits.log_softmax(-1)
    valid = targets != IGNORE
    picked = logp.gather(1, targets.clamp_min(0))  # [B, M]
    total = -(picked * valid).sum(1)
    return total / valid.sum(1).clamp_min(1)


def lfd_loss(mask_loss: torch.Tensor, kl_loss: torch.Tensor, alpha1: float = 0.3, alpha2: float = 0.1) -> torch.Tensor:
    """Eq. 10: L_LFD = alpha1 * L_mask1 + alpha2 * L_KL."""
    return alpha1 * mask_loss + alpha2 * kl_loss


def sentiment_loss(
    ce1: torch.Tensor, ce2: torch.Tensor, mask_loss: torch.Tensor, beta1: float = 1.0, beta2: float = 1.0, beta3: float = 0.3
) -> torch.Tensor:
    """Eq. 16: L_SA = beta1 * L_MLP1 + beta2 * L_MLP2 + beta3 * L_mask2."""
    return beta1 * ce1 + beta2 * ce2 + beta3 * mask_loss


def pretraining_loss(parts: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Eq. 17: Loss_PT = L_Align + L_LFD + L_SA (each already weighted inside), plus any
    term beyond the paper in `parts` (head diversity, pair consistency; weighted too)."""
    extra = [v for k, v in parts.items() if k not in ("align", "lfd", "sa")]
    return parts["align"] + parts["lfd"] + parts["sa"] + sum(extra, parts["sa"].new_zeros(()))


def heads_agree(logits1: torch.Tensor, logits2: torch.Tensor) -> torch.Tensor:
    """[B] bool: the two heads predict the same class."""
    return logits1.argmax(-1) == logits2.argmax(-1)


def select_pseudo_labels(
    probs1: torch.Tensor, probs2: torch.Tensor, *, keep: float = 1.0, min_confidence: float = 0.0
) -> torch.Tensor:
    """Rethinking's pseudo-labels on [N, C] head probabilities: [N] class index, -1 for none.

    A row gets the label both heads agree on when the heads' mean top probability
    is at least `min_confidence`; of those rows, each class keeps only its `keep`
    most confident share (rounded up), so a class the model predicts rarely still
    contributes the same share of its rows as the majority class (class-balanced
    self-training, Zou et al. 2018). keep=1, min_confidence=0: every agreeing row
    (the paper).
    """
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    agree = probs1.argmax(-1) == probs2.argmax(-1)
    confidence = (probs1.max(-1).values + probs2.max(-1).values) / 2
    label = probs1.argmax(-1)
    out = torch.full_like(label, -1)
    for c in range(probs1.shape[-1]):
        rows = (agree & (label == c) & (confidence >= min_confidence)).nonzero().flatten()
        if rows.numel() == 0:
            continue
        n = math.ceil(keep * rows.numel())
        best = rows[confidence[rows].argsort(descending=True, stable=True)[:n]]
        out[best] = c
    return out


def rethinking_loss(
    logits1: torch.Tensor,
    logits2: torch.Tensor,
    mlm_row_loss: torch.Tensor,
    pseudo: torch.Tensor,
    *,
    lambda1: float = 0.5,
    lambda2: float = 0.5,
    class_weights: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Eq. 18, per row, averaged over the batch.

    A row with a pseudo-label y (`pseudo[b] >= 0`, see `select_pseudo_labels`)
    gets lambda1 * CE(logits1, y) + lambda2 * CE(logits2, y), scaled by
    `class_weights[y]` when given; every other row (the heads disagree, or the
    label was not confident enough) gets its masked-LM loss `mlm_row_loss[b]`.
    Total = (sum of the per-row losses) / B; also returns the two parts (same
    normalisation) and the pseudo-labelled mask.
    """
    labelled = pseudo >= 0
    target = pseudo.clamp_min(0)
    ce = lambda1 * F.cross_entropy(logits1, target, reduction="none") + lambda2 * F.cross_entropy(
        logits2, target, reduction="none"
    )
    if class_weights is not None:
        ce = ce * class_weights.to(ce.dtype)[target]
    n = max(1, logits1.shape[0])
    pseudo_part = (ce * labelled).sum() / n
    mlm_part = (mlm_row_loss * ~labelled).sum() / n
    return {"loss": pseudo_part + mlm_part, "pseudo": pseudo_part, "mlm": mlm_part, "labelled": labelled}


def head_overlap(w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
    """Mean squared cosine between the first-layer units of two heads ([H1, D], [H2, D]).

    0 when every unit of one head is orthogonal to every unit of the other, 1 when
    all units are parallel. A penalty on it keeps the heads reading different
    directions of the input (asymmetric tri-training, Saito et al. 2017, penalise
    |W1^T W2|), so their disagreement carries information.
    """
    if w1.dim() != 2 or w2.dim() != 2 or w1.shape[1] != w2.shape[1]:
        raise ValueError(f"expected [H1, D] and [H2, D] weights, got {tuple(w1.shape)} and {tuple(w2.shape)}")
    cos = F.normalize(w1, dim=-1) @ F.normalize(w2, dim=-1).T
    return (cos**2).mean()


def consistency_loss(anchor_logits: torch.Tensor, translation_logits: torch.Tensor) -> torch.Tensor:
    """Mean over rows of KL(p_anchor || p_translation), p = softmax; the anchor side is a fixed target.

    Trains the heads on what target rows get at test (the translation through its
    family's disentangler) without target labels: the translation should read as
    its English original does. 0 when the two distributions are equal.
    """
    target = anchor_logits.detach().log_softmax(-1)
    return F.kl_div(translation_logits.log_softmax(-1), target, log_target=True, reduction="batchmean")


def weighted_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """sum(w * v) / sum(w); the plain mean without weights; 0 when every weight is 0."""
    if weights is None:
        return values.mean()
    w = weights.to(values.dtype)
    total = w.sum()
    return (values * w).sum() / total if bool(total > 0) else values.sum() * 0.0


def decide(probs1: torch.Tensor, probs2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Section 3.5 inference rule on [B, C] probabilities.

    Returns (label [B], agree [B] bool, probs [B, C]): the agreed label with the
    mean of the two distributions; on disagreement, the label and distribution of
    the more confident head (higher top probability; head 1 on a tie).
    """
    agree = probs1.argmax(-1) == probs2.argmax(-1)
    first = probs1.max(-1).values >= probs2.max(-1).values
    chosen = torch.where(first.unsqueeze(-1), probs1, probs2)
    probs = torch.where(agree.unsqueeze(-1), (probs1 + probs2) / 2, chosen)
    return probs.argmax(-1), agree, probs


def bert_mask(
    ids: torch.Tensor,
    maskable: torch.Tensor,
    *,
    mask_id: int,
    vocab_size: int,
    prob: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking on one sequence [T]: choose `prob` of the maskable positions
    (at least one when any is maskable); of those 80 % -> mask_id, 10 % -> a random
    id, 10 % unchanged. Returns (input ids, targets with IGNORE elsewhere)."""
    positions = maskable.nonzero().flatten()
    targets = torch.full_like(ids, IGNORE)
    out = ids.clone()
    if positions.numel() == 0:
        return out, targets
    n = max(1, int(round(prob * positions.numel())))
    chosen = positions[torch.randperm(positions.numel(), generator=generator)[:n]]
    targets[chosen] = ids[chosen]
    roll = torch.rand(n, generator=generator)
    random_ids = torch.randint(vocab_size, (n,), generator=generator)
    out[chosen] = torch.where(roll < 0.8, torch.full_like(random_ids, mask_id), torch.where(roll < 0.9, random_ids, ids[chosen]))
    return out, targets
