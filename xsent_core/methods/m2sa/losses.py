"""M2SA's loss and the exact split of its logits into a text and an image part.

The head is one linear layer over the concatenation [t ; v] of the pooled text
feature t and the (normalised) image feature v, so for every class k

    logit_k = W_t[k] . t  +  W_v[k] . v  +  b_k

exactly. Softmax ignores a shift shared by all classes, so what decides the
prediction is each logit's distance from the mean logit; `modality_shares`
reports the shares of that centred logit of the predicted class.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the batch (negative=0, neutral=1, positive=2)."""
    return F.cross_entropy(logits, labels)


def logit_parts(
    weight: torch.Tensor,
    bias: torch.Tensor,
    text: torch.Tensor | None,
    image: torch.Tensor | None,
) -> dict[str, torch.Tensor]:
    """Per-class logit contributions, each [B, C]; their sum is the logits.

    `weight` [C, Dt + Dv] with the text columns first; either half may be None
    (single-modality models). Returns {"text", "image", "bias"}.
    """
    dt = 0 if text is None else text.shape[-1]
    ref = text if text is not None else image
    assert ref is not None, "at least one modality is needed"
    zeros = torch.zeros(ref.shape[0], weight.shape[0], dtype=weight.dtype, device=weight.device)
    text_part = zeros if text is None else text @ weight[:, :dt].T
    image_part = zeros if image is None else image @ weight[:, dt:].T
    return {"text": text_part, "image": image_part, "bias": bias.expand_as(zeros)}


def modality_shares(text_part: torch.Tensor, image_part: torch.Tensor, predicted: torch.Tensor) -> dict[str, torch.Tensor]:
    """Shares of the predicted class's centred logit from text and image, each [B].

    centred_k = part_k - mean_j part_j (per modality); share_text =
    |c_text| / (|c_text| + |c_image|) at the predicted class, 0.5/0.5 when both are 0.
    Also returns the signed centred contributions ("text_margin", "image_margin").
    """
    ct = (text_part - text_part.mean(-1, keepdim=True)).gather(-1, predicted[:, None]).squeeze(-1)
    ci = (image_part - image_part.mean(-1, keepdim=True)).gather(-1, predicted[:, None]).squeeze(-1)
    total = ct.abs() + ci.abs()
    safe = torch.where(total > 0, total, torch.ones_like(total))
    text_share = torch.where(total > 0, ct.abs() / safe, torch.full_like(total, 0.5))
    return {"text": text_share, "image": 1.0 - text_share, "text_margin": ct, "image_margin": ci}
