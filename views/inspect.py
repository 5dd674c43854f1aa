"""Inspect tab: what a model looked at, from its `explain(example)` JSON.

Each method's `explain()` returns typed panels (per-token scores, matrices with
tokens on the axes, distributions, value spreads); this tab draws them by type.
A method that is not installed or not trained says so.
"""
from __future__ import annotations

from typing import Any

import gradio as gr

from xsent_core.types import Example, XsentError

from .figures import explain_figures
from .services import Services

MAX_PANELS = 6  # plot slots; an explanation with more panels shows its first six (all are in the raw JSON)
EXAMPLE = "ဒီဆိုင်က အစားအသောက် အရမ်းကောင်းတယ်"


def explain_one(services: Services, method: str, model_name: str | None, text: str, translation: str | None) -> tuple[Any, dict[str, Any]]:
    if not (text or "").strip():
        raise XsentError("Type a sentence to inspect.")
    record, model = services.models.get(method, model_name or None)
    example = Example(id="inspect", text=text)
    spec = services.method_specs().get(method)
    if spec is not None and spec.takes_translation and (translation or "").strip():
        data = model.explain(example, translation=translation.strip())
    else:
        data = model.explain(example)
    return record, data


def notes_markdown(method: str, record: Any, data: dict[str, Any]) -> str:
    lines = [f"**{method}** · model `{record.name}`"]
    if data.get("label"):
        lines.append(f"Label: **{data['label']}**")
    teacher = data.get("teacher")
    if "teacher" in data:  # a teacher-student method says which English sentence taught it
        if isinstance(teacher, dict):
            how = {"translation": "your translation", "nearest_training_sentence": "the nearest English training sentence"}.get(teacher.get("source"), teacher.get("source"))
            lines.append(f"Teacher (English) = {how}: “{teacher.get('text')}”")
        else:
            lines.append("No English teacher for this sentence: attention maps are not available.")
    if "heads_agree" in data:
        lines.append(f"Heads agree: {'yes' if data['heads_agree'] else '**no**'} (decided by {data.get('decided_by')})")
    if data.get("gate_meaning"):
        lines.append(f"Gate: {data['gate_meaning']}")
    for w in data.get("warnings") or ():
        lines.append(f"⚠ {w}")
    return "  \n".join(lines)


def inspect_choices(services: Services) -> tuple[list[str], str | None]:
    """Methods with something to explain, and the default: the first that also takes a
    translation (its view shows the most), else the first."""
    names = services.methods_where(lambda spec: spec.inspectable)
    richest = services.methods_where(lambda spec: spec.inspectable and spec.takes_translation)
    return names, (richest or names or [None])[0]


def build(services: Services) -> None:
    specs = services.method_specs()
    names, default = inspect_choices(services)
    with gr.Tab("Inspect", id="inspect"):
        gr.Markdown(
            "See what a model attends to. Pick a method: " + "; ".join(f"**{m}**: {specs[m].shows}" for m in names) + ". "
            "Hover a cell for its value."
        )
        with gr.Row():
            text = gr.Textbox(label="Text", value=EXAMPLE, lines=2, scale=4, elem_id="inspect-text")
            with gr.Column(scale=2):
                method = gr.Dropdown(names, value=default, label="Method", elem_id="inspect-method")
                model_name = gr.Dropdown([], value=None, label="Model (default if empty)", elem_id="inspect-model")
        with_translation = ", ".join(m for m in names if specs[m].takes_translation)
        translation = gr.Textbox(
            label=f"English translation for the teacher path of {with_translation} (optional; else the nearest English training sentence)",
            elem_id="inspect-translation", visible=bool(default and specs[default].takes_translation),
        )
        go_btn = gr.Button("Explain", variant="primary", elem_id="inspect-button")
        message = gr.Markdown(elem_id="inspect-message")
        plots = [gr.Plot(visible=False, elem_id=f"inspect-panel-{i}") for i in range(MAX_PANELS)]
        with gr.Accordion("Raw explain() output", open=False):
            raw = gr.JSON(label="explain() output", elem_id="inspect-json")

        def hidden_all(msg: str):
            return (msg, *[gr.update(visible=False, value=None) for _ in plots], None)

        def on_explain(t: str, m: str, name: str | None, tr: str | None):
            try:
                record, data = explain_one(services, m, name, t, tr)
            except XsentError as e:
                return hidden_all(f"✗ {e}")
            try:
                figs = explain_figures(data)
            except (ValueError, TypeError) as e:  # a method returned a malformed panel: say so, keep the JSON
                figs = []
                data = {**data, "warnings": [*(data.get("warnings") or ()), f"a panel could not be drawn: {e}"]}
            msg = notes_markdown(m, record, data)
            if not figs:
                msg += "  \nThis model's explanation has nothing to plot."
            shown = figs[:MAX_PANELS]
            updates = [
                gr.update(visible=True, value=shown[i][1], label=shown[i][0]) if i < len(shown) else gr.update(visible=False, value=None)
                for i in range(MAX_PANELS)
            ]
            return (msg, *updates, data)

        def on_method(m: str):
            try:
                names = services.models.model_names(m)
            except XsentError:
                names = []
            spec = services.method_specs().get(m)
            return gr.update(choices=names, value=None), gr.update(visible=bool(spec and spec.takes_translation))

        outs = [message, *plots, raw]
        go_btn.click(on_explain, [text, method, model_name, translation], outs, api_name="inspect")
        method.change(on_method, method, [model_name, translation], api_name="inspect_models")
