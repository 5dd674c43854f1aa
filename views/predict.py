"""Predict tab: one text (+ optional image) or a CSV/JSONL batch, any method."""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import gradio as gr

from xsent_core.types import Example, Prediction, XsentError

from .annotation_logic import IMAGE_REFUSED, check_upload, confine_image, take_rows, upload_error
from .components import CheckedImage
from .render import POLARITY_COLORS, highlight_segments, label_value, prediction_rows, summary_markdown
from .services import Services

# example sentences and the kind of method each suits (the first method of that task is offered)
EXAMPLES = [
    ("The fish was fresh but the service was painfully slow.", "spans"),
    ("Le personnel était très sympathique et la pizza délicieuse.", "spans"),
    ("ဒီဆိုင်က အစားအသောက် အရမ်းကောင်းတယ်", "sentence"),
]


def example_rows(services: Services) -> list[list[str]]:
    """EXAMPLES with the first registered method of each example's task."""
    rows = []
    for text, task in EXAMPLES:
        methods = services.methods_where(lambda spec: spec.task == task)
        if methods:
            rows.append([text, methods[0]])
    return rows


def predict_one(services: Services, text: str, image: str | None, method: str, model_name: str | None = None) -> tuple[Any, Prediction, str]:
    """Run one prediction and store it; returns (model record, prediction, notes)."""
    text = text or ""
    if not text.strip() and not image:
        raise XsentError("Type a sentence (or add an image, for a method that reads one) before predicting.")
    record, model = services.models.get(method, model_name or None)
    notes = []
    if image and not services.method_specs()[method].reads_image:
        notes.append(f"{method} reads text only; the image was ignored.")
        image = None
    example = Example(id=content_id(text, image), text=text, image=image)
    prediction = model.predict([example])[0]
    try:  # the same sentence predicted again is one document with several predictions, not a new queue row
        services.predictions.check(example)
    except XsentError as e:  # the prediction is still shown; say why it was not stored
        notes.append(f"not saved to the store: {e}")
    else:  # written after the reply: the user does not wait for SQLite
        services.predictions.submit(example, record.name, record.created or "", method, prediction)
    return record, prediction, "\n".join(notes)


