"""Inspect tab: what a model looked at, from its `explain(example)` JSON.

VXLM: gate per word (heatmap) and per dimension (histogram). CTAM: the same
plus teacher->student and student->teacher attention with tokens on the axes.
MSMO / tagger: per-word tag probabilities. LFD-RT: both heads and the fusion
attention. A method that is not installed or not trained says so.
"""
from __future__ import annotations

from typing import Any

import gradio as gr

from xsent_core.types import Example, XsentError

from .figures import explain_figures
from .services import Services

INSPECT_METHODS = ("ctam", "vxlm", "msmo", "tagger", "lfdrt")
PLOTS = ("tokens", "hist", "t2s", "s2t", "tags", "heads")
EXAMPLE = "ဒီဆိုင်က အစားအသောက် အရမ်းကောင်းတယ်"
SHOWS = {
    "ctam": "gate heatmap + histogram, and the two attention maps",
    "vxlm": "gate heatmap + per-dimension histogram",
    "msmo": "tag probabilities per word",
    "tagger": "tag probabilities per word",
    "lfdrt": "both heads and the fusion attention",
}


def explain_one(services: Services, method: str, model_name: str | None, text: str, translation: str | None) -> tuple[Any, dict[str, Any]]:
    if not (text or "").strip():
        raise XsentError("Type a sentence to inspect.")
    record, model = services.models.get(method, model_name or None)
    example = Example(id="inspect", text=text)
    if method == "ctam" and (translation or "").strip():
        data = model.explain(example, translation=translation.strip())
    else:
        data = model.explain(example)
    return record, data


def notes_markdown(method: str, record: Any, data: dict[str, Any]) -> str:
    lines = [f"**{method}** · model `{record.name}`"]
    if data.get("label"):
        lines.append(f"Label: **{data['label']}**")
    teacher = data.get("teacher")
    if method == "ctam":
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


def build(services: Services) -> None:
    with gr.Tab("Inspect", id="inspect"):
        gr.Markdown(
            "See what a model attends to. Pick a method: " + "; ".join(f"**{m}**: {s}" for m, s in SHOWS.items()) + ". "
            "Hover a cell for its value."
        )
        with gr.Row():
            text = gr.Textbox(label="Text", value=EXAMPLE, lines=2, scale=4, elem_id="inspect-text")
            with gr.Column(scale=2):
                method = gr.Dropdown(list(INSPECT_METHODS), value="ctam", label="Method", elem_id="inspect-method")
                model_name = gr.Dropdown([], value=None, label="Model (default if empty)", elem_id="inspect-model")
        translation = gr.Textbox(label="English translation for CTAM's teacher path (optional; else the nearest English training sentence)", elem_id="inspect-translation")
        go_btn = gr.Button("Explain", variant="primary", elem_id="inspect-button")
        message = gr.Markdown(elem_id="inspect-message")
        with gr.Row():
            p_tokens = gr.Plot(label="Per token", visible=False, elem_id="inspect-tokens")
            p_heads = gr.Plot(label="Heads", visible=False, elem_id="inspect-heads")
        p_hist = gr.Plot(label="Gate histogram", visible=False, elem_id="inspect-hist")
        p_t2s = gr.Plot(label="Teacher → student attention", visible=False, elem_id="inspect-t2s")
        p_s2t = gr.Plot(label="Student → teacher attention", visible=False, elem_id="inspect-s2t")
        p_tags = gr.Plot(label="Tag probabilities", visible=False, elem_id="inspect-tags")
        with gr.Accordion("Raw explain() output", open=False):
            raw = gr.JSON(label="explain() output", elem_id="inspect-json")
        plots = {"tokens": p_tokens, "hist": p_hist, "t2s": p_t2s, "s2t": p_s2t, "tags": p_tags, "heads": p_heads}

        def hidden_all(msg: str):
            return (msg, *[gr.update(visible=False, value=None) for _ in PLOTS], None)

        def on_explain(t: str, m: str, name: str | None, tr: str | None):
            try:
                record, data = explain_one(services, m, name, t, tr)
            except XsentError as e:
                return hidden_all(f"✗ {e}")
            figs = explain_figures(m, data)
            msg = notes_markdown(m, record, data)
            if not figs:
                msg += "  \nThis model's explanation has nothing to plot."
            updates = [gr.update(visible=k in figs, value=figs.get(k)) for k in PLOTS]
            return (msg, *updates, data)

        def on_method(m: str):
            try:
                names = services.models.model_names(m)
            except XsentError:
                names = []
            return gr.update(choices=names, value=None), gr.update(visible=m == "ctam")

        outs = [message, *[plots[k] for k in PLOTS], raw]
        go_btn.click(on_explain, [text, method, model_name, translation], outs, api_name="inspect")
        method.change(on_method, method, [model_name, translation], api_name="inspect_models")
