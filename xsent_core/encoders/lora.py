"""LoRA on every encoder layer, through peft.

`add_lora` injects low-rank adapters into each layer's attention (query, key,
value, output) and feed-forward (in, out) projections and freezes everything
else in the encoder. Only the adapter matrices train and are saved.

For inference the adapters are merged into the base weights, so a LoRA model
predicts as fast as a plain one: `set_merged(encoder, True)` on eval(), False on
train(). Loading adapter weights into a merged model would unmerge the wrong
delta, so a load-state hook unmerges first and merges again afterwards.

A saved model loaded only to predict needs no peft at all: `fold_adapters` adds
each adapter's delta into its projection's weight (what peft's merge does), which
spares peft's import and injection at load time.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

import torch

# the six projections of a BERT/XLM-R layer (HF module names under encoder.layer.N)
PROJECTIONS = r"(attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense)"


def target_modules(layers: Iterable[int]) -> str:
    """peft's full-match regex for the projections of the given layers."""
    return r".*encoder\.layer\.(" + "|".join(str(i) for i in layers) + r")\." + PROJECTIONS


def lora_layers(module: torch.nn.Module) -> list[Any]:
    from peft.tuners.lora import LoraLayer

    return [m for m in module.modules() if isinstance(m, LoraLayer)]


# peft's saved names: <projection>.lora_A.default.weight / <projection>.lora_B.default.weight
ADAPTER_KEY = re.compile(r"^(?P<module>.+)\.lora_(?P<half>[AB])\.default\.weight$")


def is_adapter_key(key: str) -> bool:
    """A parameter or saved-tensor name that belongs to a LoRA adapter."""
    return ".lora_" in key


def fold_adapters(model: torch.nn.Module, adapters: Mapping[str, torch.Tensor], scale: float) -> None:
    """Add `scale * B @ A` of every saved adapter into its (plain, peft-free) Linear's weight, in place.

    `adapters` are named as in the injected model's state dict, relative to `model`.
    Raises ValueError for a name that is not an A/B pair of one of `model`'s Linears.
    """
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in adapters.items():
        match = ADAPTER_KEY.match(key)
        if match is None:
            raise ValueError(f"{key}: not a LoRA adapter tensor")
        pairs.setdefault(match["module"], {})[match["half"]] = tensor
    for name, halves in pairs.items():
        if set(halves) != {"A", "B"}:
            raise ValueError(f"{name}: LoRA adapter needs both lora_A and lora_B")
        try:
            linear = model.get_submodule(name)
        except AttributeError:
            linear = None
        if not isinstance(linear, torch.nn.Linear):
            raise ValueError(f"{name}: no such projection in {type(model).__name__}")
        delta = scale * (halves["B"].float() @ halves["A"].float())
        if delta.shape != linear.weight.shape:
            raise ValueError(f"{name}: adapter delta {tuple(delta.shape)} does not fit weight {tuple(linear.weight.shape)}")
        with torch.no_grad():
            linear.weight += delta.to(device=linear.weight.device, dtype=linear.weight.dtype)


def set_merged(module: torch.nn.Module, merged: bool) -> None:
    """Merge (inference) or unmerge (training) every adapter; a no-op where already so."""
    for layer in lora_layers(module):
        if merged and not layer.merged:
            layer.merge()
        elif not merged and layer.merged:
            layer.unmerge()


def add_lora(model: torch.nn.Module, rank: int, alpha: float, dropout: float, layers: Iterable[int]) -> torch.nn.Module:
    """Inject LoRA adapters into `layers` of `model` (a HF BERT-like model) in place; returns it.

    Base weights are frozen; the adapters' B matrices start at zero, so the
    adapted model starts equal to the pretrained one.
    """
    from peft import LoraConfig, inject_adapter_in_model

    if rank < 1:
        raise ValueError(f"lora_rank must be >= 1, got {rank}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"lora_dropout must be in [0, 1), got {dropout}")
    model.requires_grad_(False)
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules(layers), bias="none")
    model = inject_adapter_in_model(config, model)
    for name, p in model.named_parameters():
        p.requires_grad_(is_adapter_key(name))
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(f"no projection of {type(model).__name__} matched the LoRA targets")
    return model


def guard_loading(owner: torch.nn.Module, model: torch.nn.Module) -> None:
    """Make `owner.load_state_dict` safe while `model`'s adapters are merged."""

    def before(*_: Any) -> None:
        owner._lora_was_merged = any(layer.merged for layer in lora_layers(model))  # type: ignore[attr-defined]
        set_merged(model, False)

    def after(*_: Any) -> None:
        if getattr(owner, "_lora_was_merged", False):
            set_merged(model, True)

    owner.register_load_state_dict_pre_hook(before)
    owner.register_load_state_dict_post_hook(after)
