"""Assemble the Blocks app from the tab modules."""
from __future__ import annotations

import base64
import importlib
from pathlib import Path

import gradio as gr

from .blocks import XsentBlocks
from .services import Services
from .static_files import static_text

# tab modules in display order; a tab whose module is absent is skipped
TABS = ("predict", "inspect", "alignment", "annotate", "train", "models")

MYANMAR_FONT = Path(__file__).resolve().parent.parent / "assets" / "fonts" / "NotoSansMyanmar-Regular.woff2"
MYANMAR_RANGES = "U+1000-109F, U+AA60-AA7F, U+A9E0-A9FF"


def page_css(font: Path = MYANMAR_FONT) -> str:
    """The app's CSS with the shipped Myanmar webfont inlined (no file route needed; 56 kB once per page).

    Its unicode-range limits it to Burmese, so other scripts keep the system font, and a
    machine without any Myanmar font still shows Burmese instead of boxes.
    """
    data = base64.b64encode(font.read_bytes()).decode("ascii")
    face = (
        '@font-face { font-family: "xsent Myanmar"; font-display: swap; '
        f'src: url(data:font/woff2;base64,{data}) format("woff2"); unicode-range: {MYANMAR_RANGES}; }}\n'
    )
    return face + static_text("app.css")


def build_app(services: Services) -> gr.Blocks:
    keep = services.settings.upload_keep_s
    # uploads (and files made for downloads) leave Gradio's temporary folder after `keep` seconds
    with XsentBlocks(title="xsent · cross-lingual sentiment workbench", delete_cache=(max(60, keep // 6), keep)) as demo:
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
