"""LFD-RT building blocks: family disentanglers, shared cross-attention, MLP heads, MLM heads."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class FamilyDisentanglers(torch.nn.Module):
    """K linear maps f_k(x) = W_k x (Eq. 5), W_k = I + delta_k.

    delta_k is a full matrix (rank 0, the paper) or B_k A_k of rank r; it starts
    at zero, so a family that never sees data keeps the identity, i.e. reads the
    shared aligned features instead of a map trained only to discard.
    """

    def __init__(self, families: int, dim: int, rank: int = 0) -> None:
        super().__init__()
        self.families, self.dim, self.rank = families, dim, rank
        if rank <= 0:
            self.delta = torch.nn.Parameter(torch.zeros(families, dim, dim))
        else:
            self.down = torch.nn.Parameter(torch.randn(families, rank, dim) / math.sqrt(dim))
            self.up = torch.nn.Parameter(torch.zeros(families, dim, rank))

    def _delta(self, index: torch.Tensor) -> torch.Tensor:
        """delta matrices [N, dim, dim] for family indices [N] (>= 0)."""
        if self.rank <= 0:
            return self.delta[index]
        return self.up[index] @ self.down[index]

    def forward(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """x [B, T, D], index [B] (family, or -1 for the shared path = identity)."""
        routed = index >= 0
        if not bool(routed.any()):
            return x
        safe = index.clamp_min(0)
        if self.rank <= 0:
            delta = torch.einsum("btd,bed->bte", x, self.delta[safe])
        else:
            low = torch.einsum("btd,brd->btr", x, self.down[safe])
            delta = torch.einsum("btr,ber->bte", low, self.up[safe])
        return x + delta * routed.to(x.dtype).view(-1, 1, 1)

    def apply_family(self, x: torch.Tensor, family: int) -> torch.Tensor:
        """Every row through family `family`'s map."""
        return self.forward(x, torch.full((x.shape[0],), family, dtype=torch.long, device=x.device))


class CrossAttention(torch.nn.Module):
    """softmax(Q K^T / sqrt(d_k)) V with Q = W_q q, K = W_k kv, V = W_v kv (Eq. 6 and 11).

    One module serves both the disentanglement attention (family features as
    queries, anchor text as keys/values) and the fusion (image features or the
    learned text-only query as queries, text as keys/values): the paper shares
    W_q, W_k, W_v between them. No output projection or residual, as written.
    """

    def __init__(self, dim: int, heads: int = 1) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"hidden size {dim} is not divisible by {heads} heads")
        self.heads, self.dim = heads, dim
        self.q = torch.nn.Linear(dim, dim)
        self.k = torch.nn.Linear(dim, dim)
        self.v = torch.nn.Linear(dim, dim)

    def forward(
        self, queries: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """queries [B, Tq, D], keys [B, Tk, D], key_mask [B, Tk] (1 = real).

        Returns (out [B, Tq, D], weights [B, heads, Tq, Tk]).
        """
        b, tq, d = queries.shape
        tk = keys.shape[1]
        h, dk = self.heads, d // self.heads
        q = self.q(queries).view(b, tq, h, dk).transpose(1, 2)
        k = self.k(keys).view(b, tk, h, dk).transpose(1, 2)
        v = self.v(keys).view(b, tk, h, dk).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(dk)
        scores = scores.masked_fill(~key_mask.bool().view(b, 1, 1, tk), torch.finfo(scores.dtype).min)
        weights = scores.softmax(-1)
        out = (weights @ v).transpose(1, 2).reshape(b, tq, d)
        return out, weights


class MlpHead(torch.nn.Module):
    """One hidden layer with ReLU (Eq. 12); `hidden()` is what the rethinking MLM reads."""

    def __init__(self, dim: int, hidden: int, classes: int, dropout: float) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(dim, hidden)
        self.fc2 = torch.nn.Linear(hidden, classes)
        self.dropout = torch.nn.Dropout(dropout)

    def hidden(self, z: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc1(self.dropout(z)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(self.hidden(z)))


class MlmHead(torch.nn.Module):
    """BERT-style transform (dense, GELU, LayerNorm) whose output is scored against the
    encoder's frozen word embeddings (a tied decoder: nothing of vocabulary size trains)."""

    def __init__(self, in_dim: int, dim: int) -> None:
        super().__init__()
        self.dense = torch.nn.Linear(in_dim, dim)
        self.norm = torch.nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, decoder: torch.Tensor) -> torch.Tensor:
        """x [N, in_dim], decoder [V', dim] (embedding rows of the candidate words) -> logits [N, V']."""
        return self.norm(F.gelu(self.dense(x))) @ decoder.T
