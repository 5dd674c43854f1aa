"""Dataset readers/writers; every reader returns ``types.Example`` records.

``load_examples("FORMAT:PATH")`` picks the reader by prefix: semeval, gklmip,
jsonl, conll, csv. Without a known prefix, the extension decides for
``.jsonl``, ``.csv`` and ``.conll``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..types import Example, InputError
from .conll import iter_conll, read_conll, write_conll
from .gklmip import read_gklmip
from .jsonl import iter_csv, iter_jsonl, read_jsonl, write_jsonl
from .labelstudio import examples_from_labelstudio
from .semeval import iter_semeval, read_semeval
from .splits import stratified_split

__all__ = [
    "FORMATS",
    "iter_conll",
    "iter_csv",
    "iter_examples",
    "iter_jsonl",
    "iter_semeval",
    "load_examples",
    "read_conll",
    "read_gklmip",
    "read_jsonl",
    "read_semeval",
    "sentence_level",
    "stratified_split",
    "write_conll",
    "write_jsonl",
]

FORMATS: dict[str, Callable[[str], Iterable[Example]]] = {
    "semeval": iter_semeval,
    "gklmip": read_gklmip,
    "jsonl": iter_jsonl,
    "conll": iter_conll,
    "csv": iter_csv,
    "labelstudio": examples_from_labelstudio,  # each task with its latest annotation
}
_BY_SUFFIX = {".jsonl": "jsonl", ".csv": "csv", ".conll": "conll"}


def load_examples(spec: str) -> list[Example]:
    """Read a dataset given as ``"FORMAT:PATH"`` (e.g. ``"semeval:data/gold-fr-test.txt"``).

    InputError for an unknown format, a missing file, or bad content.
    """
    return list(iter_examples(spec))


def iter_examples(spec: str) -> Iterator[Example]:
    """The examples of ``"FORMAT:PATH"`` one at a time: the line-based formats (semeval,
    conll, jsonl, csv) are read as they are consumed, so a caller with a row limit stops
    reading there; JSON formats (gklmip, labelstudio) are parsed whole first.

    The format and the file are checked at once (InputError); content errors come
    while iterating.
    """
    fmt, sep, path = spec.partition(":")
    # A word before ':' is a format name; one letter is a Windows drive.
    if not (sep and len(fmt) > 1 and fmt.isidentifier()):
        fmt, path = _BY_SUFFIX.get(Path(spec).suffix.lower(), ""), spec
    if fmt not in FORMATS:
        raise InputError(
            f"unknown dataset {spec!r}: write FORMAT:PATH with FORMAT one of {', '.join(FORMATS)}"
        )
    if not path:
        raise InputError(f"dataset {spec!r}: no path after '{fmt}:'")
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"{path}: file not found" if not p.exists() else f"{path}: not a file")
    return iter(FORMATS[fmt](str(p)))


def sentence_level(examples: Iterable[Example]) -> list[Example]:
    """The examples that carry a sentence label (drops mixed/no-aspect SemEval rows)."""
    return [ex for ex in examples if ex.label is not None]
