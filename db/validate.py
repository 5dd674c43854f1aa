"""Checks on what annotators save, with messages meant for them."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable, Mapping

from xsent_core.types import POLARITIES, SENTIMENT_LABELS, AspectSpan, InputError


def check_text(text: str, where: str) -> str:
    """Text SQLite can store: a lone surrogate (e.g. from a JSON "\\ud800") cannot be encoded."""
    from xsent_core.data._io import check_unicode

    return check_unicode(text, where)


def check_annotator(annotator: str) -> str:
    name = (annotator or "").strip() if isinstance(annotator, str) else ""
    if not name:
        raise InputError("an annotation needs an annotator name")
    return check_text(name, "the annotator name")


def check_number(value: object, what: str) -> int:
    """A whole number SQLite can hold (ids, versions): 1 .. 2**63 - 1."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise InputError(f"{what} must be a whole number from 1 up, got {str(value)[:40]!r}")
    return value


def check_label(label: str | None, where: str) -> str | None:
    if label is None or label == "":
        return None
    if label not in SENTIMENT_LABELS:
        raise InputError(f"{where}: unknown label {label!r}; expected one of {SENTIMENT_LABELS}")
    return label


def check_spans(
    spans: Iterable[AspectSpan | Mapping[str, Any]] | None, text: str, where: str
) -> tuple[AspectSpan, ...]:
    """Spans as AspectSpans sorted by start: non-empty, inside `text`, not overlapping.

    A span whose `text` is empty gets the covered text filled in; one whose text
    disagrees with the document is refused (its offsets are off).
    """
    checked: list[AspectSpan] = []
    for i, raw in enumerate(spans or (), start=1):
        span = _as_span(raw, f"{where}: aspect span {i}")
        label = f"{where}: aspect span {i} [{span.start}, {span.end})"
        if span.end > len(text):
            raise InputError(f"{label} ends past the end of the text ({len(text)} characters)")
        covered = text[span.start : span.end]
        if not covered.strip():
            raise InputError(f"{label} covers no text (only spaces)")
        if span.text and span.text != covered:
            raise InputError(f"{label} says {span.text!r} but the text there is {covered!r}")
        checked.append(span if span.text else replace(span, text=covered))
    checked.sort(key=lambda s: (s.start, s.end))
    for a, b in zip(checked, checked[1:]):
        if b.start < a.end:
            raise InputError(
                f"{where}: aspect spans [{a.start}, {a.end}) {a.text!r} and "
                f"[{b.start}, {b.end}) {b.text!r} overlap"
            )
    return tuple(checked)


def _as_span(raw: AspectSpan | Mapping[str, Any], label: str) -> AspectSpan:
    if isinstance(raw, AspectSpan):
        # Re-check: a span may have been built around __post_init__ (object.__setattr__).
        if raw.polarity not in POLARITIES:
            raise InputError(f"{label}: unknown polarity {raw.polarity!r}; expected one of {POLARITIES}")
        if not 0 <= raw.start < raw.end:
            raise InputError(f"{label}: empty or negative span [{raw.start}, {raw.end})")
        return raw
    if isinstance(raw, Mapping):
        try:
            return AspectSpan.from_dict(raw)
        except KeyError as e:
            raise InputError(f"{label}: missing {e.args[0]!r}") from None
        except (TypeError, ValueError) as e:
            raise InputError(f"{label}: {e}") from None
    raise InputError(f"{label}: expected an AspectSpan or a mapping, got {type(raw).__name__}")
