"""`load_image`: RGB out, EXIF orientation applied, clear errors naming the file."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from xsent_core.images import load_image
from xsent_core.types import InputError


def _jpeg_bytes(size=(64, 48), exif=None) -> bytes:
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, **({"exif": exif} if exif is not None else {}))
    return buf.getvalue()


def test_plain_jpeg_path_and_bytes(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(_jpeg_bytes())
    for source in (path, str(path), path.read_bytes()):
        img = load_image(source)
        assert img.mode == "RGB" and img.size == (64, 48)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"not found: .*nope\.jpg"):
        load_image(tmp_path / "nope.jpg")


def test_directory_is_refused(tmp_path):
    with pytest.raises(InputError, match="not a file"):
        load_image(tmp_path)


def test_text_renamed_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"notes\.png is not an image"):
        load_image(path)


def test_truncated_jpeg(tmp_path):
    data = _jpeg_bytes((128, 128))
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(InputError, match=r"cut\.jpg is truncated or corrupt"):
        load_image(path)


def test_corrupt_bytes_named(tmp_path):
    data = bytearray(_jpeg_bytes((128, 128)))
    data[200:] = b"\x00" * (len(data) - 200)
    with pytest.raises(InputError, match="upload.jpg"):
        load_image(bytes(data), name="upload.jpg")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.png is empty \(0 bytes\)"):
        load_image(path)


def test_zero_size_image_header(tmp_path):
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 0, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")
    path = tmp_path / "zero.png"
    path.write_bytes(png)
    with pytest.raises(InputError, match=r"zero\.png"):
        load_image(path)


def test_too_many_bytes_and_pixels(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (300, 200), (10, 20, 30)).save(path)
    with pytest.raises(InputError, match=r"big\.png is too large"):
        load_image(path, max_bytes=100)
    with pytest.raises(InputError, match=r"big\.png has too many pixels: 300x200"):
        load_image(path, max_pixels=50_000)
    assert load_image(path, max_pixels=60_000).size == (300, 200)


def test_rgba_composited_on_white(tmp_path):
    rgba = Image.new("RGBA", (2, 1))
    rgba.putpixel((0, 0), (255, 0, 0, 255))  # opaque red
    rgba.putpixel((1, 0), (0, 0, 255, 0))  # fully transparent blue
    path = tmp_path / "alpha.png"
    rgba.save(path)
    img = load_image(path)
    assert img.mode == "RGB"
    assert img.getpixel((0, 0)) == (255, 0, 0)
    assert img.getpixel((1, 0)) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "I;16", "CMYK"])
def test_other_modes_become_rgb(tmp_path, mode):
    if mode == "I;16":
        img = Image.fromarray(np.full((3, 4), 65535, dtype=np.uint16))
    else:
        img = Image.new("RGB", (4, 3), (255, 255, 255)).convert(mode)
    path = tmp_path / ("img.tiff" if mode == "CMYK" else "img.png")
    img.save(path)
    out = load_image(path)
    assert out.mode == "RGB" and out.size == (4, 3)
    assert out.getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees clockwise
    path = tmp_path / "rotated.jpg"
    path.write_bytes(_jpeg_bytes((40, 20), exif=exif))
    with Image.open(path) as raw:
        assert raw.size == (40, 20)
    assert load_image(path).size == (20, 40)
