"""Does a loss term act? Its size and its share of the gradient on the parameters it shares.

A term whose weighted gradient is a thousandth of the others' moves nothing, whatever
the paper's equation says; `gradient_shares` puts that number in a benchmark report.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch


def gradient_shares(
    terms: Mapping[str, torch.Tensor],
    weights: Mapping[str, float],
    params: Sequence[torch.nn.Parameter],
) -> dict[str, dict[str, float]]:
    """Per weighted term: `value` (unweighted), `weighted`, `grad_norm` (L2 norm of the
    weighted term's gradient over `params`) and `share` (its grad_norm over the sum of
    all terms' grad_norms). Terms keep their graphs; nothing is accumulated in `.grad`."""
    params = [p for p in params if p.requires_grad]
    norms: dict[str, float] = {}
    out: dict[str, dict[str, float]] = {}
    for name, weight in weights.items():
        term = terms[name]
        grads = torch.autograd.grad(weight * term, params, retain_graph=True, allow_unused=True) if term.requires_grad else []
        squares = sum(float(g.detach().float().pow(2).sum()) for g in grads if g is not None)
        norms[name] = squares ** 0.5
        out[name] = {"value": float(term.detach()), "weighted": float(weight * term.detach()), "grad_norm": norms[name]}
    total = sum(norms.values())
    for name in out:
        out[name]["share"] = norms[name] / total if total > 0 else 0.0
    return out
