"""Pooled image features, cached on disk by file content.

Layout: `xsent_home()/features/<encoder key>/<sha[:2]>/<sha256>.safetensors`,
one small file per distinct image holding its pooled feature ("pooled", fp32).
The encoder key names the encoder spec and hashes its identity (spec,
fingerprint, feature size), so two encoders never share entries; the file key
is the SHA-256 of the image bytes, so a renamed or copied image is found again
and an edited one is not. Writes are atomic (temp file + rename): concurrent
processes at worst encode the same image twice.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from ...types import InputError, XsentError

_URL_PREFIXES = ("http://", "https://", "data:")


@dataclass(frozen=True)
class ImageResult:
    """Feature [D] of one image path, or the reason there is none."""

    path: str
    feature: torch.Tensor | None = None
    sha256: str | None = None
    error: str | None = None
    cached: bool = False


def encoder_key(image_encoder: Any) -> str:
    """Folder name for one encoder's cache entries: readable slug + identity hash."""
    info = image_encoder.info
    ident = {
        "spec": str(getattr(info, "spec", "")),
        "fingerprint": str(getattr(info, "fingerprint", "")),
        "feature_dim": int(getattr(info, "feature_dim", 0)),
    }
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", ident["spec"]).strip("_")[:48] or "encoder"
    return f"{slug}-{digest}"


def file_sha256(path: str | os.PathLike[str], max_bytes: int | None = None) -> str:
    """SHA-256 of a file's bytes, streamed; InputError for missing/unreadable/huge files.

    The size limit defaults to the image reader's (`xsent_core.images.MAX_BYTES`),
    so an oversized file is refused before it is read at all.
    """
    if max_bytes is None:
        from ...images import MAX_BYTES

        max_bytes = MAX_BYTES
    p = Path(path)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise InputError(f"image {path}: file not found") from None
    except OSError as e:
        raise InputError(f"image {path}: cannot read ({e.strerror or e})") from None
    if p.is_dir():
        raise InputError(f"image {path}: is a directory, expected an image file")
    if size == 0:
        raise InputError(f"image {path}: empty file")
    if size > max_bytes:
        raise InputError(f"image {path}: {size / 2**20:.1f} MB is over the {max_bytes / 2**20:.0f} MB limit")
    h = hashlib.sha256()
    try:
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise InputError(f"image {path}: cannot read ({e.strerror or e})") from None
    return h.hexdigest()


class FeatureCache:
    """On-disk cache of pooled features for one image encoder."""

    def __init__(self, image_encoder: Any, root: str | os.PathLike[str] | None = None) -> None:
        if root is None:
            from ...paths import xsent_home

            root = xsent_home() / "features"
        self.dir = Path(root) / encoder_key(image_encoder)

    def path_for(self, sha: str) -> Path:
        return self.dir / sha[:2] / f"{sha}.safetensors"

    def get(self, sha: str) -> torch.Tensor | None:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        p = self.path_for(sha)
        if not p.is_file():
            return None
        try:
            return load_file(str(p))["pooled"]
        except (SafetensorError, OSError, KeyError, ValueError):
            return None  # a damaged entry is recomputed and overwritten

    def put(self, sha: str, feature: torch.Tensor) -> None:
        from safetensors.torch import save_file

        p = self.path_for(sha)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{sha[:12]}.", suffix=".tmp")
        os.close(fd)
        try:
            save_file({"pooled": feature.detach().to("cpu", torch.float32).contiguous()}, tmp)
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def check_image(path: str | None) -> str | None:
    """None when `path` is a readable, valid image; else the reason (for listings)."""
    from ...images import load_image

    if not path:
        return "no image path"
    if path.startswith(_URL_PREFIXES):
        return f"image {path}: URLs are not fetched; download the image and give its path"
    try:
        load_image(path)
    except XsentError as e:
        return str(e)
    except Exception as e:  # a reader bug must not stop a whole batch
        return f"image {path}: unreadable ({type(e).__name__}: {e})"
    return None


@torch.inference_mode()
def image_features(
    image_encoder: Any,
    paths: Sequence[str | None],
    cache: FeatureCache | None,
    batch_size: int = 16,
) -> list[ImageResult | None]:
    """Pooled features for each path (None in -> None out).

    Each distinct file is hashed; cached features are read back, the rest are
    validated with `xsent_core.images.load_image`, encoded in batches and cached.
    A bad image gives an ImageResult with `error` and never stops the others.
    """
    from ...images import load_image

    out: list[ImageResult | None] = [None] * len(paths)
    by_sha: dict[str, list[int]] = {}
    for i, path in enumerate(paths):
        if path is None:
            continue
        if path.startswith(_URL_PREFIXES):
            out[i] = ImageResult(path, error=f"image {path}: URLs are not fetched; download the image and give its path")
            continue
        try:
            sha = file_sha256(path)
        except XsentError as e:
            out[i] = ImageResult(path, error=str(e))
            continue
        by_sha.setdefault(sha, []).append(i)

    todo: list[tuple[str, Any]] = []  # (sha, PIL image)

    def fill(sha: str, feature: torch.Tensor | None, error: str | None, cached: bool) -> None:
        for i in by_sha[sha]:
            out[i] = ImageResult(str(paths[i]), feature, sha, error, cached)

    def flush() -> None:
        if not todo:
            return
        pixels = image_encoder.preprocess([img for _, img in todo])
        device = next((p.device for p in image_encoder.parameters()), torch.device("cpu"))
        pooled = image_encoder(pixels.to(device)).pooled.float().cpu()
        for (sha, _), feat in zip(todo, pooled):
            feat = feat.clone()
            if cache is not None:
                cache.put(sha, feat)
            fill(sha, feat, None, False)
        todo.clear()

    for sha, rows in by_sha.items():
        hit = cache.get(sha) if cache is not None else None
        if hit is not None:
            fill(sha, hit, None, True)
            continue
        path = str(paths[rows[0]])
        try:
            todo.append((sha, load_image(path)))
        except XsentError as e:
            fill(sha, None, str(e), False)
            continue
        except Exception as e:  # a reader bug must not stop a whole batch
            fill(sha, None, f"image {path}: unreadable ({type(e).__name__}: {e})", False)
            continue
        if len(todo) >= batch_size:
            flush()
    flush()
    return out
