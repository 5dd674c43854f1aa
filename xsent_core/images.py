"""Load user images safely: one RGB `PIL.Image` or an `InputError` naming the file."""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Union

from PIL import Image, ImageOps, UnidentifiedImageError

from .types import InputError

MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview]


def _read(source: ImageSource, name: str, max_bytes: int) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = Path(source)
        if not path.exists():
            raise InputError(f"image file not found: {name}")
        if not path.is_file():
            raise InputError(f"image path is not a file: {name}")
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(f"image {name} is too large: {size / 2**20:.1f} MB (limit {max_bytes / 2**20:.0f} MB)")
        data = path.read_bytes()
    if not data:
        raise InputError(f"image {name} is empty (0 bytes)")
    if len(data) > max_bytes:
        raise InputError(f"image {name} is too large: {len(data) / 2**20:.1f} MB (limit {max_bytes / 2**20:.0f} MB)")
    return data


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB with alpha composited on white; 16/32-bit greys scaled to 8 bits."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        import numpy as np

        arr = np.asarray(img, dtype=np.float64)
        top = arr.max() if arr.size else 0.0
        scale = 255.0 / 65535.0 if top > 255 else 1.0
        img = Image.fromarray(np.clip(arr * scale, 0, 255).astype(np.uint8), mode="L")
    has_alpha = img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        img.mode == "P" and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def load_image(
    source: ImageSource,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    name: str | None = None,
) -> Image.Image:
    """Decode `source` (a path or the file's bytes) into an RGB image.

    EXIF orientation is applied. Raises `InputError` naming the file for a
    missing, empty, oversized, non-image, zero-size, truncated or corrupt input.
    `name` labels bytes input in messages.
    """
    if name is None:
        name = "<uploaded bytes>" if isinstance(source, (bytes, bytearray, memoryview)) else str(source)
    data = _read(source, name, max_bytes)
    try:
        with warnings.catch_warnings():
            # Pillow only warns below twice its own limit; we enforce ours below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as e:
        raise InputError(f"{name} is not an image (unknown or unsupported format)") from e
    except Image.DecompressionBombError as e:
        raise InputError(f"image {name} has too many pixels (limit {max_pixels:,})") from e
    except (OSError, ValueError, SyntaxError) as e:
        raise InputError(f"image {name} is corrupt: {e}") from e
    width, height = img.size
    if width <= 0 or height <= 0:
        raise InputError(f"image {name} has zero size ({width}x{height})")
    if width * height > max_pixels:
        raise InputError(
            f"image {name} has too many pixels: {width}x{height} = {width * height:,} (limit {max_pixels:,})"
        )
    try:
        img.load()  # decode everything now: truncated files fail here, not later
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise InputError(f"image {name} is truncated or corrupt: {e}") from e
    try:
        img = ImageOps.exif_transpose(img)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError):
        pass  # unreadable EXIF: keep the pixels as stored
    return _to_rgb(img)
