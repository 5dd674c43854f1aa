"""Background training jobs for the app: one worker thread, one job at a time.

The queue *is* the store's jobs table (`create_job` / `next_queued_job`), so a
job survives a page reload and another process can see it; a job whose process
died is marked failed when the next runner starts. Progress and the loss of
every optimiser step are appended to the job row from `training.fit`
callbacks. On success the new model folder (under `settings.models_dir`) is
registered in the models table with its metrics, including before/after
metrics on a held-out slice that training never saw.

Job kinds (params in the job row):
- "train_preset": {method, preset, steps?, lr?, name?}: `recipes.run_preset`.
- "distill": {teacher?, data, steps?, lr?, name?}: MSMO multi-teacher
  distillation on store sentences; corrected spans are hard labels.
- "rethink": {base?, data, steps?, lr?, name?, lang?}: LFD-RT rethinking
  fine-tuning on unlabelled store texts (`lang` for rows whose language is neither given nor detected).
"""
from __future__ import annotations

import logging
import re
import shutil
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from xsent_core.types import Example, InputError, XsentError

log = logging.getLogger("xsent.jobs")

JOB_KINDS: tuple[str, ...] = ("train_preset", "distill", "rethink")
DATA_CHOICES: tuple[str, ...] = ("corrected", "unlabelled", "all")
MAX_STEPS = 100_000
HELDOUT_ROWS = 64  # rows of a preset's dev set used for before/after metrics
HELDOUT_FRACTION = 0.2  # of the store's labelled rows, when there are enough
MIN_STORE_HELDOUT = 10  # fewer labelled rows than this: use a shared-data slice instead
# a labelled slice of the shared data for before/after when the store has too few labels
FALLBACK_HELDOUT = {
    "distill": "semeval:{data}/semeval16_restaurants/gold-fr-dev.txt",
    "rethink": "gklmip:{data}/gklmip_myanmar_sentiment/dev.json",
}
_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


class JobCancelled(XsentError):
    pass


def safe_name(name: str, fallback: str) -> str:
    """A model name usable as a folder name: letters, digits, . _ - only; never '..' or hidden."""
    cleaned = _NAME_RE.sub("-", (name or "").strip()).strip(".-_")[:64]
    return cleaned or fallback


