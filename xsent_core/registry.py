"""Method names -> classes, and model folders: config JSON + safetensors.

A model folder holds:
- `config.json`: {"format": "xsent-model", "format_version", "method",
  "encoder_fingerprint", "config": {...}, "metrics": {...}, "created", ...}
- `model.safetensors`: only the trained tensors (fp16 when saved so).
- `README.md`: the model card (written by the caller that trains).
Loading never unpickles: JSON is validated field by field and tensors come from
safetensors.
"""
from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .config import config_from_dict, config_to_dict, read_json
from .types import CheckpointError

FORMAT = "xsent-model"
FORMAT_VERSION = 1

# name -> "module:Class"; imported only when asked for
_METHOD_PATHS: Mapping[str, str] = {
    "tagger": "xsent_core.methods.tagger:TaggerMethod",
    "classifier": "xsent_core.methods.classifier:ClassifierMethod",
    "msmo": "xsent_core.methods.msmo:MsmoMethod",
    "m2sa": "xsent_core.methods.m2sa:M2saMethod",
    "vxlm": "xsent_core.methods.ctam:VxlmMethod",
    "ctam": "xsent_core.methods.ctam:CtamMethod",
    "lfdrt": "xsent_core.methods.lfdrt:LfdrtMethod",
}


def method_names() -> tuple[str, ...]:
    return tuple(_METHOD_PATHS)


def available_methods() -> tuple[str, ...]:
    """Methods whose code is installed (importable) in this checkout."""
    out = []
    for name in _METHOD_PATHS:
        try:
            method_class(name)
        except CheckpointError:
            continue
        out.append(name)
    return tuple(out)


def method_specs(names: Sequence[str] | None = None) -> tuple[Any, ...]:
    """`MethodSpec` of each available method (registry order), or of `names` in that order."""
    return tuple(method_class(n).spec() for n in (names if names is not None else available_methods()))


def method_class(name: str, extra: Mapping[str, type] | None = None) -> type:
    """The class for `name`; `extra` adds classes not in the table (plugins, tests)."""
    if extra and name in extra:
        return extra[name]
    try:
        target = _METHOD_PATHS[name]
    except KeyError as e:
        raise CheckpointError(
            f"unknown method {name!r}; known methods: {', '.join(_METHOD_PATHS)}"
        ) from e
    module_name, cls_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            raise CheckpointError(f"method {name!r} is not implemented in this version of xsent") from e
        raise
    return getattr(module, cls_name)


def presets(method: str) -> Mapping[str, Any]:
    """The method's named training recipes (`PRESETS` in its package)."""
    module = importlib.import_module(method_class(method).__module__.rsplit(".", 1)[0])
    found = getattr(module, "PRESETS", None)
    if found is None:
        module = importlib.import_module(method_class(method).__module__)
        found = getattr(module, "PRESETS", {})
    # methods that share a package (vxlm and ctam) share its table: each lists only its own
    return {name: p for name, p in found.items() if getattr(p, "method", method) == method}


@dataclass(frozen=True)
class ModelCard:
    """What `config.json` says about a saved model, readable without torch."""

    path: Path
    method: str
    encoder_fingerprint: str
    config: Mapping[str, Any]
    metrics: Mapping[str, Any]
    created: str
    training: Mapping[str, Any]
    # the int8-vs-fp32 check a benchmark recorded: {"precision": "int8"|"fp32", "parity": {...}, ...}
    inference: Mapping[str, Any] = field(default_factory=dict)

    @property
    def measured_precision(self) -> str:
        """The precision its recorded parity check chose; fp32 when never checked."""
        from .encoders.quantize import PRECISIONS

        chosen = self.inference.get("precision")
        return chosen if chosen in PRECISIONS else "fp32"


