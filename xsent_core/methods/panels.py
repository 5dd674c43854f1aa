"""Typed parts of an explanation: what `explain()` shows, in a form a view can draw
without knowing the method (one drawing per panel type).

Every method's `explain()` returns its usual JSON plus `"panels"`: a list of
`panel_dict(...)` of the panels below, in display order.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence, Union


@dataclass(frozen=True)
class TokenScores:
    """One value per token (a gate, an attention weight); `offsets` into the input text."""

    title: str
    tokens: tuple[str, ...]
    values: tuple[float, ...]
    value_label: str
    offsets: tuple[tuple[int, int], ...] | None = None
    vmax: float = 1.0

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.values) or (self.offsets is not None and len(self.offsets) != len(self.tokens)):
            raise ValueError(f"{self.title}: tokens, values and offsets differ in length")


@dataclass(frozen=True)
class Matrix:
    """Rows x columns of weights with a token (or label) per row and per column."""

    title: str
    values: tuple[tuple[float, ...], ...]
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    row_label: str
    column_label: str

    def __post_init__(self) -> None:
        if len(self.values) != len(self.rows) or any(len(r) != len(self.columns) for r in self.values):
            raise ValueError(f"{self.title}: a {len(self.rows)} x {len(self.columns)} matrix was expected")


@dataclass(frozen=True)
class Distributions:
    """One or more named distributions over the same labels (class probabilities, heads)."""

    title: str
    series: Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class ValueSpread:
    """Per token, many values (e.g. a gate per embedding dimension), drawn as histograms."""

    title: str
    tokens: tuple[str, ...]
    values: tuple[tuple[float, ...], ...]
    value_label: str

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.values):
            raise ValueError(f"{self.title}: one row of values per token was expected")


Panel = Union[TokenScores, Matrix, Distributions, ValueSpread]
_TYPES: dict[str, type] = {"token_scores": TokenScores, "matrix": Matrix, "distributions": Distributions, "value_spread": ValueSpread}
_NAMES = {cls: name for name, cls in _TYPES.items()}


def panel_dict(panel: Panel) -> dict[str, Any]:
    """JSON form: the fields plus "type"."""
    return {"type": _NAMES[type(panel)], **asdict(panel)}


def panel_from_dict(data: Mapping[str, Any]) -> Panel:
    """Rebuild (and so validate) a panel from its JSON form; ValueError when malformed."""
    kind = data.get("type")
    if kind not in _TYPES:
        raise ValueError(f"unknown panel type {kind!r}; known: {', '.join(_TYPES)}")
    fields = {k: v for k, v in data.items() if k != "type"}
    for key in ("tokens", "rows", "columns"):
        if key in fields:
            fields[key] = tuple(fields[key])
    if "values" in fields:
        fields["values"] = tuple(tuple(map(float, v)) if isinstance(v, (list, tuple)) else float(v) for v in fields["values"])
    if fields.get("offsets") is not None:
        fields["offsets"] = tuple(tuple(o) for o in fields["offsets"])
    try:
        return _TYPES[kind](**fields)  # type: ignore[no-any-return]
    except TypeError as e:
        raise ValueError(f"malformed {kind} panel: {e}") from e


def panels_of(explanation: Mapping[str, Any]) -> list[Panel]:
    """The panels of an `explain()` output (none when it has no "panels")."""
    return [panel_from_dict(p) for p in explanation.get("panels") or ()]


def rounded(values: Sequence[float], digits: int = 4) -> tuple[float, ...]:
    return tuple(round(float(v), digits) for v in values)
