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


def load_hf_text_model(spec: str) -> tuple[Any, Any]:
    """(model, tokenizer) from a local folder or a cached hub id, offline."""
    from transformers import AutoModel, AutoTokenizer

    path = Path(spec).expanduser()
    source = str(path) if path.exists() else spec
    if path.exists() and not (path / "config.json").is_file():
        raise CheckpointError(f"{path} has no config.json; it is not a Hugging Face model folder")
    try:
        model = AutoModel.from_pretrained(source, local_files_only=True)
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
