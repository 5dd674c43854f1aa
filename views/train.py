"""Train tab: the library's job kinds (`xsent_core.jobs.job_kinds`) as background jobs.

Everything shown comes from the jobs table (polled by a gr.Timer), so a page
reload, or another browser, sees the same progress, loss curve and result.
"""
from __future__ import annotations

import html
from typing import Any, Mapping

import gradio as gr
import pandas as pd

from xsent_core.jobs import job_kind, job_kinds
from xsent_core.types import XsentError

from .jobs import before_after_rows
from .services import Services

DATA_CHOICES = [
    ("Corrected annotations", "corrected"),
    ("Unlabelled store texts", "unlabelled"),
    ("Both", "all"),
]
JOB_HEADERS = ["id", "kind", "status", "progress", "message", "created"]
STATUS_ICON = {"queued": "…", "running": "▶", "succeeded": "✓", "failed": "✗", "cancelled": "■"}


def progress_html(job: Any | None) -> str:
    """A plain HTML bar (with the percentage as text, for people and tests)."""
    if job is None:
        return "<div id='train-progress-bar' class='xs-progress' data-progress='0'><div class='xs-fill' style='width:0%'></div><span>no job yet</span></div>"
    pct = int(round(100 * float(job.progress)))
    label = f"{pct} % · {html.escape(job.status)}"
    colour = {"failed": "#d64545", "cancelled": "#8a8f98"}.get(job.status, "#2e9d5b")
    return (
        f"<div id='train-progress-bar' class='xs-progress' data-progress='{pct}' data-status='{html.escape(job.status)}'>"
        f"<div class='xs-fill' style='width:{pct}%;background:{colour}'></div><span>{label}</span></div>"
    )


def loss_frame(job: Any | None) -> pd.DataFrame:
    points = list(job.loss_history) if job is not None else []
    return pd.DataFrame({"step": [int(s) for s, _ in points], "loss": [float(v) for _, v in points]})


def job_rows(jobs: Any) -> list[list[Any]]:
    return [
        [j.id, j.kind, f"{STATUS_ICON.get(j.status, '')} {j.status}", f"{round(100 * j.progress)} %", j.message[:80], j.created[:19]]
        for j in jobs
    ]


def kind_short(name: str) -> str:
    try:
        return job_kind(name).short
    except XsentError:
        return name


def job_summary(job: Any | None) -> str:
    if job is None:
        return "No training job yet. Choose what to train and press **Start**."
    p = dict(job.params)
    what = f"preset `{p.get('preset')}` ({p.get('method')})" if job.kind == "train_preset" else kind_short(job.kind)
    lines = [f"**Job {job.id}** · {what} · {STATUS_ICON.get(job.status, '')} **{job.status}** · {html.escape(job.message or '')}"]
    model = (job.metrics or {}).get("model")
    if job.status == "succeeded" and model:
        lines.append(f"New model **`{model}`** is registered: pick it in Predict, make it the default in Models.")
        if job.kind == "train_preset" and is_smoke(p.get("method"), p.get("preset")):
            lines.append(f"⚠ `{p.get('preset')}` is a {SMOKE_NOTE}; expect poor predictions from it.")
    held = (job.metrics or {}).get("heldout")
    if isinstance(held, Mapping):
        lines.append(f"Held-out slice: {held.get('data')} ({held.get('rows')} rows), never trained on.")
    notes = (job.metrics or {}).get("notes")
    if isinstance(notes, list):  # what the library's job wants the person to know
        lines += [f"ℹ {html.escape(str(note))}" for note in notes]
    return "  \n".join(lines)


def params_from_form(kind: str, method: str | None, preset: str | None, base: str | None, data: str, steps: Any, lr: Any, name: str, lang: str = "") -> dict[str, Any]:
    params: dict[str, Any] = {"steps": str(steps or "").strip() or None, "lr": str(lr or "").strip() or None, "name": (name or "").strip() or None}
    if kind == "train_preset":
        params.update(method=method, preset=preset, base=base or None)
    elif kind == "distill":
        params.update(teacher=base or None, data=data)
    else:
        params.update(base=base or None, data=data, lang=(lang or "").strip() or None)
    return params


