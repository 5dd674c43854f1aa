"""Assemble the Blocks app from the tab modules."""
from __future__ import annotations

import importlib

import gradio as gr

from .services import Services

# tab modules in display order; a tab whose module is absent is skipped
TABS = ("predict", "inspect", "alignment", "annotate", "train", "models")

CSS = """
#predict-spans { min-height: 80px; }
footer { display: none !important; }
"""


def build_app(services: Services) -> gr.Blocks:
    with gr.Blocks(title="xsent · cross-lingual sentiment workbench") as demo:
        gr.Markdown(
            "# xsent\nCross-lingual and multimodal sentiment analysis for low-resource languages "
            "(Burmese first): predict, inspect, align, annotate, fine-tune."
        )
        with gr.Tabs():
            for name in TABS:
                try:
                    module = importlib.import_module(f"views.{name}")
                except ModuleNotFoundError as e:
                    if e.name == f"views.{name}":
                        continue
                    raise
                module.build(services)
    return demo
