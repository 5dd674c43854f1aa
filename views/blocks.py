"""The app's Blocks: whatever a request carries, the answer is a message, never an empty error.

Two things happen inside Gradio, before and after any handler, that a handler cannot catch:
- reading the inputs (a file reference that was never uploaded, a table or number that does not
  parse, a list sent for a one-value dropdown): such a request now gets one sentence saying
  which input could not be read;
- anything else that fails unexpectedly is logged and answered with one sentence naming its kind;
- sending the answer: a lone surrogate (a JSON "\\ud800" in the request, echoed back in the
  answer) cannot be encoded, and the whole answer was lost. Every answer's text is made
  encodable (lone surrogates become U+FFFD) before Gradio serialises it.
"""
from __future__ import annotations

import copy
import re
from typing import Any

import gradio as gr

_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def without_surrogates(value: Any) -> Any:
    """`value` with every lone surrogate in its text replaced by U+FFFD; untouched (same object) when it has none."""
    if isinstance(value, str):
        return _SURROGATE.sub(REPLACEMENT, value) if _SURROGATE.search(value) else value
    if isinstance(value, dict):
        cleaned = {k: without_surrogates(v) for k, v in value.items()}
        if all(cleaned[k] is value[k] for k in value):
            return value
        out = copy.copy(value)  # keeps dict subclasses (Gradio's update objects)
        out.update(cleaned)
        return out
    if isinstance(value, (list, tuple)):
        cleaned_items = [without_surrogates(v) for v in value]
        if all(a is b for a, b in zip(cleaned_items, value)):
            return value
        return type(value)(cleaned_items) if not hasattr(value, "_fields") else type(value)(*cleaned_items)
    if hasattr(value, "to_plotly_json"):  # a plotly figure: its hover texts and labels come from the input
        data = value.to_dict()
        cleaned = without_surrogates(data)
        return value if cleaned is data else type(value)(cleaned)
    return value


def unreadable_input(block_fn: Any, error: Exception) -> str:
    """One sentence for an input Gradio could not read; never the server's paths."""
    from gradio.exceptions import InvalidPathError

    if isinstance(error, InvalidPathError):
        return "A file in this request was not uploaded to this app; upload it first, then send its reference."
    labels = [getattr(b, "label", None) or type(b).__name__ for b in getattr(block_fn, "inputs", [])]
    for label in labels:  # Gradio names the failing component in its message
        if str(label) in str(error):
            return f"The input “{label}” could not be read; send a value of the kind it shows."
    return "An input of this request could not be read; send values of the kinds the inputs show."


class XsentBlocks(gr.Blocks):
    async def process_api(self, *args: Any, **kwargs: Any) -> Any:
        event = kwargs.get("event_data")
        if event is not None and hasattr(event, "_data"):  # Gradio resolves any "path" in it as a file path
            event._data = without_surrogates(event._data)
        try:
            return await super().process_api(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as e:  # a failure nobody turned into a message: still one sentence, details in the log
            import traceback

            traceback.print_exc()
            raise gr.Error(
                f"The server could not handle this request ({type(e).__name__}); the details are in its log.",
                print_exception=False,
            ) from None

    async def preprocess_data(self, block_fn: Any, inputs: list[Any], state: Any, explicit_call: bool = False) -> Any:
        try:
            processed = await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error as e:  # Gradio's own messages may quote the (unencodable) value sent
            raise gr.Error(without_surrogates(e.message), print_exception=False) from None
        except Exception as e:
            raise gr.Error(unreadable_input(block_fn, e), print_exception=False) from None
        for block, value in zip(getattr(block_fn, "inputs", []), processed):
            if isinstance(block, gr.Dropdown) and not block.multiselect and isinstance(value, (list, tuple, dict)):
                raise gr.Error(f"“{block.label or 'this choice'}” takes one value, not a list", print_exception=False)
        return processed

    async def postprocess_data(self, block_fn: Any, predictions: Any, state: Any) -> list[Any]:
        return without_surrogates(await super().postprocess_data(block_fn, without_surrogates(predictions), state))
