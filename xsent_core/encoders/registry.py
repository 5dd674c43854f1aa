"""Text encoder by name: `builtin` (converted e5-small) or any local Hugging Face model.

No network is ever used: hub ids must already be in the local Hugging Face
cache, otherwise a `CheckpointError` says how to get them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..types import CheckpointError
from .text_encoder import TextEncoder

BUILTIN = "builtin"


def _not_found(spec: str) -> CheckpointError:
    return CheckpointError(
        f"model {spec!r} is not in the local Hugging Face cache or not a folder; "
        "download it on a machine with internet or pass a local path"
    )


MAX_PARAMETERS = 3_000_000_000  # ~12 GB in fp32: far past any text encoder this tool trains on a CPU


def check_local_folder(path: Path) -> None:
    """Refuse, before anything is allocated, a folder whose weights are pickles only or
    whose config describes a model too big to build."""
    if not list(path.glob("*.safetensors")) and list(path.glob("*.bin")) + list(path.glob("*.pt")):
        raise CheckpointError(
            f"{path} holds only pickled weights (.bin/.pt), which can run code when loaded; xsent loads "
            "safetensors only. Convert it where you trust the file: "
            "AutoModel.from_pretrained(path).save_pretrained(path, safe_serialization=True)"
        )
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: config.json cannot be read ({e})") from e
    sizes = {k: getattr(config, k, None) for k in ("vocab_size", "hidden_size", "num_hidden_layers", "intermediate_size")}
    if not all(isinstance(v, int) and v > 0 for v in sizes.values()):
        return  # not a BERT-like config: transformers checks it
    h, layers, ff = sizes["hidden_size"], sizes["num_hidden_layers"], sizes["intermediate_size"]
    estimate = sizes["vocab_size"] * h + layers * (4 * h * h + 2 * h * ff)
    if estimate > MAX_PARAMETERS:
        raise CheckpointError(
            f"{path}: config.json describes a model of about {estimate:.2g} parameters "
            f"(~{estimate * 4 / 2**30:.3g} GB), over the {MAX_PARAMETERS:.0e} xsent builds; check the file"
        )


def load_hf_text_model(spec: str) -> tuple[Any, Any]:
    """(model, tokenizer) from a local folder or a cached hub id, offline."""
    from transformers import AutoModel, AutoTokenizer

    path = Path(spec).expanduser()
    source = str(path) if path.exists() else spec
    if path.exists() and not (path / "config.json").is_file():
        raise CheckpointError(f"{path} has no config.json; it is not a Hugging Face model folder")
    if path.is_dir():
        check_local_folder(path)
    try:
        # safetensors only: a pickled checkpoint can run code when loaded
        model = AutoModel.from_pretrained(source, local_files_only=True, use_safetensors=True)
    except (OSError, ValueError) as e:
        if path.exists():
            raise CheckpointError(f"{path}: cannot load the model ({e})") from e
        raise _not_found(spec) from e
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError, TypeError) as e:
        raise CheckpointError(f"model {spec!r} was found but its tokenizer could not be loaded ({e})") from e
    return model.eval(), tokenizer


def load_text_encoder(spec: str = BUILTIN, device: Any = "cpu") -> TextEncoder:
    """`builtin`, a Hugging Face model id in the local cache, or a model folder (in eval mode)."""
    if spec == BUILTIN:
        from .builtin_e5 import load_builtin_e5

        model, tokenizer = load_builtin_e5()
    else:
        model, tokenizer = load_hf_text_model(spec)
    try:
        encoder = TextEncoder(model, tokenizer, spec)
    except TypeError as e:
        raise CheckpointError(str(e)) from e
    return encoder.to(device).eval()
