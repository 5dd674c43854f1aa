"""Models tab: the registry (shipped defaults and models trained in the app); set default; delete."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import gradio as gr

from xsent_core.types import XsentError

from .event_data import selected_row_value
from .services import Services

HEADERS = ["name", "method", "default", "shipped", "encoder", "data", "metrics", "created"]
_MAIN_KEYS = ("f1", "macro_f1", "accuracy")


def metrics_summary(metrics: Mapping[str, Any], limit: int = 6) -> str:
    """One line of the headline numbers: nested blocks (dev, test sets, before/after) flattened."""
    parts: list[str] = []

    def main_of(block: Mapping[str, Any]) -> str | None:
        for k in _MAIN_KEYS:
            v = block.get(k)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return f"{k}={v:.3f}"
        return None

    top = main_of(metrics)
    if top:
        parts.append(top)
    for name, block in metrics.items():
        if name == "test" and isinstance(block, Mapping):
            for lang, sub in block.items():
                if isinstance(sub, Mapping) and (m := main_of(sub)):
                    parts.append(f"{lang} {m}")
        elif isinstance(block, Mapping) and name not in ("heldout", "train_report") and (m := main_of(block)):
            parts.append(f"{name} {m}")
    return "; ".join(parts[:limit]) + (" …" if len(parts) > limit else "")


def model_rows(records: Sequence[Any]) -> list[list[Any]]:
    rows = []
    for r in records:
        rows.append([
            r.name,
            r.method,
            "★" if r.is_default else "",
            "yes" if r.shipped else "",
            (r.encoder or "")[:24].replace(";", "; "),
            r.data or "",
            metrics_summary(r.metrics or {}),
            (r.created or "")[:16].replace("T", " "),
        ])
    return rows


def set_default(services: Services, name: str) -> str:
    if not name:
        raise XsentError("choose a model first")
    record = services.store.get_model(name)
    services.store.set_default_model(record.method, record.name)
    return f"✓ `{record.name}` is now the default **{record.method}** model (Predict uses it when no model is chosen)."


def delete_model(services: Services, name: str) -> str:
    if not name:
        raise XsentError("choose a model first")
    record = services.store.delete_model(name)  # refuses shipped models with a clear message
    services.models.forget(record.name)
    return f"`{record.name}` removed from the registry (its folder `{record.path}` was left on disk)."


def build(services: Services) -> None:
    with gr.Tab("Models", id="models") as tab:
        gr.Markdown(
            "The model registry: shipped defaults (cannot be deleted) and models trained in the Train tab. "
            "The default model of each method is what Predict uses when no model is chosen."
        )
        # fixed widths so long metrics wrap inside the page instead of pushing `created` out of it; tall
        # enough for the seven shipped models and a few trained ones before it scrolls (500 px hid two)
        table = gr.Dataframe(headers=HEADERS, interactive=False, wrap=True, elem_id="models-table", max_height=1100,
                             column_widths=["13%", "10%", "7%", "7%", "10%", "14%", "27%", "12%"])
        with gr.Row():
            choice = gr.Dropdown([], label="Model", elem_id="models-choice", scale=3)
            refresh = gr.Button("Refresh", size="sm", elem_id="models-refresh")
            make_default = gr.Button("Set as default", variant="primary", elem_id="models-default")
            delete = gr.Button("Delete", variant="stop", elem_id="models-delete")
        status = gr.Markdown(elem_id="models-status")

        def listing(selected: str | None = None):
            records = services.store.list_models()
            names = [r.name for r in records]
            value = selected if selected in names else None
            return model_rows(records), gr.update(choices=names, value=value)

        def on_refresh(selected: str | None):
            return (*listing(selected), "")

        def on_default(name: str | None):
            try:
                msg = set_default(services, name or "")
            except XsentError as e:
                msg = f"✗ {e}"
            return (*listing(name), msg)

        def on_delete(name: str | None):
            try:
                msg = delete_model(services, name or "")
            except XsentError as e:
                msg = f"✗ {e}"
            return (*listing(None), msg)

        def on_pick(evt: gr.EventData):
            row = selected_row_value(evt)
            name = row[0] if row else None
            return name if isinstance(name, str) and name else gr.update()

        outs = [table, choice, status]
        tab.select(on_refresh, choice, outs, api_name="models_tab")
        refresh.click(on_refresh, choice, outs, api_name="models_list")
        make_default.click(on_default, choice, outs, api_name="models_set_default")
        delete.click(on_delete, choice, outs, api_name="models_delete")
        table.select(on_pick, None, choice, api_name="models_pick")
