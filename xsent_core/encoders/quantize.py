"""int8 inference for a loaded model's text encoder: the CPU fast path.

Measured on the 2-core machines (benchmarks/encoder_throughput.py): the fp32
linear layers already run at the CPU's peak, so only fewer bytes per weight
buy speed. Dynamic int8 (weights per output channel, activations per batch),
as set up below, cuts one sentence from 22 to 17 ms and lifts batch throughput
1.3x. ONNX Runtime's fused int8 graph ran no faster than torch's int8, so
torch's module swap is used (fp32 models run their layers in ONNX Runtime
instead: `onnx_layers`; an int8 model stays in torch).

Only the text encoder's `nn.Linear` layers are swapped; heads, embeddings and
image encoders keep their float weights. The swap is for inference only: the
quantized modules have no trainable weights.

Plain int8 broke the span tagger (EN test F1 64.9 -> 52.8): activations have
outlier channels (the feed-forward output's input peaks ~10x its mean), and
dynamic quantization scales a whole activation tensor at once. So, SmoothQuant
style, each input channel is divided by s = max|x|^a / max|w|^(1-a) and the
weight column multiplied by it (same product, flatter activations), with the
maxima read from a few calibration sentences; and the feed-forward output
projection, whose input is the worst, stays fp32.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Sequence

import torch

from ..nn import eval_mode

PRECISIONS = ("fp32", "int8")
SMOOTHING_ALPHA = 0.8  # sentence-level span agreement with fp32 on 200 EN test rows: 0.72 at a=0, 0.9 at 0.8


class SmoothedLinear(torch.nn.Module):
    """x -> linear(x / s) with the linear's weight columns already multiplied by s."""

    def __init__(self, inverse_scale: torch.Tensor, linear: torch.nn.Linear) -> None:
        super().__init__()
        self.register_buffer("inverse_scale", inverse_scale)
        self.linear = linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x * self.inverse_scale)


def calibration_texts() -> list[str]:
    """The shipped calibration sentences (several languages, Burmese included)."""
    path = Path(__file__).with_name("int8_calibration.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def keeps_fp32(name: str) -> bool:
    """The feed-forward output projection (BERT's `layer.N.output.dense`): its input has the worst outliers."""
    return name.endswith("output.dense") and ".attention." not in name


def smooth_linears(encoder: Any, texts: Sequence[str], alpha: float = SMOOTHING_ALPHA) -> list[str]:
    """Wrap every linear layer of `encoder.model` that will be quantized in a SmoothedLinear; returns their names."""
    inner = encoder.model
    linears = {n: m for n, m in inner.named_modules() if type(m) is torch.nn.Linear and not keeps_fp32(n)}
    peaks: dict[str, torch.Tensor] = {}

    def record(name: str) -> Any:
        def hook(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            x = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).abs().amax(0)
            peaks[name] = torch.maximum(peaks[name], x) if name in peaks else x

        return hook

    hooks = [m.register_forward_hook(record(n)) for n, m in linears.items()]
    try:
        encoder.embed_sentences(list(texts), prefix="")
    finally:
        for h in hooks:
            h.remove()
    for name, linear in linears.items():
        if name not in peaks:  # never reached by the calibration pass (e.g. an unused pooler)
            continue
        weight = linear.weight.data
        scale = peaks[name].clamp(min=1e-5).pow(alpha) / weight.abs().amax(0).clamp(min=1e-5).pow(1 - alpha)
        linear.weight.data = weight * scale[None, :]
        parent_name, _, child = name.rpartition(".")
        setattr(inner.get_submodule(parent_name) if parent_name else inner, child, SmoothedLinear(1.0 / scale, linear))
    return sorted(peaks)


def quantize_text_encoder(encoder: Any) -> int:
    """Swap the `nn.Linear` layers of a TextEncoder for smoothed dynamic int8 ones, in place.

    Returns how many layers were swapped (the feed-forward output projections stay fp32). CPU only: an encoder on CUDA is left as it is (returns 0).
    """
    inner = encoder.model
    if encoder.device.type != "cpu":
        return 0
    encoder.onnx_layers = None  # its graphs hold the fp32 layers
    if not any(type(m) is torch.nn.Linear and not keeps_fp32(n) for n, m in inner.named_modules()):
        return 0
    with torch.inference_mode(False), torch.no_grad():
        linear_names = smooth_linears(encoder, calibration_texts())
    with warnings.catch_warnings():
        # torch.ao's eager quantization is deprecated in favour of torchao, but it is the pinned
        # torch's own, works module by module, and torchao's CPU int8 path needs torch.compile
        warnings.simplefilter("ignore")
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        config = {f"{n}.linear": per_channel_dynamic_qconfig for n in linear_names}
        with eval_mode(inner):
            quantize_dynamic(inner, config, dtype=torch.qint8, inplace=True)
    return len(linear_names)


def is_quantized(model: torch.nn.Module) -> bool:
    """True when a dynamic int8 layer sits anywhere in `model`."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    return any(isinstance(m, DynamicLinear) for m in model.modules())


def check_precision(precision: Any) -> str:
    """`precision` if it names one (or "auto"), else a ValueError that lists them."""
    if precision not in (*PRECISIONS, "auto"):
        raise ValueError(f"unknown inference precision {precision!r}; expected auto, {', '.join(PRECISIONS)}")
    return precision
