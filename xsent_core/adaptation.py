"""How a method adapts its text encoder: top-k layers, LoRA on all layers, or full.

Method configs inherit `EncoderAdaptation`, so every preset chooses with the
same keys:
- `adapt="top-k"`: layers >= `train_from_layer` train, the rest are frozen and
  their outputs cached once per dataset (the historical default);
- `adapt="lora"`: peft LoRA (rank/alpha/dropout) on the attention and
  feed-forward projections of every layer >= `lora_from_layer` (default 0: all
  layers); only the adapters train and are saved, and they are merged into the
  weights for inference; layers below `lora_from_layer` are cached like top-k's;
- `adapt="full"`: every layer trains (embeddings stay frozen: an optimiser step
  over 96M embedding rows costs seconds on a CPU).
With full (and lora from layer 0) only the embeddings block is cached.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .types import CheckpointError

ADAPT_MODES = ("top-k", "lora", "full")


@dataclass(frozen=True)
class EncoderAdaptation:
    """Config fields shared by the methods that fine-tune a text encoder."""

    train_from_layer: int = 10
    adapt: str = "top-k"
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0  # 0.05 costs 25% more time per step on a CPU (measured)
    lora_from_layer: int = 0  # first layer with adapters; the frozen layers below are cached


def first_live_layer(config: Any) -> int:
    """The first layer run on every step; layers below it are cached (`frozen_states`)."""
    mode = getattr(config, "adapt", "top-k")
    if mode == "top-k":
        return config.train_from_layer
    return config.lora_from_layer if mode == "lora" else 0


def adapt_encoder(encoder: Any, config: Any) -> int:
    """Freeze/adapt `encoder` as `config` says; returns `first_live_layer(config)`."""
    mode = getattr(config, "adapt", "top-k")
    if mode not in ADAPT_MODES:
        raise CheckpointError(f"adapt={mode!r}: choose one of {', '.join(ADAPT_MODES)}")
    try:
        if mode == "lora":
            encoder.add_lora(config.lora_rank, config.lora_alpha, config.lora_dropout, from_layer=config.lora_from_layer)
        else:
            encoder.freeze(below_layer=first_live_layer(config))
    except ValueError as e:
        raise CheckpointError(f"cannot adapt encoder {config.encoder!r}: {e}") from e
    return first_live_layer(config)


def inference_config(config: Any) -> Any:
    """The config a saved model is rebuilt with to predict only.

    A LoRA model becomes a top-k model with nothing to train: its saved adapters
    are then folded into the encoder weights (`encoders.lora.fold_adapters`), so
    loading needs no peft and predicts at plain-model speed. Other configs are
    returned unchanged.
    """
    if getattr(config, "adapt", "top-k") != "lora":
        return config
    return replace(config, adapt="top-k", train_from_layer=config.lora_from_layer)


def trainable_summary(module: Any) -> dict[str, int]:
    """Trainable vs all parameters (what a model card and the benchmark report)."""
    folded = sum(t.numel() for t in getattr(module, "folded_adapters", {}).values())  # trained, now inside the weights
    total = sum(p.numel() for p in module.parameters()) + folded
    trained = sum(p.numel() for p in module.parameters() if p.requires_grad) + folded
    return {"trainable_parameters": int(trained), "parameters": int(total)}
