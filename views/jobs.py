"""Background training jobs for the app: one worker thread, one job at a time.

The queue *is* the store's jobs table (`create_job` / `next_queued_job`), so a
job survives a page reload and another process can see it; a job whose process
died is marked failed when the next runner starts. Progress and the loss of
every optimiser step are appended to the job row from `training.fit`
callbacks. The work itself is a library call (`xsent_core.jobs`: hold-out,
before/after scores, training), the same one the CLI makes; the runner picks
models and rows from the store and, on success, registers the new model folder
(under `settings.models_dir`) with its metrics.

Job kinds (params in the job row):
- "train_preset": {method, preset, steps?, lr?, name?}: `recipes.run_preset`.
- "distill": {teacher?, data, steps?, lr?, name?}: `xsent_core.jobs.distill_job`
  on store sentences; corrected spans are hard labels.
- "rethink": {base?, data, steps?, lr?, name?, lang?}: `xsent_core.jobs.rethink_job`
  on unlabelled store texts (`lang` for rows whose language is neither given nor detected).
"""
from __future__ import annotations

import logging
import re
import shutil
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Mapping

from xsent_core.jobs import JobCancelled, JobResult, JobRun, ModelRef, distill_job, job_kind, rethink_job, train_preset_job
from xsent_core.types import InputError, XsentError

log = logging.getLogger("xsent.jobs")

JOB_KINDS: tuple[str, ...] = ("train_preset", "distill", "rethink")
DATA_CHOICES: tuple[str, ...] = ("corrected", "unlabelled", "all")
MAX_STEPS = 100_000
_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")
__all__ = ["JOB_KINDS", "JobCancelled", "JobRunner", "before_after_rows", "check_params", "progress_of", "safe_name"]


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

    def _ref(self, method: str, name: str | None) -> ModelRef | None:
        """The store's model (named, else the method's default) as a library ModelRef; None if there is none."""
        try:
            record = self._default_record(method, name)
        except XsentError:
            return None
        return None if record is None else ModelRef(record.name, record.path, record.method)

    def _run(self, job: Any, reporter: "_Reporter", cancel: threading.Event) -> JobRun:
        def on_stage(stage: str, facts: Mapping[str, Any]) -> None:
            self.store.update_job(job.id, message=stage, metrics=dict(facts))

        return JobRun(device=self.device(), callbacks=(reporter,), cancel=cancel, on_stage=on_stage)

    def _register(self, job: Any, name: str, result: JobResult) -> dict[str, Any]:
        from db.records import ModelRecord
        from xsent_core.registry import read_model_card

        card = read_model_card(result.folder)
        record = self.store.register_model(
            ModelRecord(
                name=name,
                method=card.method,
                path=str(result.folder),
                encoder=card.encoder_fingerprint,
                data=result.description,
                metrics=dict(result.metrics),
                created=None,
                is_default=False,
                shipped=False,
            )
        )
        if self.on_model is not None:
            self.on_model(record.name)
        return {"checkpoint": str(result.folder), "metrics": {**result.metrics, "model": record.name}}

    # ------------------------------------------------------------ job kinds
    # the library does the work (xsent_core.jobs); the runner picks models and rows from the store
    def _train_preset(self, job: Any, params: dict, reporter: "_Reporter", cancel: threading.Event) -> dict[str, Any]:
        method = params["method"]
        name, folder = self._out_dir(job, method, params)
        result = train_preset_job(
            method, params["preset"], folder, base=self._ref(method, params.get("base")),
            steps=params.get("steps"), lr=params.get("lr"), run=self._run(job, reporter, cancel),
        )
        return self._register(job, name, result)

    def _store_rows(self, data: str) -> list[Any]:
        rows: list[Any] = []
        if data in ("corrected", "all"):
            rows += self.store.corrected_examples(only_annotated=True)
        if data in ("unlabelled", "all"):
            rows += self.store.unlabelled_texts()
        return [r for r in rows if r.text.strip()]

    def _base(self, kind: str, name: str | None) -> ModelRef:
        """The named model, else the default of the first method the job kind can start from."""
        if name:
            record = self.store.get_model(name)
        else:
            methods = job_kind(kind).base_methods()
            record = next((r for r in map(self.store.default_model, methods) if r is not None), None)
            if record is None:
                raise XsentError(
                    f"{job_kind(kind).short} needs a model to start from: no {' or '.join(methods)} model is "
                    "registered; train one (preset) or register one first"
                )
        return ModelRef(record.name, record.path, record.method)

    def _distill(self, job: Any, params: dict, reporter: "_Reporter", cancel: threading.Event) -> dict[str, Any]:
        teacher = self._base("distill", params.get("teacher"))
        rows = self._store_rows(params["data"])
        if not rows:
            raise InputError(
                "no store sentences to distil on: annotate or import documents first "
                f"(data choice {params['data']!r})"
            )
        name, folder = self._out_dir(job, str(job_kind("distill").produces), params)
        result = distill_job(
            teacher, rows, folder, data=f"store ({params['data']})",
            steps=params.get("steps"), lr=params.get("lr"), run=self._run(job, reporter, cancel),
        )
        return self._register(job, name, result)

    def _rethink(self, job: Any, params: dict, reporter: "_Reporter", cancel: threading.Event) -> dict[str, Any]:
        base = self._base("rethink", params.get("base"))
        rows = self._store_rows(params["data"])
        if not rows:
            raise InputError("no store texts to rethink on: import or predict some documents first")
        name, folder = self._out_dir(job, str(job_kind("rethink").produces), params)
        result = rethink_job(
            base, rows, self.store.corrected_examples(only_annotated=True), folder, data=f"store ({params['data']})",
            lang=params.get("lang") or None, steps=params.get("steps"), lr=params.get("lr"),
            run=self._run(job, reporter, cancel),
        )
        return self._register(job, name, result)


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
