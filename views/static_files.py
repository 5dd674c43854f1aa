"""Front-end files of the views (views/static/*.js, *.css), kept as files so editors and linters
read them as JavaScript and CSS; read when a tab is built, never at import."""
from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"


def static_text(name: str) -> str:
    return (STATIC_DIR / name).read_text(encoding="utf-8")