SMOKE_NOTE = "smoke test: seconds of training, not a model to use"


def preset_choices(presets: Mapping[str, Any]) -> tuple[list[tuple[str, str]], str | None]:
    """Dropdown (label, name) pairs, real recipes first and smoke tests marked and last, and the one to preselect."""
    real = [(name, name) for name, p in presets.items() if not getattr(p, "smoke", False)]
    smoke = [(f"{name} ({SMOKE_NOTE})", name) for name, p in presets.items() if getattr(p, "smoke", False)]
    choices = real + smoke
    return choices, (choices[0][1] if choices else None)


def is_smoke(method: Any, preset: Any) -> bool:
    from xsent_core.registry import presets

    try:
        return bool(getattr(presets(str(method)).get(str(preset)), "smoke", False))
    except (XsentError, ImportError):
        return False


def preset_about(preset: Any | None) -> str:
    if preset is None:
        return ""
    warning = f"  \n⚠ **{SMOKE_NOTE}**: its model is registered so the pipeline can be checked end to end." if getattr(preset, "smoke", False) else ""
    return f"*{html.escape(preset.description)}*{warning}"


def build(services: Services) -> None:
    from xsent_core.registry import available_methods, presets

    def method_presets(method: str | None) -> Mapping[str, Any]:
        if not method:
            return {}
        try:
            return presets(method)
        except (XsentError, ImportError):
            return {}

    trainable = [m for m in available_methods() if method_presets(m)]
    first = trainable[0] if trainable else None  # registry order: the first method with presets

    with gr.Tab("Train", id="train") as tab:
        gr.Markdown(
            "Fine-tune from the store (corrected spans and labels, unlabelled texts) or train any **preset**. "
            "Jobs run one at a time in a background worker (GPU when there is one); reloading the page keeps them."
        )
        with gr.Row():
            with gr.Column(scale=2):
                kind = gr.Radio([(k.title, k.name) for k in job_kinds()], value=job_kinds()[0].name, label="What to train", elem_id="train-kind")
                with gr.Row():
                    method = gr.Dropdown(trainable, value=first, label="Method (preset training)", interactive=False, elem_id="train-method")
                    first_choices, first_preset = preset_choices(method_presets(first))
                    preset = gr.Dropdown(first_choices, value=first_preset, label="Preset", interactive=False, elem_id="train-preset")
                about = gr.Markdown(preset_about(method_presets(first).get(first_preset)), elem_id="train-preset-about")
                base = gr.Dropdown([], value=None, label="Teacher / base model (default if empty)", elem_id="train-base")
                data = gr.Radio(DATA_CHOICES, value="corrected", label="Data", elem_id="train-data")
                data_md = gr.Markdown(elem_id="train-data-counts")
                lang = gr.Textbox(label="Language for store texts whose language cannot be detected (rethinking)", placeholder="usually empty: each text's script or words tell its language; e.g. my", elem_id="train-lang")
                with gr.Row():
                    steps = gr.Textbox(label="Steps", placeholder="the recipe's if empty, e.g. 20", elem_id="train-steps")
                    lr = gr.Textbox(label="Learning rate", placeholder="the recipe's if empty, e.g. 5e-5", elem_id="train-lr")
                    name = gr.Textbox(label="New model name (optional)", elem_id="train-name")
                with gr.Row():
                    start = gr.Button("Start", variant="primary", elem_id="train-start")
                    cancel = gr.Button("Cancel job", variant="stop", elem_id="train-cancel")
                start_md = gr.Markdown(elem_id="train-start-status")
            with gr.Column(scale=3):
                job_pick = gr.Dropdown([], value=None, label="Job (latest if empty)", elem_id="train-job")
                progress = gr.HTML(progress_html(None), elem_id="train-progress", js_on_load=None)
                summary = gr.Markdown(elem_id="train-summary")
                loss = gr.LinePlot(loss_frame(None), x="step", y="loss", title="Training loss", height=240, elem_id="train-loss")
                compare = gr.Dataframe(headers=["metric", "before", "after", "change"], interactive=False, label="Held-out metrics before → after", elem_id="train-compare")
        jobs_table = gr.Dataframe(headers=JOB_HEADERS, interactive=False, label="Jobs", elem_id="train-jobs")
        timer = gr.Timer(1.0)
        seen = gr.State("")

        def counts_text() -> str:
            try:
                corrected = len(services.store.corrected_examples(only_annotated=True))
                unlabelled = len(services.store.unlabelled_texts())
            except XsentError as e:
                return f"✗ {e}"
            return f"The store holds **{corrected}** annotated and **{unlabelled}** unannotated documents."

        def base_choices(k: str, m: str | None):
            jobs = services.methods_where(lambda spec: k in spec.jobs)
            wanted = jobs if k in ("distill", "rethink") else ((m,) if m else ())
            names = [r.name for r in services.store.list_models() if r.method in wanted]
            return gr.update(choices=names, value=None)

        def on_kind(k: str, m: str | None):
            is_preset = k == "train_preset"
            data_value = "unlabelled" if k == "rethink" else "corrected"
            return (
                gr.update(interactive=is_preset),
                gr.update(interactive=is_preset),
                gr.update(interactive=not is_preset, value=data_value),
                base_choices(k, m),
                counts_text(),
            )

        def on_method(m: str | None):
            choices, chosen = preset_choices(method_presets(m))
            return gr.update(choices=choices, value=chosen)

        def on_preset(m: str | None, p: str | None):
            return preset_about(method_presets(m).get(p))

        def job_choices(selected: Any = None):
            jobs = services.store.list_jobs(limit=50)
            ids = [str(j.id) for j in jobs]
            return gr.update(choices=ids, value=str(selected) if selected is not None and str(selected) in ids else None)

        def on_start(k, m, p, b, d, s, r, n, lg):
            try:
                job = services.jobs.submit(k, params_from_form(k, m, p, b, d, s, r, n, lg))
            except XsentError as e:
                return f"✗ {e}", gr.update()
            return f"Queued job **{job.id}**. Progress shows on the right.", job_choices(job.id)

        def current_job(selected: str | None):
            if selected:
                try:
                    return services.store.get_job(int(selected))
                except (XsentError, ValueError):
                    return None
            jobs = services.store.list_jobs(limit=1)
            return jobs[0] if jobs else None

        def on_tick(selected: str | None, last: str):
            job = current_job(selected)
            jobs = services.store.list_jobs(limit=20)
            signature = f"{job.id}:{job.updated}" if job else "none"
            signature += "|" + ",".join(f"{j.id}{j.status}{j.updated}" for j in jobs[:5])
            if signature == last:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), last
            compare_rows = before_after_rows(job.metrics) if job is not None and job.status == "succeeded" else []
            return progress_html(job), job_summary(job), loss_frame(job), compare_rows, job_rows(jobs), signature

        def on_cancel(selected: str | None):
            job = current_job(selected)
            if job is None:
                return "No job to cancel."
            if job.finished:
                return f"Job {job.id} already {job.status}."
            services.jobs.cancel(job.id)
            return f"Cancelling job **{job.id}**…"

        def on_tab(k: str, m: str | None, selected: str | None):
            return (base_choices(k, m), counts_text(), job_choices(selected), "")

        tick_outs = [progress, summary, loss, compare, jobs_table, seen]
        kind.change(on_kind, [kind, method], [method, preset, data, base, data_md], api_name="train_kind")
        method.change(on_method, method, preset, api_name="train_presets")
        preset.change(on_preset, [method, preset], about, api_name="train_preset_about")
        start.click(on_start, [kind, method, preset, base, data, steps, lr, name, lang], [start_md, job_pick], api_name="train_start")
        cancel.click(on_cancel, job_pick, start_md, api_name="train_cancel")
        job_pick.change(lambda s: on_tick(s, ""), job_pick, tick_outs, api_name="train_job", show_progress="hidden")
        timer.tick(on_tick, [job_pick, seen], tick_outs, api_name="train_poll", show_progress="hidden", concurrency_id="poll", concurrency_limit=4)
        tab.select(on_tab, [kind, method, job_pick], [base, data_md, job_pick, seen], api_name="train_tab")
