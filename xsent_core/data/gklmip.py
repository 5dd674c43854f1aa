"""Reader for the GKLMIP Myanmar product-review sentiment data (JSON array)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from ..types import Example, InputError
from ._io import check_unicode, read_json

# CTAM's 3-class mapping of star ratings.
STARS_TO_LABEL: dict[int, str] = {1: "negative", 2: "negative", 3: "neutral", 4: "neutral", 5: "positive"}


def _stars(value: Any, where: str) -> int:
    # Stars come as strings "1".."5"; plain ints are accepted too (not bools/floats).
    if isinstance(value, str) and value.strip() in {"1", "2", "3", "4", "5"}:
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5:
        return value
    raise InputError(f"{where}: label must be a star rating \"1\"..\"5\", got {value!r:.60}")


def read_gklmip(
    path: str | os.PathLike[str],
    normalize: Callable[[str], str] | None = None,
) -> list[Example]:
    """Examples from a GKLMIP JSON file: ``[{"text", "label": "1".."5", "bpe"}, ...]``.

    label is the 3-class mapping (1-2 negative, 3-4 neutral, 5 positive),
    meta["stars"] the rating; lang "my"; id ``"{stem}:{row}"``; ``bpe`` is
    ignored. `normalize` (e.g. Zawgyi->Unicode, zero-width cleanup) is applied
    to the text; when it changes it, the original is kept in meta["raw_text"].
    Errors name the file and the 0-based row index.
    """
    rows = read_json(path)
    if not isinstance(rows, list):
        raise InputError(f"{path}: expected a JSON array of rows, got {type(rows).__name__}")
    stem = Path(path).stem
    examples = []
    for i, row in enumerate(rows):
        where = f"{path}: row {i}"
        if not isinstance(row, dict):
            raise InputError(f"{where}: expected an object, got {type(row).__name__}")
        if "text" not in row or "label" not in row:
            raise InputError(f"{where}: missing 'text' or 'label'")
        raw = row["text"]
        if not isinstance(raw, str) or not raw.strip():
            raise InputError(f"{where}: 'text' must be a non-empty string")
        check_unicode(raw, where)
        stars = _stars(row["label"], where)
        meta: dict[str, Any] = {"source": "gklmip", "stars": stars}
        text = raw
        if normalize is not None:
            try:
                text = normalize(raw)
            except Exception as e:  # a user-facing error beats a bare traceback
                raise InputError(f"{where}: normalisation failed: {e}") from e
            if not isinstance(text, str) or not text.strip():
                raise InputError(f"{where}: normalisation returned {text!r:.60}, expected non-empty text")
            if text != raw:
                meta["raw_text"] = raw
        examples.append(
            Example(id=f"{stem}:{i}", text=text, lang="my", label=STARS_TO_LABEL[stars], meta=meta)
        )
    return examples
