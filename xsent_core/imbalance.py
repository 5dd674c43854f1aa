"""Class-imbalance handling for the sentence methods (pure functions).

- `balanced_class_weights`: weight_c = N / (C * n_c) (scikit-learn's "balanced"),
  for class-weighted cross-entropy; a class absent from training gets weight 0.
- `logit_adjusted_cross_entropy`: Menon et al. (2021), "Long-tail learning via
  logit adjustment": train on logits + tau * log(prior) and predict with the raw
  logits, which corrects the train prior's pull towards frequent classes.
- `balance_prior`: the same correction after training, on probabilities: decide as
  if every class were equally likely in the text at hand.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from .types import CheckpointError

IMBALANCE_MODES = ("none", "balanced")


def class_counts(labels: Sequence[int], num_classes: int) -> torch.Tensor:
    return torch.bincount(torch.as_tensor(list(labels), dtype=torch.long), minlength=num_classes).float()


def balanced_class_weights(counts: torch.Tensor) -> torch.Tensor:
    present = counts > 0
    weights = torch.zeros_like(counts, dtype=torch.float32)
    weights[present] = counts.sum() / (int(present.sum()) * counts[present])
    return weights


def log_prior(counts: torch.Tensor, smoothing: float = 1.0) -> torch.Tensor:
    """log of the (add-`smoothing`) class frequencies."""
    smoothed = counts.float() + smoothing
    return (smoothed / smoothed.sum()).log()


def logit_adjusted_cross_entropy(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    log_prior: torch.Tensor | None = None,
    tau: float = 0.0,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy on logits + tau * log_prior, optionally class-weighted.

    tau = 0 and weight None is plain cross-entropy.
    """
    if tau and log_prior is not None:
        logits = logits + tau * log_prior.to(logits)
    return F.cross_entropy(logits, labels, weight=None if weight is None else weight.to(logits))


def check_class_weighting(mode: str) -> None:
    """CheckpointError for a `class_weighting` config value that is not one of IMBALANCE_MODES."""
    if mode not in IMBALANCE_MODES:
        raise CheckpointError(f"class_weighting={mode!r}: choose one of {', '.join(IMBALANCE_MODES)}")


def imbalanced_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, counts: torch.Tensor, *, class_weighting: str, logit_adjust: float
) -> torch.Tensor:
    """A sentence method's cross-entropy under its config's imbalance options, given the training-label `counts`."""
    return logit_adjusted_cross_entropy(
        logits,
        labels,
        log_prior=log_prior(counts) if logit_adjust else None,
        tau=logit_adjust,
        weight=balanced_class_weights(counts) if class_weighting == "balanced" else None,
    )


def balance_prior(probs: torch.Tensor, marginal: torch.Tensor | None = None) -> torch.Tensor:
    """[N, C] probabilities re-decided as if every class were equally likely on these rows.

    Each column is divided by `marginal` [C], by default its mean over the rows (the
    model's estimate of how common the class is in this text), and each row
    renormalised: distribution alignment to a uniform target (Berthelot et al. 2020),
    i.e. removing the class prior as logit adjustment does for balanced error. A
    class the model learned to think rare (4 % of the English SemEval sentences are
    neutral) is then chosen where it is relatively most likely, which is what
    macro-F1 rewards. The order of the rows by any one class is unchanged.
    """
    if probs.dim() != 2 or probs.shape[0] == 0:
        raise ValueError(f"expected [N, C] probabilities with N > 0, got {tuple(probs.shape)}")
    prior = probs.mean(0) if marginal is None else marginal.to(probs.dtype)
    if prior.shape != probs.shape[1:]:
        raise ValueError(f"marginal has shape {tuple(prior.shape)}, the probabilities {tuple(probs.shape)}")
    scaled = probs / prior.clamp_min(1e-12)
    return scaled / scaled.sum(-1, keepdim=True)
