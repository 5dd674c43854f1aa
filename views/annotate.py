"""Annotate tab: a queue from the store, span + label correction, versioned saves,
history with revert, inter-annotator agreement, import and export.

Spans are edited in an HTML view of the document (an interactive HighlightedText
equivalent): select characters, then press 1/2/3 (or a toolbar button) for
negative/neutral/positive; click a span then press x to remove it. Python keeps
the span list (per-session gr.State) and validates every change.
"""
from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr

from xsent_core.types import Example, InputError, XsentError

from . import annotation_logic as logic
from .event_data import payload, selected_row
from .static_files import static_text
from .services import Services

# Runs in the browser before a save: the key box (the last of the `n` inputs) gets a fresh key per
# click; the function also receives the outputs' values and must hand back the inputs only.
# crypto.randomUUID exists only in secure contexts (https, localhost); elsewhere time + random does.
def fresh_save_key_js(n: int) -> str:
    return f"""(...args) => {{
  const key = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : Date.now() + '-' + Math.random().toString(36).slice(2);
  const inputs = args.slice(0, {n});
  inputs[{n - 1}] = key;
  return inputs;
}}"""


def upload_roots(services: Services) -> tuple[Path, ...]:
    """Folders an imported file may come from: Gradio's upload cache and our uploads folder."""
    from gradio.utils import get_upload_folder

    return (Path(get_upload_folder()), services.uploads_dir())


QUEUE_ORDERS = [("Newest first", "newest"), ("Lowest model confidence", "lowest_confidence"), ("Head disagreement (two-head models)", "disagreement")]
QUEUE_HEADERS = ["id", "text", "conf", "split", "ver"]
HISTORY_HEADERS = ["version", "parent", "annotator", "saved (UTC)", "label", "spans", "note"]
AGREEMENT_HEADERS = ["annotator A", "annotator B", "shared docs", "label pairs", "Cohen's kappa", "docs with spans", "span F1 (A as reference)"]
QUEUE_SIZE = 200


SHORTCUTS_MD = (
    "**Keys** (when not typing in a field; with Alt anywhere): select text then **1** negative · **2** neutral · "
    "**3** positive · click a span then **x** removes it · **s** save · **a** accept & next · **n** next · **p** previous."
)


def annotator_name(request: gr.Request | None, typed: str | None) -> str:
    """The logged-in user (--auth) wins; otherwise the name typed in the field."""
    user = getattr(request, "username", None) if request is not None else None
    name = (user or typed or "").strip()
    if not name:
        raise InputError("type your name in the Annotator field before saving (or start the app with --auth)")
    return name


