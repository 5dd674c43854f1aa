"""CSV files the app writes, safe to open in a spreadsheet.

A cell that starts with = + - @ (or a tab / carriage return) is a formula to Excel,
LibreOffice and Google Sheets, and a typed word such as `=HYPERLINK(...)` would run.
OWASP's rule: prefix such text cells with a single quote. Numbers are left as they are.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(frame: Any, path: Path) -> Path:
    """A pandas DataFrame as CSV with every text cell (and header) neutralised."""
    from pandas.api.types import is_numeric_dtype

    safe = frame.rename(columns=lambda c: neutralise_cell(str(c)))
    for column in safe.columns:
        if not is_numeric_dtype(safe[column]):  # text columns, whatever pandas calls their dtype
            safe[column] = safe[column].map(neutralise_cell)
    safe.to_csv(path, index=False)
    return path