def check_params(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate what a user asked for before it is queued; InputError says what is wrong."""
    if kind not in JOB_KINDS:
        raise InputError(f"unknown job kind {kind!r}; expected one of {', '.join(JOB_KINDS)}")
    out = dict(params)
    steps = out.get("steps")
    if steps not in (None, ""):
        try:
            steps_i = int(steps)
        except (TypeError, ValueError):
            raise InputError(f"steps must be a whole number, got {steps!r}") from None
        if not 1 <= steps_i <= MAX_STEPS:
            raise InputError(f"steps must be between 1 and {MAX_STEPS}, got {steps_i}")
        out["steps"] = steps_i
    else:
        out["steps"] = None
    lr = out.get("lr")
    if lr not in (None, ""):
        try:
            lr_f = float(lr)
        except (TypeError, ValueError):
            raise InputError(f"learning rate must be a number, got {lr!r}") from None
        if not 0.0 < lr_f < 1.0:
            raise InputError(f"learning rate must be between 0 and 1, got {lr_f}")
        out["lr"] = lr_f
    else:
        out["lr"] = None
    if kind == "train_preset":
        if not out.get("method") or not out.get("preset"):
            raise InputError("preset training needs a method and a preset")
        from xsent_core.recipes import get_preset

        get_preset(out["method"], out["preset"])  # clear error for an unknown preset
    else:
        data = out.get("data") or ("corrected" if kind == "distill" else "unlabelled")
        if data not in DATA_CHOICES:
            raise InputError(f"data must be one of {', '.join(DATA_CHOICES)}, got {data!r}")
        out["data"] = data
    if out.get("name"):
        out["name"] = safe_name(str(out["name"]), "")
    lang = str(out.get("lang") or "").strip()
    if lang and not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]+)?", lang):
        raise InputError(f"language must be a code such as my, en, fr; got {lang!r}")
    out["lang"] = lang or None
    return out


def train_overrides(base_lr: float, base_head_lr: float, steps: int | None, lr: float | None) -> dict[str, Any]:
    """TrainConfig overrides for the user's steps / learning rate.

    `steps` trains exactly that many optimiser steps (epochs=0 lets `fit` loop
    epochs until max_steps). `lr` sets the encoder rate; the heads' rate keeps
    the preset's ratio to it.
    """
    out: dict[str, Any] = {}
    if steps:
        out.update(max_steps=int(steps), epochs=0)
    if lr:
        out["lr"] = float(lr)
        out["head_lr"] = float(lr) * (base_head_lr / base_lr if base_lr else 1.0)
    return out


def heldout_split(examples: Sequence[Example], fraction: float = HELDOUT_FRACTION) -> tuple[list[Example], list[Example]]:
    """(train, held-out): a deterministic stratified slice; nothing in held-out is trained on."""
    from xsent_core.data.splits import stratified_split

    held, train = stratified_split(list(examples), fraction, seed=0)
    return train, held


def hold_out(
    rows: Sequence[Example], labelled: Sequence[Example], kind: str, what: str
) -> tuple[list[Example], list[Example], str]:
    """(rows to train on, held-out rows, where they came from) for a store job.

    Enough `labelled` store rows: a slice of them is held out and removed from
    `rows`; otherwise the job's fallback set (FALLBACK_HELDOUT[kind]) is used.
    """
    if len(labelled) >= MIN_STORE_HELDOUT:
        _, heldout = heldout_split(labelled)
        held_ids = {r.id for r in heldout}
        return [r for r in rows if r.id not in held_ids], heldout, f"store: {len(heldout)} {what} documents"
    from xsent_core.recipes import resolve_spec

    spec = FALLBACK_HELDOUT[kind]
    return list(rows), load_heldout(spec), resolve_spec(spec)


def sample_rows(rows: Sequence[Example], n: int = HELDOUT_ROWS) -> list[Example]:
    """At most `n` rows, stratified by label (a file's first rows are often one class)."""
    rows = list(rows)
    if len(rows) <= n:
        return rows
    from xsent_core.data.splits import stratified_split

    picked, _ = stratified_split(rows, n / len(rows), seed=0)
    return picked[:n]


def load_heldout(spec: str) -> list[Example]:
    from xsent_core.recipes import load_data

    return sample_rows(load_data(spec))


def progress_of(state: Any) -> float:
    total = max(1, int(getattr(state, "total_steps", 0) or 0))
    return max(0.0, min(1.0, int(getattr(state, "step", 0)) / total))


class _Reporter:
    """`fit` callback: progress, loss and messages into the job row; notices cancellation.

    Multi-stage recipes call `fit` several times: each "start" opens a stage,
    losses keep one running step count so the curve is continuous.
    """

    def __init__(self, store: Any, job_id: int, cancel: threading.Event, poll_s: float = 1.0) -> None:
        self.store = store
        self.job_id = job_id
        self.cancel = cancel
        self.poll_s = poll_s
        self.stage = 0
        self.offset = 0  # steps of finished stages
        self.last_step = 0
        self.last_poll = time.monotonic()

    def __call__(self, event: str, state: Any, payload: Mapping[str, Any]) -> None:
        if event == "start":
            self.stage += 1
            self.offset += self.last_step
            self.last_step = 0
            self.store.update_job(self.job_id, progress=0.0, message=self._stage_text(state))
        elif event == "step":
            self.last_step = int(state.step)
            loss = payload.get("loss")
            self.store.update_job(
                self.job_id,
                progress=progress_of(state),
                message=self._stage_text(state),
                append_loss=(self.offset + int(state.step), float(loss)) if loss is not None else None,
            )
        elif event == "eval":
            shown = {k: v for k, v in payload.items() if isinstance(v, float)}
            if shown:
                self.store.update_job(self.job_id, metrics={f"eval_stage{self.stage}": shown})
        self._check_cancelled()

    def _stage_text(self, state: Any) -> str:
        prefix = f"stage {self.stage}: " if self.stage > 1 else ""
        return f"{prefix}step {int(state.step)}/{int(state.total_steps)}"

    def _check_cancelled(self) -> None:
        # another session (or process) may have cancelled the job through the store
        now = time.monotonic()
        if now - self.last_poll < self.poll_s:
            return
        self.last_poll = now
        if self.store.get_job(self.job_id).status == "cancelled":
            self.cancel.set()


class JobRunner:
    """Runs queued jobs one at a time on a daemon thread; `stop()` on app exit."""

    def __init__(
        self,
        store: Any,
        settings: Any,
        *,
        on_model: Callable[[str], None] | None = None,
        poll_s: float = 1.0,
    ) -> None:
        self.store = store
        self.settings = settings
        self.on_model = on_model  # told the name of each newly registered model
        self.poll_s = poll_s
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._cancels: dict[int, threading.Event] = {}
        self._thread: threading.Thread | None = None
        self.current: int | None = None

    # ------------------------------------------------------------------ control
    def start(self) -> "JobRunner":
        """Mark jobs of dead processes failed, then start the worker."""
        for job in self.store.mark_stale_running_jobs_failed():
            log.warning("job %s was interrupted by a restart; marked failed", job.id)
            self._discard_unregistered(job.id)
        if self._thread is None or not self._thread.is_alive():
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="xsent-jobs", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel the running job (it is marked cancelled) and wait for the worker."""
        self._stopping.set()
        with self._lock:
            for ev in self._cancels.values():
                ev.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def submit(self, kind: str, params: Mapping[str, Any]) -> Any:
        job = self.store.create_job(kind, check_params(kind, params))
        self._wake.set()
        return job

    def cancel(self, job_id: int) -> Any:
        job = self.store.cancel_job(int(job_id), "cancelled by the user")
        with self._lock:
            ev = self._cancels.get(int(job_id))
        if ev is not None:
            ev.set()
        return job

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------- worker
    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self.store.next_queued_job()
            except Exception:  # a locked/closed store must not kill the worker
                log.exception("could not read the job queue")
                job = None
            if job is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            self.run_job(job)

    def run_job(self, job: Any) -> None:
        """Run one claimed (status running) job to its end; never raises."""
        cancel = threading.Event()
        with self._lock:
            self._cancels[job.id] = cancel
            self.current = job.id
        succeeded = False
        try:
            result = self._dispatch(job, cancel)
            if cancel.is_set():
                raise JobCancelled("cancelled")
            self._finish(job.id, "succeeded", "done", progress=1.0, **result)
            succeeded = True
        except JobCancelled:
            message = "cancelled: the app was stopped" if self._stopping.is_set() else "cancelled by the user"
            self._finish(job.id, "cancelled", message)
        except XsentError as e:
            self._finish(job.id, "failed", str(e))
        except Exception as e:  # a bug: keep the worker alive, show the cause
            log.error("job %s failed:\n%s", job.id, traceback.format_exc())
            self._finish(job.id, "failed", f"{type(e).__name__}: {e}")
        finally:
            if not succeeded:
                self._discard_unregistered(job.id)
            with self._lock:
                self._cancels.pop(job.id, None)
                self.current = None

    def _finish(self, job_id: int, status: str, message: str, **changes: Any) -> None:
        try:
            self.store.update_job(job_id, status=status, message=message, **changes)
        except Exception:
            # e.g. the user cancelled while the job was finishing: the store keeps "cancelled"
            log.info("job %s: could not mark %s", job_id, status, exc_info=True)

    def _discard_unregistered(self, job_id: int) -> None:
        """Remove the model folder a cancelled, failed or interrupted job left half-written.

        Only a folder inside models_dir that no registered model uses: a job cannot be
        resumed from the app, so the folder would only fill the disk.
        """
        try:
            folder = self.store.get_job(job_id).metrics.get("model_dir")
            if not folder:
                return
            target = Path(folder).resolve()
            root = Path(self.settings.models_dir).resolve()
            used = {Path(m.path).resolve() for m in self.store.list_models()}
            if target.parent == root and target.is_dir() and target not in used:
                shutil.rmtree(target)
                log.info("job %s: removed its unfinished model folder %s", job_id, target)
        except Exception:  # clean-up must never take the worker down
            log.warning("job %s: could not remove its model folder", job_id, exc_info=True)

    def _dispatch(self, job: Any, cancel: threading.Event) -> dict[str, Any]:
        reporter = _Reporter(self.store, job.id, cancel)
        params = dict(job.params)
        kind = job.kind
        if kind == "train_preset":
            return self._train_preset(job, params, reporter, cancel)
        if kind == "distill":
            return self._distill(job, params, reporter, cancel)
        if kind == "rethink":
            return self._rethink(job, params, reporter, cancel)
        raise XsentError(f"unknown job kind {kind!r}")

    # ---------------------------------------------------------------- helpers
    def device(self) -> str:
        from xsent_core.device import resolve_device

        return str(resolve_device(getattr(self.settings, "device", "auto")))

    def _out_dir(self, job: Any, method: str, params: Mapping[str, Any]) -> tuple[str, Path]:
        """A fresh model name and folder under models_dir (names are sanitised: no traversal)."""
        base = safe_name(str(params.get("name") or ""), f"{method}-job{job.id}")
        known = {m.name for m in self.store.list_models()}
        root = Path(self.settings.models_dir).resolve()
        name, n = base, 1
        while name in known or (root / name).exists():
            n += 1
            name = f"{base}-{n}"
        folder = (root / name).resolve()
        if folder.parent != root:
            raise InputError(f"model name {name!r} would leave the models folder")
        return name, folder

    def _default_record(self, method: str, name: str | None = None) -> Any:
        if name:
            return self.store.get_model(name)
        return self.store.default_model(method)

    def _evaluate(self, model: Any, rows: Sequence[Example]) -> dict[str, float]:
        import torch

        if not rows:
            return {}
        with torch.inference_mode():
            metrics = model.evaluate(list(rows))
        return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}

    def _register(
        self, job: Any, name: str, folder: Path, data: str, metrics: Mapping[str, Any]
    ) -> dict[str, Any]:
        from db.records import ModelRecord
        from xsent_core.registry import read_model_card

        card = read_model_card(folder)
        record = self.store.register_model(
            ModelRecord(
                name=name,
                method=card.method,
                path=str(folder),
                encoder=card.encoder_fingerprint,
                data=data,
                metrics=dict(metrics),
                created=None,
                is_default=False,
                shipped=False,
            )
        )
        if self.on_model is not None:
            self.on_model(record.name)
        return {"checkpoint": str(folder), "metrics": {**metrics, "model": record.name}}

    def _check(self, cancel: threading.Event) -> None:
        if cancel.is_set():
            raise JobCancelled("cancelled")

    # ------------------------------------------------------------ job kinds
    def _train_preset(self, job: Any, params: dict, reporter: _Reporter, cancel: threading.Event) -> dict[str, Any]:
        from xsent_core.recipes import get_preset, run_preset
        from xsent_core.registry import load_model

        method, preset_name = params["method"], params["preset"]
        preset = get_preset(method, preset_name)
        name, folder = self._out_dir(job, method, params)
        heldout_spec = _heldout_spec(preset.data)
        heldout = load_heldout(heldout_spec) if heldout_spec else []
        device = self.device()
        before = self._before(method, params.get("base"), heldout, device)
        self._check(cancel)
        overrides = train_overrides(preset.train.lr, preset.train.head_lr, params.get("steps"), params.get("lr"))
        self.store.update_job(job.id, message="training", metrics={"model_dir": str(folder)})
        report = run_preset(
            method, preset_name, folder, device=device, train_overrides=overrides,
            callbacks=[reporter], cancel=cancel, progress=False, evaluate_tests=False,
        )
        if report.get("status") != "finished":
            raise JobCancelled(str(report.get("status")))
        self._check(cancel)
        after = self._after(folder, method, heldout, device, load_model)
        metrics = _metrics_block(before, after, heldout_spec, len(heldout), report.get("dev"))
        return self._register(job, name, folder, f"preset {preset_name}", metrics)

    def _before(self, method: str, name: str | None, rows: Sequence[Example], device: str) -> dict[str, Any]:
        from xsent_core.registry import load_model

        record = None
        try:
            record = self._default_record(method, name)
        except XsentError:
            record = None
        if record is None or not rows:
            return {}
        try:
            model = load_model(record.path, expected_method=method, device=device)
        except XsentError as e:
            return {"model": record.name, "error": str(e)}
        metrics = self._evaluate(model, rows)
        del model
        return {"model": record.name, **metrics}

    def _after(self, folder: Path, method: str, rows: Sequence[Example], device: str, load_model: Any) -> dict[str, Any]:
        if not rows:
            return {}
        model = load_model(folder, expected_method=method, device=device)
        return self._evaluate(model, rows)

    def _store_rows(self, data: str) -> list[Example]:
        rows: list[Example] = []
        if data in ("corrected", "all"):
            rows += self.store.corrected_examples(only_annotated=True)
        if data in ("unlabelled", "all"):
            rows += self.store.unlabelled_texts()
        return [r for r in rows if r.text.strip()]

    def _distill(self, job: Any, params: dict, reporter: _Reporter, cancel: threading.Event) -> dict[str, Any]:
        from dataclasses import replace

        from xsent_core.registry import load_model

        try:
            from xsent_core.methods.msmo.distill import DEFAULT_JOB_TRAIN, distill_from_examples
        except ImportError as e:
            raise XsentError(f"MSMO distillation is not available in this version of xsent ({e})") from None
        teacher = self._teacher(params.get("teacher"))
        rows = self._store_rows(params["data"])
        rows, heldout, heldout_spec = hold_out(rows, [r for r in rows if r.spans], "distill", "corrected")
        if not rows:
            raise InputError(
                "no store sentences to distil on: annotate or import documents first "
                f"(data choice {params['data']!r})"
            )
        device = self.device()
        before = self._before(teacher.method, teacher.name, heldout, device)
        self._check(cancel)
        train = replace(DEFAULT_JOB_TRAIN, **train_overrides(DEFAULT_JOB_TRAIN.lr, DEFAULT_JOB_TRAIN.head_lr, params.get("steps"), params.get("lr")))
        name, folder = self._out_dir(job, "msmo", params)
        self.store.update_job(job.id, message="distilling", metrics={"model_dir": str(folder), "rows": len(rows)})
        result = distill_from_examples(
            teacher.path, rows, train=train, out_dir=folder, device=device, callbacks=[reporter],
            cancel=cancel, progress=False, metadata={"teacher": teacher.name, "data": params["data"]},
        )
        if getattr(result.train, "status", "finished") != "finished":
            raise JobCancelled("cancelled")
        self._check(cancel)
        after = self._after(folder, "msmo", heldout, device, load_model)
        metrics = _metrics_block(before, after, heldout_spec, len(heldout), {"counts": dict(result.counts)})
        return self._register(job, name, folder, f"distilled from {teacher.name} on store ({params['data']})", metrics)

    def _teacher(self, name: str | None) -> Any:
        if name:
            return self.store.get_model(name)
        for method in ("msmo", "tagger"):
            record = self.store.default_model(method)
            if record is not None:
                return record
        raise XsentError("distillation needs a teacher: no msmo or tagger model is registered")

    def _rethink(self, job: Any, params: dict, reporter: _Reporter, cancel: threading.Event) -> dict[str, Any]:
        from xsent_core.registry import load_model

        try:
            from xsent_core.methods.lfdrt import rethink
        except ImportError as e:
            raise XsentError(f"LFD-RT rethinking is not available in this version of xsent ({e})") from None
        base = params.get("base")
        record = self.store.get_model(base) if base else self.store.default_model("lfdrt")
        if record is None:
            raise XsentError("rethinking needs a trained lfdrt model: train one (preset) or register one first")
        rows = self._store_rows(params["data"])
        labelled = [r for r in self.store.corrected_examples(only_annotated=True) if r.label]
        rows, heldout, heldout_spec = hold_out(rows, labelled, "rethink", "labelled")
        # rethinking learns from the heads' own pseudo-labels: labels are not used
        rows = [Example(id=r.id, text=r.text, lang=r.lang, image=r.image) for r in rows]
        if not rows:
            raise InputError("no store texts to rethink on: import or predict some documents first")
        device = self.device()
        before = self._before("lfdrt", record.name, heldout, device)
        self._check(cancel)
        name, folder = self._out_dir(job, "lfdrt", params)
        self.store.update_job(job.id, message="rethinking", metrics={"model_dir": str(folder), "rows": len(rows)})
        model = load_model(record.path, expected_method="lfdrt", device=device)
        epochs = None
        if params.get("steps"):  # rethinking counts epochs: as many as the asked steps need
            batch = int(model.config.rethink_batch_size)
            per_epoch = max(1, -(-min(len(rows), model.config.rethink_max_rows or len(rows)) // batch))
            epochs = max(1, -(-int(params["steps"]) // per_epoch))
        result = rethink(
            model, rows, lang=params.get("lang") or None, out_dir=folder, epochs=epochs, lr=params.get("lr"),
            callbacks=[reporter], cancel=cancel, progress=False, device=device,
        )
        del model
        if result.status != "finished":
            raise JobCancelled(result.status)
        extra = {
            "rows": result.rows, "languages": dict(result.languages), "steps": result.steps,
            "heads_agree_before": result.agreement_before, "heads_agree_after": result.agreement_after,
        }
        self._check(cancel)
        after = self._after(folder, "lfdrt", heldout, device, load_model)
        metrics = _metrics_block(before, after, heldout_spec, len(heldout), extra)
        return self._register(job, name, folder, f"rethinking of {record.name} on store ({params['data']})", metrics)


def _heldout_spec(data: Mapping[str, Any]) -> str | None:
    """The preset's dev set (or its first test set): a slice training never sees."""
    dev = data.get("dev")
    if isinstance(dev, str):
        return dev
    if isinstance(dev, (list, tuple)) and dev:
        return str(dev[0])
    tests = data.get("test")
    if isinstance(tests, Mapping) and tests:
        return str(next(iter(tests.values())))
    return None


def _metrics_block(
    before: Mapping[str, Any], after: Mapping[str, Any], spec: str | None, n: int, extra: Any
) -> dict[str, Any]:
    from xsent_core.recipes import resolve_spec

    # what a person reads in the summary: the real path, not the "{data}" placeholder
    out: dict[str, Any] = {"heldout": {"data": resolve_spec(spec) if spec else "", "rows": n}, "before": dict(before), "after": dict(after)}
    if extra:
        out["train_report"] = extra
    return out


def before_after_rows(metrics: Mapping[str, Any]) -> list[list[Any]]:
    """[metric, before, after, change] rows for a finished job's held-out comparison."""
    before = metrics.get("before") or {}
    after = metrics.get("after") or {}
    first = ("f1", "span_only_f1", "polarity_accuracy", "precision", "recall", "accuracy", "macro_f1",
             "majority_macro_f1", "pos_neg_macro_f1", "majority_pos_neg_macro_f1")
    keys = [k for k in first if k in after or k in before]
    counts = {"tp", "fp", "fn", "n", "step", "epoch", "matched_spans"}
    keys += [k for k in after if k not in keys and k not in counts and isinstance(after[k], float) and 0.0 <= after[k] <= 1.0]
    rows = []
    for k in keys:
        b, a = before.get(k), after.get(k)
        change = (a - b) if isinstance(a, (int, float)) and isinstance(b, (int, float)) else None
        rows.append([k, _fmt(b), _fmt(a), "" if change is None else f"{change:+.3f}"])
    return rows


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) else "—"
