"""File helpers shared by the readers/writers: strict decoding, atomic writes."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

from ..types import InputError


def open_binary(path: str | os.PathLike[str]) -> IO[bytes]:
    """The file opened for reading; InputError saying why not (missing, a folder, unreadable)."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    with open_binary(path) as f:
        try:
            return f.read()
        except OSError as e:  # e.g. reading a folder on some systems, an I/O error
            raise InputError(f"{path}: cannot read ({e.strerror or e})") from None


def decode_utf8(data: bytes, path: str | os.PathLike[str], byte_base: int = 0, line: int | None = None) -> str:
    """Strict UTF-8 decode; InputError naming the byte position and line.

    A leading BOM is dropped when `byte_base` is 0 (start of file).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        lineno = line if line is not None else data.count(b"\n", 0, e.start) + 1
        raise InputError(
            f"{path}: line {lineno}: invalid UTF-8 at byte {byte_base + e.start} "
            f"({data[e.start:e.end]!r}); save the file as UTF-8"
        ) from None
    if byte_base == 0 and text.startswith("\ufeff"):
        text = text[1:]
    return text


def iter_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its newline) one at a time, strictly UTF-8.

    Streaming, so a caller that stops early (a row limit) never reads the rest.
    """
    with open_binary(path) as f:
        byte_pos = 0
        for lineno, raw in enumerate(f, start=1):
            yield lineno, decode_utf8(raw, path, byte_base=byte_pos, line=lineno).rstrip("\r\n")
            byte_pos += len(raw)


def read_json(path: str | os.PathLike[str], shown: str | os.PathLike[str] | None = None) -> Any:
    """A whole JSON file, strictly UTF-8; InputError naming `shown` (default: the path) and the line."""
    shown = path if shown is None else shown
    data = decode_utf8(read_bytes(path), shown)
    try:
        return json.loads(data)
    except json.JSONDecodeError as e:
        raise InputError(f"{shown}: line {e.lineno} column {e.colno}: invalid JSON ({e.msg})") from None
    except RecursionError:
        raise InputError(f"{shown}: JSON nested too deeply") from None


def check_unicode(value: str, where: str) -> str:
    """Refuse lone surrogates (e.g. a JSON "\\ud800"): they cannot be stored or shown."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InputError(f"{where}: invalid Unicode (lone surrogate at character {e.start})") from None
    return value


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """Write to a temp file beside `path`, then rename over it; nothing on failure."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
