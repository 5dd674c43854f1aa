"""LFD-RT configuration (JSON-able, saved beside the weights)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LfdrtConfig:
    # encoders
    encoder: str = "builtin"
    image_encoder: str | None = None  # None: text-only model; "builtin" / "open_clip:ARCH:CKPT" / "hf:PATH"
    train_from_layer: int = 11  # encoder layers below are frozen (and cached while training)
    max_length: int = 128  # sub-tokens per training sentence
    prefix: str = "query: "  # e5 was trained with this prefix
    # language families (table: families.json); `families` is filled at creation and
    # checked at load, so a model never silently reads another table's order
    anchor_language: str = "en"
    families: tuple[str, ...] = ()
    family_overrides: dict[str, str] = field(default_factory=dict)  # {lang: family id}
    use_disentanglers: bool = True  # False = the "w/o LFD" ablation
    disentangler_rank: int = 64  # W_k = I + B_k A_k of this rank; 0 = a full matrix per family (paper)
    kl_families: str = "active"  # KL-to-uniform over "active" families (with parallel data) or "all"
    # fusion and heads
    attn_heads: int = 1  # the paper's single-head cross-attention
    head_hidden: int = 256  # one hidden layer (ReLU) per MLP head
    dropout: float = 0.1
    # head diversity, beyond the paper (defaults = the paper: two heads on the same fused vector).
    # Heads that agree on every row make the double check and the disagreement queue empty.
    head_inputs: str = "fused"  # "fused" | "fused+pooled": head 2 reads the mean-pooled routed tokens
    head_bootstrap: bool = False  # each head trains on its own bootstrap sample of the labelled rows
    head_orthogonality: float = 0.0  # weight of the heads' first-layer overlap penalty (losses.head_overlap)
    # loss weights (paper, Section 4.2)
    temperature: float = 0.07
    alpha1: float = 0.3  # masked LM of the own-family disentangler
    alpha2: float = 0.1  # KL to uniform of the other families
    beta1: float = 1.0
    beta2: float = 1.0
    beta3: float = 0.3  # masked LM on the fused representation
    # beyond the paper: the heads read each translation through its family's disentangler (as target
    # rows at test) and should say what they say on the English original (losses.consistency_loss)
    pair_consistency: float = 0.0
    # beyond the paper: weight of both heads' CE on the English rows routed through a randomly chosen
    # active family's disentangler (the heads learn to read what target rows get at test, and a
    # disentangler cannot discard what sentiment needs while its KL term removes the other families)
    routed_sentiment: float = 0.0
    lambda1: float = 0.5  # rethinking pseudo-label CE, head 1
    lambda2: float = 0.5  # head 2
    mask_prob: float = 0.15
    # masked-LM softmax: words of the batch + this many random vocabulary rows (0 = full vocabulary)
    mlm_negatives: int = 4096
    # parallel pairs (cross-lingual alignment)
    max_pairs_per_lang: int | None = None
    pair_min_ratio: float = 0.5  # target/source token-count ratio outside this range: dropped
    pair_max_ratio: float = 2.0
    # rethinking fine-tuning; "heads": only the two heads and the rethinking MLM projection train
    # (the paper); "top": also the fusion, the disentanglers and the trained top encoder layer(s)
    rethink_train: str = "heads"
    rethink_epochs: int = 3
    rethink_lr: float = 5e-6  # Adam, paper default
    rethink_batch_size: int = 32
    rethink_min_rows: int = 2
    rethink_max_rows: int | None = None  # random sample of this many rows (seeded) when larger
    # beyond the paper (defaults = the paper). Pseudo-labels are chosen once, at the start, where
    # the heads agree (losses.select_pseudo_labels): at least this mean confidence, and per class
    # only the `rethink_keep` most confident share; the other rows take the masked-LM branch.
    # "balanced" weighs each pseudo-label's CE by the inverse of its class's share among them.
    rethink_min_confidence: float = 0.0
    rethink_keep: float = 1.0
    rethink_class_weights: str = "none"  # "none" | "balanced"
    rethink_decide_with_dropout: bool = False  # choose the pseudo-labels on dropout (training-mode) heads
    # "uniform": decide the pseudo-labels as if every class were equally likely on the unlabelled rows
    # (imbalance.balance_prior, per language: train.balance_by_language), so the classes the English training rows make rare can be taught
    rethink_prior: str = "model"  # "model" | "uniform"
    # a uniform prior divides by how common each class is among a language's rows: a language with
    # fewer rows than this keeps the model's prior (too few to estimate it)
    rethink_prior_min_rows: int = 50
    seed: int = 13
