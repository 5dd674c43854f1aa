"""Write a set of examples as CoNLL BIES, JSONL, Label Studio tasks or a Hugging Face `datasets` folder."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

from ..types import Example, InputError

FORMATS = ("conll", "jsonl", "hf", "labelstudio")


def hf_rows(examples: Sequence[Example]) -> dict[str, list]:
    """Columnar view with a fixed schema (spans as parallel lists), friendly to `datasets`."""
    cols: dict[str, list] = {k: [] for k in ("id", "text", "lang", "label", "image", "span_start", "span_end", "span_polarity")}
    for ex in examples:
        spans = ex.spans or ()
        cols["id"].append(ex.id)
        cols["text"].append(ex.text)
        cols["lang"].append(ex.lang or "")
        cols["label"].append(ex.label or "")
        cols["image"].append(ex.image or "")
        cols["span_start"].append([s.start for s in spans])
        cols["span_end"].append([s.end for s in spans])
        cols["span_polarity"].append([s.polarity for s in spans])
    return cols


def with_tokens(example: Example) -> Example:
    """Give a raw-text example tokens: xsent's word split, cut again at every span
    boundary, so annotated spans always fall on token boundaries (Burmese has no spaces)."""
    if example.tokens is not None:
        return example
    from dataclasses import replace

    from ..text import word_spans

    cuts = {b for s in (example.spans or ()) for b in (s.start, s.end)}
    pieces: list[tuple[int, int]] = []
    for start, end in word_spans(example.text, example.lang):
        inner = sorted(c for c in cuts if start < c < end)
        bounds = [start, *inner, end]
        pieces.extend((a, b) for a, b in zip(bounds, bounds[1:]) if example.text[a:b].strip())
    tokens = tuple(example.text[a:b] for a, b in pieces)
    return replace(example, tokens=tokens, token_offsets=tuple(pieces))


def export_examples(examples: Sequence[Example], to: str, out: str | os.PathLike[str]) -> Path:
    """Export; `out` is a file for conll/jsonl/labelstudio and a folder for hf. Written atomically."""
    from .conll import write_conll
    from .jsonl import write_jsonl

    target = Path(out)
    if to != "hf" and target.is_dir():
        raise InputError(f"{target} is a folder; give a file name for the {to} export (e.g. {target / ('data.' + to)})")
    if to == "conll":
        write_conll(target, [with_tokens(ex) for ex in examples])
    elif to == "jsonl":
        write_jsonl(target, examples)
    elif to == "labelstudio":
        from .labelstudio import examples_to_tasks, write_labelstudio

        write_labelstudio(target, examples_to_tasks(examples))
    elif to == "hf":
        from datasets import Dataset

        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            Dataset.from_dict(hf_rows(examples)).save_to_disk(str(tmp))
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    else:
        raise InputError(f"unknown export format {to!r}; choose one of {', '.join(FORMATS)}")
    return target
