"""Pure helpers that turn predictions into what Gradio components display.

Kept free of Gradio so they are unit-tested directly.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from xsent_core.types import AspectSpan, Prediction

POLARITY_COLORS = {"positive": "#2e9d5b", "neutral": "#8a8f98", "negative": "#d64545"}


def highlight_segments(text: str, spans: Iterable[AspectSpan]) -> list[tuple[str, str | None]]:
    """Split `text` into (segment, polarity-or-None) covering every character once."""
    out: list[tuple[str, str | None]] = []
    pos = 0
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        if span.start < pos or span.end > len(text):
            continue  # overlapping or out-of-range spans are not drawn twice
        if span.start > pos:
            out.append((text[pos : span.start], None))
        out.append((text[span.start : span.end], span.polarity))
        pos = span.end
    if pos < len(text):
        out.append((text[pos:], None))
    return out


def label_value(prediction: Prediction) -> dict[str, float] | None:
    """gr.Label wants {label: probability}."""
    return dict(prediction.probs) if prediction.probs else None


def summary_markdown(method: str, model_name: str, prediction: Prediction, extra: Sequence[str] = ()) -> str:
    lines = [f"**{method}** · model `{model_name}`"]
    if prediction.label:
        conf = max(prediction.probs.values()) if prediction.probs else None
        lines.append(f"Sentence label: **{prediction.label}**" + (f" ({conf:.0%})" if conf is not None else ""))
    if prediction.spans is not None:
        if prediction.spans:
            parts = [f"`{s.text}` → {s.polarity} ({s.score:.0%})" for s in prediction.spans]
            lines.append("Aspects: " + "; ".join(parts))
        else:
            lines.append("No aspect terms found.")
    lines += list(prediction.notes)  # what the method says about this prediction, in its own words
    for w in list(prediction.warnings) + list(extra):
        lines.append(f"⚠️ {w}")
    if prediction.error:
        lines.append(f"❌ {prediction.error}")
    return "  \n".join(lines)


def prediction_rows(rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """Compact table for batch results: id, text (cut), label/spans, error."""
    table = []
    for row in rows:
        spans = row.get("spans")
        shown = row.get("label") or (", ".join(f"{s['text']}:{s['polarity']}" for s in spans) if spans else "")
        text = str(row.get("text", ""))
        table.append([row.get("id", ""), text[:80] + ("…" if len(text) > 80 else ""), shown, row.get("error", "")])
    return table
