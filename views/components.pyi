"""Gradio components with xsent's input checks built in."""
from __future__ import annotations

from typing import Any

import gradio as gr

from gradio.events import Dependency

class CheckedImage(gr.Image):
    """`gr.Image` whose unreadable uploads become a message.

    Gradio opens an uploaded image itself, before any handler runs, and an error
    there reaches the user as an empty error. A text file renamed .jpg, a corrupt
    file or a decompression bomb now gets one sentence naming the file as uploaded
    (never the server's upload path).
    """

    is_template = True  # rendered by the frontend's own Image component

    def preprocess(self, payload: Any) -> Any:
        try:
            return super().preprocess(payload)
        except gr.Error:
            raise
        except Exception as e:  # PIL raises several kinds; the user needs the gist, not the class
            from PIL import Image

            name = getattr(payload, "orig_name", None) or "the image"
            if isinstance(e, Image.DecompressionBombError):
                reason = "has too many pixels to open safely"
            elif isinstance(e, Image.UnidentifiedImageError):
                reason = "is not an image (unknown or unsupported format)"
            else:
                reason = "is corrupt or unreadable"
            raise gr.Error(f"{name} {reason}; choose another image") from None
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component