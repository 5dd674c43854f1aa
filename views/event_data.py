"""Reading event data sent by the browser (or by anyone calling the API: any JSON at all)."""
from __future__ import annotations

from typing import Any


def payload(event: Any) -> dict[str, Any]:
    """The event's data as a dict ({} when it is anything else)."""
    data = getattr(event, "_data", None)
    return data if isinstance(data, dict) else {}


def selected_row(event: Any) -> int | None:
    """The row index of a table selection ([row, column] or a bare row), or None when there is none."""
    index = payload(event).get("index")
    if isinstance(index, (list, tuple)) and index:
        index = index[0]
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        return None
    return index


def selected_row_value(event: Any) -> list[Any] | None:
    """The cells of the selected row, as the table showed them."""
    row = payload(event).get("row_value")
    return row if isinstance(row, list) and row else None