def read_model_card(path: str | os.PathLike[str]) -> ModelCard:
    folder = Path(path)
    if not folder.is_dir():
        raise CheckpointError(f"model folder {folder} does not exist")
    meta = read_json(folder / "config.json")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{folder}/config.json is not an xsent model (format={meta.get('format')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{folder} was saved with model format {meta.get('format_version')}, "
            f"this xsent reads format {FORMAT_VERSION}"
        )
    for key, kind in (("method", str), ("encoder_fingerprint", str), ("config", dict)):
        if not isinstance(meta.get(key), kind):
            raise CheckpointError(f"{folder}/config.json: field {key!r} missing or of the wrong type")
    return ModelCard(
        path=folder,
        method=meta["method"],
        encoder_fingerprint=meta["encoder_fingerprint"],
        config=meta["config"],
        metrics=meta.get("metrics") or {},
        created=str(meta.get("created", "")),
        training=meta.get("training") or {},
        inference=meta.get("inference") if isinstance(meta.get("inference"), dict) else {},
    )


def record_card_fields(path: str | os.PathLike[str], fields: Mapping[str, Any]) -> None:
    """Set top-level `fields` of a saved model's config.json, facts known only after saving (atomic replace)."""
    card = read_model_card(path)
    meta = {**read_json(card.path / "config.json"), **fields}
    tmp = card.path / f".config.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, card.path / "config.json")


def record_inference_check(path: str | os.PathLike[str], check: Mapping[str, Any]) -> None:
    """Store a parity check's result under "inference" in the folder's config.json."""
    record_card_fields(path, {"inference": dict(check)})


def save_model(
    method: Any,
    path: str | os.PathLike[str],
    *,
    metrics: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    half: bool = False,
    card_text: str | None = None,
    keep: Sequence[str] = (),
) -> Path:
    """Write the model folder atomically (temp folder, then rename over the old one).

    `keep`: entries of the old folder moved into the new one (the training
    loop keeps `checkpoints/`, which a best-model save must not delete).
    """
    from safetensors.torch import save_file

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        # mkdtemp makes the folder private; a model folder is meant to be shared like any other
        os.chmod(tmp, 0o755)
        state = method.trained_state_dict()
        if half:
            state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
        save_file({k: v.cpu().contiguous() for k, v in state.items()}, str(tmp / "model.safetensors"))
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "method": method.name,
            "encoder_fingerprint": method.encoder_fingerprint(),
            "config": config_to_dict(method.config),
            "metrics": dict(metrics or {}),
            "training": dict(training or {}),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (tmp / "config.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
        if card_text:
            (tmp / "README.md").write_text(card_text, encoding="utf-8")
        elif (target / "README.md").exists():
            shutil.copy2(target / "README.md", tmp / "README.md")
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}-{time.time_ns()}")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            for name in keep:
                if (old / name).exists():
                    os.replace(old / name, target / name)
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def load_model(
    path: str | os.PathLike[str],
    *,
    expected_method: str | None = None,
    device: Any = "cpu",
    classes: Mapping[str, type] | None = None,
    for_training: bool = False,
    precision: str = "auto",
    onnx: bool = True,
) -> Any:
    """Rebuild a saved model; refuses another method's or another encoder's weights.

    Without `for_training`, LoRA adapters are folded into the encoder weights
    (no peft import, plain-model speed); `fit` refuses such a model. Pass
    `for_training=True` to get the adapters back as trainable peft modules.
    `precision` (inference only, CPU only): "int8" swaps the text encoder's
    linear layers for dynamic int8 ones; "auto" does so only when the model's
    recorded parity check chose int8 (benchmarks/inference_parity.py).
    `onnx`: an fp32 CPU model for inference runs its encoder layers in ONNX Runtime
    once its layers are exported (`encoders.onnx_layers`; torch until then);
    the environment variable XSENT_ONNX=0 turns this off everywhere.
    """
    from .encoders.quantize import check_precision

    if check_precision(precision) == "int8" and for_training:
        raise ValueError("int8 is an inference precision; a model loaded for training stays fp32")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .adaptation import inference_config

    card = read_model_card(path)
    if expected_method is not None and card.method != expected_method:
        raise CheckpointError(
            f"{card.path} holds a {card.method!r} model, not a {expected_method!r} model"
        )
    from .device import resolve_device

    device = resolve_device(device if isinstance(device, str) or device is None else str(device))
    cls = method_class(card.method, classes)
    config = config_from_dict(cls.config_cls, dict(card.config))
    weights_file = card.path / "model.safetensors"
    if not weights_file.is_file():
        raise CheckpointError(f"{card.path}: model.safetensors is missing")
    try:
        state = load_file(str(weights_file))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights_file}: unreadable or corrupt safetensors file ({e})") from e
    build = config if for_training else inference_config(config)
    adapters: dict[str, Any] = {}
    if build is not config:
        from .encoders.lora import is_adapter_key

        adapters = {k: state.pop(k) for k in [k for k in state if is_adapter_key(k)]}
        if not adapters:
            raise CheckpointError(f"{weights_file}: a LoRA model, but the file holds no adapter tensors")
    model = cls.create(build, device=device)
    if adapters:
        for name, p in model.named_parameters():  # the encoder only receives the folded deltas
            if name.startswith(model.pretrained_prefixes):
                p.requires_grad_(False)
    if model.encoder_fingerprint() != card.encoder_fingerprint:
        raise CheckpointError(
            f"{card.path} was trained on encoder {card.encoder_fingerprint!r}, "
            f"but the config builds encoder {model.encoder_fingerprint()!r}"
        )
    expected = model.state_dict()
    unknown = sorted(set(state) - set(expected))
    if unknown:
        raise CheckpointError(f"{weights_file}: tensors this {card.method} model does not have: {unknown[:5]}")
    missing = sorted(set(model.trained_state_dict()) - set(state))
    if missing:
        raise CheckpointError(f"{weights_file}: trained tensors missing: {missing[:5]}")
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                f"{weights_file}: tensor {key} has shape {tuple(tensor.shape)}, "
                f"model expects {tuple(expected[key].shape)}"
            )
    model.load_state_dict(
        {k: v.to(expected[k].dtype) for k, v in state.items()}, strict=False
    )
    if adapters:
        from .encoders.lora import fold_adapters

        try:
            fold_adapters(model, adapters, scale=config.lora_alpha / config.lora_rank)
        except ValueError as e:
            raise CheckpointError(f"{weights_file}: {e}") from e
        model.config = config  # the saved config: predicts the same, and a re-save writes the adapters back
        model.folded_adapters = adapters
    model.eval()
    model.card = card  # type: ignore[attr-defined]
    model.precision = "fp32"  # type: ignore[attr-defined]
    wanted = card.measured_precision if precision == "auto" else precision
    if wanted == "int8" and not for_training:
        from .encoders.quantize import quantize_text_encoder

        encoder = getattr(model, "encoder", None)  # an image-only M2SA model has none
        if encoder is not None and quantize_text_encoder(encoder):
            model.precision = "int8"  # type: ignore[attr-defined]
    if onnx and os.environ.get("XSENT_ONNX", "1") != "0" and not for_training and model.precision == "fp32" \
            and device.type == "cpu":
        from .encoders.onnx_layers import attach
        from .encoders.text_encoder import TextEncoder

        encoder = getattr(model, "encoder", None)
        if isinstance(encoder, TextEncoder):
            attach(encoder)
    return model