def build(services: Services) -> None:
    store = services.store
    settings = services.settings

    with gr.Tab("Annotate", id="annotate") as tab:
        queue_ids = gr.State([])
        pos = gr.State(0)
        doc = gr.State(None)  # {"id", "text", "parent"}
        spans = gr.State([])
        with gr.Row():
            with gr.Column(scale=3, min_width=300):
                order = gr.Dropdown(QUEUE_ORDERS, value="newest", label="Queue order", elem_id="annotate-order")
                unannotated = gr.Checkbox(False, label="Only documents nobody annotated yet", elem_id="annotate-unannotated")
                queue_stats = gr.Markdown(elem_id="annotate-queue-stats")
                queue_table = gr.Dataframe(headers=QUEUE_HEADERS, interactive=False, wrap=True, max_height=420, column_widths=["10%", "54%", "12%", "12%", "12%"], label="Queue (click a row to open)", elem_id="annotate-queue")
                with gr.Row():
                    doc_id = gr.Number(value=None, precision=0, label="Document id", elem_id="annotate-doc-id", min_width=100)
                    open_btn = gr.Button("Open", size="sm", elem_id="annotate-open")
                    refresh = gr.Button("Refresh queue", size="sm", elem_id="annotate-refresh")
            with gr.Column(scale=5):
                header = gr.Markdown(elem_id="annotate-header")
                editor = gr.HTML(logic.annotator_html(None, []), js_on_load=static_text("annotator.js"),
                                 css_template=static_text("annotator.css"), elem_id="annotate-doc")
                gr.Markdown(SHORTCUTS_MD)
                with gr.Row():
                    span_table = gr.Dataframe(headers=["#", "start", "end", "text", "polarity"], interactive=False, label="Spans", elem_id="annotate-spans", scale=3)
                    with gr.Column(scale=2, min_width=220):
                        with gr.Accordion("Type a range instead", open=False):
                            with gr.Row():
                                start_n = gr.Number(value=None, precision=0, label="start", elem_id="annotate-start", min_width=80)
                                end_n = gr.Number(value=None, precision=0, label="end", elem_id="annotate-end", min_width=80)
                            polarity = gr.Radio(["negative", "neutral", "positive"], value="positive", label="polarity", elem_id="annotate-polarity")
                            with gr.Row():
                                add_btn = gr.Button("Add span", size="sm", elem_id="annotate-add")
                                remove_btn = gr.Button("Remove span", size="sm", elem_id="annotate-remove")
                        with gr.Row():
                            clear_btn = gr.Button("Clear spans", size="sm", elem_id="annotate-clear")
                            span_methods = services.methods_where(lambda spec: spec.task == "spans")
                            suggest_method = gr.Dropdown(span_methods, value=next(iter(span_methods), None), label="Suggest with", min_width=100, elem_id="annotate-suggest-method")
                            suggest_btn = gr.Button("Suggest", size="sm", elem_id="annotate-suggest")
                label = gr.Radio(logic.label_choices(), value="", label="Sentence label", elem_id="annotate-label")
                with gr.Row():
                    name = gr.Textbox(label="Annotator (ignored when logged in)", placeholder="your name", elem_id="annotate-name", scale=2)
                    note = gr.Textbox(label="Note (optional)", elem_id="annotate-note", scale=3)
                with gr.Row():
                    prev_btn = gr.Button("◀ Previous (p)", elem_id="annotate-prev")
                    save_btn = gr.Button("Save (s)", variant="primary", elem_id="annotate-save")
                    accept_btn = gr.Button("Accept & next (a)", elem_id="annotate-accept")
                    # one key per click (filled in by the browser; API clients send their own): a retried save stores once
                    save_key = gr.Textbox("", visible=False, elem_id="annotate-save-key")
                    next_btn = gr.Button("Next ▶ (n)", elem_id="annotate-next")
                message = gr.Markdown(elem_id="annotate-message")
        with gr.Accordion("History of this document", open=True):
            history = gr.Dataframe(headers=HISTORY_HEADERS, interactive=False, wrap=True, elem_id="annotate-history")
            with gr.Row():
                revert_v = gr.Textbox(label="Version to restore", placeholder="e.g. 2", elem_id="annotate-revert-version", min_width=120)
                revert_btn = gr.Button("Revert to this version (saved as a new version)", size="sm", elem_id="annotate-revert")
        with gr.Accordion("Inter-annotator agreement", open=False):
            agree_btn = gr.Button("Compute agreement", size="sm", elem_id="annotate-agreement-go")
            agree_md = gr.Markdown(elem_id="annotate-agreement-md")
            agree_table = gr.Dataframe(headers=AGREEMENT_HEADERS, interactive=False, elem_id="annotate-agreement")
        with gr.Accordion("Import into the store / export corrected data", open=False):
            with gr.Row():
                with gr.Column():
                    up = gr.File(label=f"File to import (≤ {settings.max_upload_mb} MB)", file_types=[".jsonl", ".csv", ".conll", ".json", ".txt"], type="filepath", elem_id="annotate-import-file")
                    up_fmt = gr.Dropdown(list(logic.IMPORT_FORMATS), value="auto", label="Format", elem_id="annotate-import-format")
                    up_gold = gr.Checkbox(False, label="Labels/spans in the file become annotation version 1 (annotator import:<file>); Label Studio annotations always become versions, with their own annotators", elem_id="annotate-import-gold")
                    up_repair = gr.Checkbox(False, label="CoNLL: keep spans repaired from broken BIES tags (E without B, unclosed B); otherwise they are dropped and listed", elem_id="annotate-import-repair")
                    ls_map = gr.Textbox("", label="Label Studio label names → sentiment (import and export)", placeholder="Good=positive, Bad=negative, Mixed=neutral (Positive/Negative/Neutral need no entry)", elem_id="annotate-labelstudio-map")
                    up_btn = gr.Button("Import", elem_id="annotate-import")
                    up_md = gr.Markdown(elem_id="annotate-import-status")
                with gr.Column():
                    ex_fmt = gr.Radio([("CoNLL (BIES)", "conll"), ("JSONL", "jsonl"), ("Hugging Face datasets folder (zip)", "hf"), ("Label Studio JSON (every version + latest model predictions)", "labelstudio")], value="jsonl", label="Export format", elem_id="annotate-export-format")
                    ex_btn = gr.Button("Export corrected data", elem_id="annotate-export")
                    ex_md = gr.Markdown(elem_id="annotate-export-status")
                    ex_file = gr.File(label="Download", interactive=False, height=90, elem_id="annotate-export-file")

        # ------------------------------------------------------------ helpers
        def queue_rows(order_v: str, only_new: bool) -> tuple[list[list[Any]], list[int]]:
            items = store.annotation_queue(order_v or "newest", limit=QUEUE_SIZE, unannotated_only=bool(only_new))
            rows = []
            for it in items:
                text = it.document.text
                conf = it.confidence
                rows.append([
                    it.document.id,
                    text[:70] + ("…" if len(text) > 70 else ""),
                    "" if conf is None else f"{conf:.2f}",
                    {None: "", True: "yes", False: "no"}[it.disagreement],
                    f"v{it.annotation_version}" if it.annotation_version else "",
                ])
            return rows, [it.document.id for it in items]

        def queue_summary() -> str:
            split, total = store.head_disagreement()
            if not total:
                return "No two-head predictions in the store yet: predict with a two-head model to see where its heads split."
            return (f"**Heads split on {split} of {total} documents** with a two-head prediction ({split / total:.0%}); "
                    "order the queue by *Head disagreement* to see them first (column *split*).")

        def open_doc(doc_id_v: int, msg: str = "", ids: list | None = None):
            """Outputs for DOC_OUTS: everything that shows one document."""
            document = store.get_document(int(doc_id_v))
            current = store.current_annotation(document.id)
            pred = store.latest_prediction(document.id)
            if current is not None:
                span_list = logic.span_dicts(current.spans, document.text)
                label_v = current.label or ""
                where = f"current **v{current.version}** by **{current.annotator}** ({current.created[:19].replace('T', ' ')} UTC)"
            elif pred is not None:
                span_list = logic.span_dicts(pred.prediction.spans, document.text)
                label_v = pred.prediction.label or ""
                where = f"not annotated yet; showing the **{pred.model}** prediction as a suggestion"
            else:
                span_list, label_v = [], ""
                where = "not annotated yet, no prediction (press *Suggest*)"
            ids = ids or []
            place = f" · {ids.index(document.id) + 1}/{len(ids)} in queue" if document.id in ids else ""
            head = f"### Document {document.id}{place}\n{where} · source `{document.source or '—'}`"
            # "part": where the part of a long document the page gets starts (None: all of it)
            state = {"id": document.id, "text": document.text, "parent": current.version if current else None, "part": 0}
            hist = store.annotation_history(document.id)
            return (
                state, span_list, logic.annotator_html(document.text, span_list, part=0), logic.span_rows(span_list),
                label_v, head, logic.history_rows(hist), msg, document.id,
            )

        def empty_doc(msg: str):
            return (None, [], logic.annotator_html(None, []), [], "", "### No document open", [], msg, None)

        def show_spans(state: dict | None, span_list: list, msg: str):
            text, part = (state["text"], state.get("part")) if state else (None, None)
            return span_list, logic.annotator_html(text, span_list, part=part), logic.span_rows(span_list), msg

        DOC_OUTS = [doc, spans, editor, span_table, label, header, history, message, doc_id]
        SPAN_OUTS = [spans, editor, span_table, message]

        # ------------------------------------------------------------ handlers
        def on_tab(order_v, only_new, state, request: gr.Request):
            user = getattr(request, "username", None)
            who = gr.update(value=user, interactive=False, label="Annotator (logged in)") if user else gr.skip()
            rows, ids = queue_rows(order_v, only_new)
            if state is not None:  # keep unsaved edits when coming back to the tab
                return (rows, ids, *[gr.skip()] * 9, who)
            if not ids:
                return (rows, ids, *empty_doc("The store has no documents yet: predict some sentences or import a file below."), who)
            return (rows, ids, *open_doc(ids[0], "", ids), who)

        def on_refresh(order_v, only_new, state):
            rows, ids = queue_rows(order_v, only_new)
            return rows, ids, 0 if state is None or state["id"] not in ids else ids.index(state["id"])

        def on_open(doc_id_v, ids):
            if doc_id_v in (None, ""):
                return empty_doc("Type a document id.")
            try:
                return open_doc(int(doc_id_v), "", ids)
            except XsentError as e:
                return (*empty_doc(f"✗ {e}"),)
            except (TypeError, ValueError, OverflowError):
                return (*empty_doc("✗ a document id is a whole number, e.g. 12"),)

        def on_pick(evt: gr.EventData, ids):
            row = selected_row(evt)
            if row is None or not isinstance(ids, list) or row >= len(ids):
                return (*[gr.skip()] * 9, gr.skip())
            return (*open_doc(ids[row], "", ids), row)

        def step(ids, p, state, delta, msg=""):
            if not ids:
                return (*empty_doc("The queue is empty."), 0)
            cur = ids.index(state["id"]) if state and state["id"] in ids else p
            new = cur + delta
            if new < 0 or new >= len(ids):
                edge = f"This is the {'first' if new < 0 else 'last'} document of the queue."
                if msg and state is not None:  # just saved: show the new version (and its parent for the next save)
                    return (*open_doc(state["id"], msg + "  \n" + edge, ids), cur)
                return (*[gr.skip()] * 7, edge, gr.skip(), cur)
            return (*open_doc(ids[new], msg, ids), new)

        def on_action(evt: gr.EventData, state, span_list):
            """Clicks inside the document view: (doc state, *SPAN_OUTS)."""
            if state is None:
                return gr.skip(), *show_spans(state, span_list, "Open a document first.")
            done = logic.span_action(state["text"], span_list, payload(evt))
            if done.part == "same":
                return gr.skip(), *show_spans(state, done.spans, done.message)
            state = {**state, "part": done.part}
            return state, *show_spans(state, done.spans, done.message)

        def on_add(state, span_list, s, e, pol):
            if state is None:
                return show_spans(state, span_list, "Open a document first.")
            try:
                return show_spans(state, logic.add_span(state["text"], span_list, s, e, pol), "")
            except InputError as err:
                return show_spans(state, span_list, f"✗ {err}")

        def on_remove(state, span_list, s, e):
            if state is None or s is None or e is None:
                return show_spans(state, span_list, "Give the start and end of the span to remove.")
            left = logic.remove_span(span_list, int(s), int(e))
            msg = "" if len(left) < len(span_list) else f"✗ no span {int(s)}–{int(e)} to remove"
            return show_spans(state, left, msg)

        def on_clear(state, span_list):
            return show_spans(state, [], "Spans cleared (not saved yet).")

        def on_suggest(state, span_list, method_v):
            if state is None:
                return show_spans(state, span_list, "Open a document first.")
            try:
                record, model = services.models.get(method_v)
                pred = model.predict([Example(id=str(state["id"]), text=state["text"])])[0]
                store.record_prediction(state["id"], record.name, record.created or "", method_v, pred)
            except XsentError as e:
                return show_spans(state, span_list, f"✗ {e}")
            return show_spans(state, logic.span_dicts(pred.spans, state["text"]), f"Suggested by `{record.name}`; correct it and save.")

        def save(state, span_list, label_v, typed, note_v, request: gr.Request | None, key: str | None = None):
            """(saved annotation or None, message)."""
            if state is None:
                raise InputError("open a document first")
            who = annotator_name(request, typed)
            problems = logic.validate_all(state["text"], span_list)
            if problems:
                raise InputError("; ".join(problems))
            saved = store.save_annotation(
                state["id"], who, label_v or None, logic.to_aspect_spans(state["text"], span_list), state["parent"], note_v or "",
                idempotency_key=(key or "").strip() or None,
            )
            msg = (
                f"✓ Saved **v{saved.version}** (from {f'v{saved.parent_version}' if saved.parent_version else 'scratch'}) "
                f"by **{saved.annotator}** at {saved.created[:19].replace('T', ' ')} UTC."
            )
            notice = logic.conflict_notice(saved, store.annotation_history(state["id"]))
            return saved, msg + ("  \n" + notice if notice else "")

        def on_save(state, span_list, label_v, typed, note_v, ids, key="", request: gr.Request = None):
            try:
                _, msg = save(state, span_list, label_v, typed, note_v, request, key)
            except XsentError as e:
                return (*[gr.skip()] * 7, f"✗ {e}", gr.skip())
            return open_doc(state["id"], msg, ids)

        def on_accept(state, span_list, label_v, typed, note_v, ids, p, key="", request: gr.Request = None):
            msg = ""
            try:
                current = store.current_annotation(state["id"]) if state else None
                if state is not None and logic.same_annotation(label_v, span_list, current):
                    msg = f"v{current.version} already says this; nothing new saved."
                else:
                    _, msg = save(state, span_list, label_v, typed, note_v, request, key)
            except XsentError as e:
                return (*[gr.skip()] * 7, f"✗ {e}", gr.skip(), gr.skip())
            return step(ids, p, state, +1, msg)

        def on_revert(state, version, typed, ids, request: gr.Request):
            try:
                if state is None:
                    raise InputError("open a document first")
                version = str(version or "").strip().lstrip("vV")
                if not (version.isascii() and version.isdigit()):
                    raise InputError("type the version number to restore (e.g. 2)")
                saved = store.revert_annotation(state["id"], int(version), annotator_name(request, typed))
            except XsentError as e:
                return (*[gr.skip()] * 7, f"✗ {e}", gr.skip())
            return open_doc(state["id"], f"↩ Restored v{int(version)} as new version **v{saved.version}**.", ids)

        def on_agreement():
            try:
                groups = store.annotator_pairs_agreement()
            except XsentError as e:
                return f"✗ {e}", []
            if not groups:
                return "No document has been annotated by two or more people yet.", []
            return f"{len(groups)} documents annotated by two or more people (each annotator's latest version).", logic.agreement_rows(groups)

        def on_import(path, fmt, gold, order_v, only_new, label_map="", repair=False):
            from xsent_core.data import iter_examples

            try:
                if not path:
                    raise InputError("choose a file to import")
                p = logic.check_upload(path, settings.max_upload_mb, roots=upload_roots(services))
                kind = logic.guess_format(p.name, fmt, p)
                if kind == "labelstudio":
                    message = import_labelstudio_file(p, label_map or "")
                    rows, qids = queue_rows(order_v, only_new)
                    return message, rows, qids
                if kind == "conll":
                    from xsent_core.data import iter_conll

                    rows = iter_conll(p, repair=bool(repair))
                else:
                    rows = iter_examples(f"{kind}:{p}")
                examples = [ex for ex in logic.take_rows(rows, settings.max_batch_rows, p.name) if ex.text.strip()]
                if not examples:
                    raise InputError(f"{p.name} has no rows with text")
                images = [logic.confine_image(ex.image, (p.parent, settings.work_dir)) for ex in examples]
                examples = [replace(ex, image=image) for ex, (image, _) in zip(examples, images)]
                refused = sum(1 for _, was_refused in images if was_refused)
                source = f"import:{Path(p.name).name}"
                ids = store.add_documents(examples, source=source, gold_annotator=source if gold else None)
            except XsentError as e:
                return f"✗ {logic.upload_error(e, path) if path else e}", gr.skip(), gr.skip()
            rows, qids = queue_rows(order_v, only_new)
            note = f"\n\n⚠ {refused} row(s): {logic.IMAGE_REFUSED}; stored without it." if refused else ""
            return f"✓ Imported {len(ids)} documents (ids {ids[0]}–{ids[-1]}) from {p.name} as `{kind}`." + logic.bies_notes(examples) + note, rows, qids

        def import_labelstudio_file(p: Path, label_map: str) -> str:
            from db.labelstudio import import_labelstudio
            from xsent_core.data.labelstudio import parse_label_map

            summary, read = import_labelstudio(
                store, p, parse_label_map(label_map), max_bytes=settings.max_upload_mb * 2**20,
                max_tasks=settings.max_batch_rows, display_name=p.name,
            )
            notes = "".join(f"\n- {line}" for line in read.report())
            return f"✓ {p.name} (Label Studio): {len(read.tasks)} tasks; {summary.describe()}." + notes

        def export_labelstudio_file(label_map: str) -> tuple[str, str]:
            from db.labelstudio import export_labelstudio
            from xsent_core.data.labelstudio import parse_label_map

            if store.count_documents() == 0:
                raise InputError("nothing to export yet: the store has no documents")
            done = export_labelstudio(store, logic.export_target(services.exports_dir(), "labelstudio"), parse_label_map(label_map))
            message = (
                f"✓ Exported {done.tasks} tasks with {done.annotations} annotation versions and {done.predictions} "
                f"model predictions (pre-annotations) as Label Studio JSON: `{done.path.name}`. "
                "Create the Label Studio project with this labeling configuration, then import the file:\n\n"
                f"```xml\n{done.labeling_config}```"
            )
            return message, str(done.path)

        def on_export(fmt, label_map=""):
            try:
                if fmt == "labelstudio":
                    return export_labelstudio_file(label_map or "")
                examples = store.corrected_examples(only_annotated=True)
                if not examples:
                    raise InputError("nothing to export yet: no document has an annotation")
                target = logic.export_target(services.exports_dir(), fmt)
                from xsent_core.data.export import export_examples

                out = export_examples(examples, fmt, target)
                if fmt == "hf":  # a folder: offer it as one zip file
                    out = shutil.make_archive(str(out), "zip", root_dir=out)
            except XsentError as e:
                return f"✗ {e}", None
            return f"✓ Exported {len(examples)} annotated documents as {fmt}: `{out}`", str(out)

        # ------------------------------------------------------------ events
        tab.select(on_tab, [order, unannotated, doc], [queue_table, queue_ids, *DOC_OUTS, name], api_name="annotate_tab")
        refresh.click(on_refresh, [order, unannotated, doc], [queue_table, queue_ids, pos], api_name="annotate_queue")
        order.change(on_refresh, [order, unannotated, doc], [queue_table, queue_ids, pos], api_name="annotate_order")
        unannotated.change(on_refresh, [order, unannotated, doc], [queue_table, queue_ids, pos], api_name="annotate_filter")
        open_btn.click(on_open, [doc_id, queue_ids], DOC_OUTS, api_name="annotate_open")
        queue_table.select(on_pick, queue_ids, [*DOC_OUTS, pos], api_name="annotate_pick")
        queue_table.change(queue_summary, None, queue_stats, api_name=False, show_progress="hidden")
        prev_btn.click(lambda ids, p, st: step(ids, p, st, -1), [queue_ids, pos, doc], [*DOC_OUTS, pos], api_name="annotate_prev")
        next_btn.click(lambda ids, p, st: step(ids, p, st, +1), [queue_ids, pos, doc], [*DOC_OUTS, pos], api_name="annotate_next")
        editor.click(on_action, [doc, spans], [doc, *SPAN_OUTS], api_name="annotate_span_action")
        add_btn.click(on_add, [doc, spans, start_n, end_n, polarity], SPAN_OUTS, api_name="annotate_add_span")
        remove_btn.click(on_remove, [doc, spans, start_n, end_n], SPAN_OUTS, api_name="annotate_remove_span")
        clear_btn.click(on_clear, [doc, spans], SPAN_OUTS, api_name="annotate_clear_spans")
        suggest_btn.click(on_suggest, [doc, spans, suggest_method], SPAN_OUTS, api_name="annotate_suggest")
        saves = [
            save_btn.click(on_save, [doc, spans, label, name, note, queue_ids, save_key], DOC_OUTS, api_name="annotate_save", js=fresh_save_key_js(7)),
            accept_btn.click(on_accept, [doc, spans, label, name, note, queue_ids, pos, save_key], [*DOC_OUTS, pos], api_name="annotate_accept", js=fresh_save_key_js(8)),
            revert_btn.click(on_revert, [doc, revert_v, name, queue_ids], DOC_OUTS, api_name="annotate_revert"),
        ]
        for event in saves:  # the queue's version column shows the new version
            event.success(on_refresh, [order, unannotated, doc], [queue_table, queue_ids, pos], api_name=False, show_progress="hidden")
        agree_btn.click(on_agreement, None, [agree_md, agree_table], api_name="annotate_agreement")
        up_btn.click(on_import, [up, up_fmt, up_gold, order, unannotated, ls_map, up_repair], [up_md, queue_table, queue_ids], api_name="annotate_import")
        ex_btn.click(on_export, [ex_fmt, ls_map], [ex_md, ex_file], api_name="export_annotations")