def content_id(text: str, image: str | None) -> str:
    """The external id of a predicted document: its content, so a repeat finds the first one."""
    import hashlib

    return "sha256:" + hashlib.sha256(f"{text}\0{image or ''}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


def zawgyi_notice(text: str) -> tuple[str, Any]:
    """Markdown + visibility of the convert button for the text box content."""
    from xsent_core.text import looks_like_zawgyi, zawgyi_probability

    sample = (text or "")[:5000]  # detection on a 1 MB paste would stall typing
    if sample and looks_like_zawgyi(sample):
        p = zawgyi_probability(sample)
        return (
            f"⚠️ This text looks like **Zawgyi** (legacy Burmese encoding, p = {p:.2f}). "
            "It is converted to Unicode before prediction; click *Convert to Unicode* to see it.",
            gr.update(visible=True),
        )
    return "", gr.update(visible=False)


def convert_zawgyi(text: str) -> str:
    from xsent_core.text import normalize

    return normalize(text or "", zawgyi="convert").text


def build(services: Services) -> None:
    with gr.Tab("Predict", id="predict"):
        specs = services.method_specs()
        span_methods = ", ".join(n for n, sp in specs.items() if sp.task == "spans")
        image_methods = " / ".join(n for n, sp in specs.items() if sp.reads_image)
        gr.Markdown(f"Predict aspect spans ({span_methods}) or sentence sentiment (other methods) for any language.")
        with gr.Row():
            with gr.Column(scale=3):
                text = gr.Textbox(label="Text", lines=4, placeholder="Type or paste a sentence (any language, Burmese welcome)", elem_id="predict-text")
                zawgyi_md = gr.Markdown()
                convert_btn = gr.Button("Convert to Unicode", visible=False, size="sm")
                with gr.Row():
                    method = gr.Dropdown(list(specs), value=next(iter(specs), None), label="Method", elem_id="predict-method")
                    model_name = gr.Dropdown([], value=None, label="Model (default if empty)", allow_custom_value=False)
                image = CheckedImage(label=f"Image (optional, {image_methods})", type="filepath", height=180)
                go = gr.Button("Predict", variant="primary", elem_id="predict-button")
            with gr.Column(scale=3):
                spans = gr.HighlightedText(label="Aspect spans", color_map=POLARITY_COLORS, show_legend=True, elem_id="predict-spans")
                probs = gr.Label(label="Sentence label", num_top_classes=3)
                summary = gr.Markdown(elem_id="predict-summary")
                details = gr.JSON(label="Raw output", open=False)
        gr.Examples(example_rows(services), inputs=[text, method])

        with gr.Accordion("Batch: CSV or JSONL file", open=False):
            gr.Markdown("CSV needs a `text` column; JSONL rows are `{id, text, image?, lang?}`. Results download as JSONL.")
            batch_file = gr.File(label="Input file", file_types=[".csv", ".jsonl", ".json"], type="filepath", elem_id="predict-batch-file")
            with gr.Row():
                batch_go = gr.Button("Predict file", elem_id="predict-batch-go")
                batch_stop = gr.Button("Cancel", variant="stop", elem_id="predict-batch-cancel")
            batch_status = gr.Markdown(elem_id="predict-batch-status")
            batch_table = gr.Dataframe(headers=["id", "text", "result", "error"], interactive=False, wrap=True)
            batch_out = gr.File(label="Download results")

        def on_method(m: str) -> Any:
            try:
                names = services.models.model_names(m)
            except XsentError:
                names = []
            return gr.update(choices=names, value=None)

        def on_predict(t: str, img: str | None, m: str, name: str | None):
            t = t if isinstance(t, str) else ""  # an API call may send null
            try:
                record, pred, notes = predict_one(services, t, img, m, name)
            except XsentError as e:
                return [], None, f"❌ {e}", None
            highlights = highlight_segments(t, pred.spans) if pred.spans is not None else [(t, None)]
            extra = [notes] if notes else []
            return highlights, label_value(pred), summary_markdown(m, record.name, pred, extra), pred.to_dict()

        def on_batch(path: str | None, m: str, name: str | None, request: gr.Request):
            key = request.session_hash or ""
            flag = services.batch_cancels.begin(key)
            try:
                yield from batch_updates(services, path, m, name, cancelled=flag.is_set)
            finally:
                services.batch_cancels.end(key, flag)

        def on_batch_cancel(request: gr.Request) -> None:
            if services.batch_cancels.cancel(request.session_hash or ""):
                gr.Info("Stopping after the chunk in progress…")

        method.change(on_method, method, model_name, api_name="list_models")
        # another method's output would read as this one's
        method.change(lambda: ([], None, "", None), None, [spans, probs, summary, details], api_name=False, show_progress="hidden",
                      queue=False)
        # one-sentence answers skip Gradio's queue: the page then makes one POST (/gradio_api/run/...) instead of
        # joining the queue and reading its event stream, which halved the time outside the handler (26 -> 12 ms);
        # the queued /gradio_api/call/... route still serves API clients
        text.change(zawgyi_notice, text, [zawgyi_md, convert_btn], api_name="check_zawgyi", show_progress="hidden", queue=False)
        convert_btn.click(convert_zawgyi, text, text, api_name="convert_zawgyi", queue=False)
        go.click(on_predict, [text, image, method, model_name], [spans, probs, summary, details], api_name="predict", queue=False)
        text.submit(on_predict, [text, image, method, model_name], [spans, probs, summary, details], api_name="predict_submit",
                    queue=False)
        batch_go.click(
            on_batch, [batch_file, method, model_name], [batch_status, batch_table, batch_out], api_name="predict_batch",
        )
        batch_stop.click(on_batch_cancel, None, None, api_name="predict_batch_cancel")


@dataclass(frozen=True)
class Batch:
    """An uploaded file read and checked, ready to predict chunk by chunk."""

    method: str
    model_name: str
    model: Any
    examples: tuple[Example, ...]
    refused: frozenset[int]  # rows whose image path was refused

    def rows(self, chunk: int = 32) -> Iterator[list[dict]]:
        """Result rows, one list per chunk; per-row errors are kept, not fatal.

        A generator, so a cancelled batch stops after the chunk in progress.
        """
        for i in range(0, len(self.examples), chunk):
            part = list(enumerate(self.examples[i : i + chunk], start=i))
            usable = [ex for k, ex in part if k not in self.refused]
            predictions = iter(self.model.predict(usable) if usable else [])
            tag = {"method": self.method, "model": self.model_name}
            # a row that asked for an image it may not use: say so, predict nothing
            yield [{**ex.to_dict(), "error": IMAGE_REFUSED, **tag} if k in self.refused
                   else {**ex.to_dict(), **next(predictions).to_dict(), **tag} for k, ex in part]


def open_batch(services: Services, path: Path, method: str, model_name: str | None) -> Batch:
    """Read an uploaded CSV/JSONL within the upload limits; image paths confined to the upload."""
    from xsent_core.cli import _iter_input

    path = check_upload(path, services.settings.max_upload_mb)
    record, model = services.models.get(method, model_name or None)
    roots = (path.parent, services.settings.work_dir)
    examples, refused = [], set()
    for ex in take_rows(_iter_input(str(path)), services.settings.max_batch_rows, path.name):
        image, was_refused = confine_image(ex.image, roots)
        if was_refused:
            refused.add(len(examples))
        examples.append(replace(ex, image=image))
    if not examples:
        raise XsentError(f"{path.name} has no rows")
    return Batch(method, record.name, model, tuple(examples), frozenset(refused))


def save_batch(services: Services, method: str, rows: list[dict]) -> Path:
    from xsent_core.data.jsonl import write_jsonl

    out_dir = services.settings.work_dir / "exports"
    out_dir.mkdir(parents=True, exist_ok=True)
    out_path = out_dir / f"predictions-{method}-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    write_jsonl(out_path, rows)
    return out_path


def batch_updates(services: Services, path: str | None, method: str, model_name: str | None,
                  cancelled: Callable[[], bool] = lambda: False) -> Iterator[tuple[Any, Any, Any]]:
    """(status, table, file) updates for a batch: one per chunk, then the results.

    `cancelled` is asked between chunks; once it says yes the last update says so.
    The results file is written only when every row is done, so a cancelled batch
    leaves nothing half-written behind.
    """
    if not path:
        yield "❌ Choose a CSV or JSONL file first.", None, None
        return
    start = time.time()
    try:
        batch = open_batch(services, Path(path), method, model_name)
        rows: list[dict] = []
        for part in batch.rows():
            rows += part
            yield f"⏳ Predicted {len(rows):,} of {len(batch.examples):,} rows… (*Cancel* stops after this chunk)", gr.skip(), gr.skip()
            if cancelled() and len(rows) < len(batch.examples):
                yield f"⏹ Cancelled after {len(rows):,} of {len(batch.examples):,} rows: no results file was written.", None, None
                return
    except XsentError as e:
        yield f"❌ {upload_error(e, path)}", None, None
        return
    out_path = save_batch(services, method, rows)
    errors = sum(1 for r in rows if r.get("error"))
    msg = f"Predicted {len(rows):,} rows in {time.time() - start:.1f} s" + (f"; {errors} rows have an error field" if errors else "")
    yield msg, prediction_rows(rows[:200]), str(out_path)
