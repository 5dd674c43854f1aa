"""Layers shared by several methods."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import torch


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, lambd: float) -> torch.Tensor:
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.lambd * grad, None


def reverse_gradient(x: torch.Tensor, lambd: float = 1.0) -> torch.Tensor:
    """Identity forward; multiplies the gradient by -lambd backward (Ganin & Lempitsky)."""
    return _ReverseGradient.apply(x, lambd)


class GradientReversal(torch.nn.Module):
    def __init__(self, lambd: float = 1.0) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reverse_gradient(x, self.lambd)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over dim 1 of [B, T, H] where mask [B, T] is 1 for real positions."""
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


def gated_fusion(
    h_ctx: torch.Tensor, h_vec: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """VXLM gate: g = sigmoid(W_g [h_ctx ; h_vec] + b_g), fused = g * h_ctx + (1 - g) * h_vec.

    `weight` is [H, 2H], `bias` [H]; returns (fused, g), both shaped like h_ctx.
    g = 1 keeps the contextual vector, g = 0 the mapped static one, per dimension.
    """
    g = torch.sigmoid(torch.nn.functional.linear(torch.cat([h_ctx, h_vec], dim=-1), weight, bias))
    return g * h_ctx + (1.0 - g) * h_vec, g


class GatedFusion(torch.nn.Module):
    """`gated_fusion` with its own W_g, b_g; `bias_init` > 0 starts closer to h_ctx."""

    def __init__(self, dim: int, bias_init: float = 0.0) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(2 * dim, dim)
        torch.nn.init.xavier_uniform_(self.proj.weight, gain=0.1)
        torch.nn.init.constant_(self.proj.bias, bias_init)

    def forward(self, h_ctx: torch.Tensor, h_vec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return gated_fusion(h_ctx, h_vec, self.proj.weight, self.proj.bias)


@contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """`module` in eval mode (no dropout) for the block, then back to the mode it was in."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def size_chunks(sizes: Sequence[int], batch_size: int, *, largest_first: bool = False) -> list[list[int]]:
    """Indices in chunks of `batch_size`, ordered by size: a chunk of like lengths pads little.
    Callers put each result back at its index, so outputs keep the input order."""
    order = sorted(range(len(sizes)), key=lambda i: sizes[i], reverse=largest_first)
    size = max(1, batch_size)
    return [order[i : i + size] for i in range(0, len(order), size)]
