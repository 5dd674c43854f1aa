"""Fine-tuning jobs as library calls: preset training, MSMO distillation from
corrected sentences, LFD-RT rethinking on unlabelled texts.

Each call holds out rows that training never sees, scores the starting model and
the new one on them, and returns a `JobResult` (the new model's folder, a
one-line description and the before/after metrics). Where the result goes is the
caller's business: the app's runner (thread, queue, cancel, progress, store)
registers it; `python -m xsent_core distill | rethink` prints it.

Held-out rows: with at least MIN_LABELLED_HELDOUT labelled rows among the
caller's, a stratified HELDOUT_FRACTION of them (removed from training);
otherwise the job kind's fallback slice of the shared data (FALLBACK_HELDOUT),
at most HELDOUT_ROWS rows. A preset is scored on its own dev set.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .types import Example, InputError, XsentError

HELDOUT_ROWS = 64  # rows of a fallback or dev set used for before/after metrics
HELDOUT_FRACTION = 0.2  # of the caller's labelled rows, when there are enough
MIN_LABELLED_HELDOUT = 10  # fewer labelled rows than this: use a shared-data slice instead
# a labelled slice of the shared data for before/after when the caller has too few labels
FALLBACK_HELDOUT = {
    "distill": "semeval:{data}/semeval16_restaurants/gold-fr-dev.txt",
    "rethink": "gklmip:{data}/gklmip_myanmar_sentiment/dev.json",
}


@dataclass(frozen=True)
class JobKind:
    """A job as menus and summaries show it, and which models it starts from.

    `produces`: the method of the model it trains (None: the preset's).
    `base_job`: the `MethodSpec.jobs` entry whose methods can be its starting
    model; `base_methods()` lists them, the produced method first.
    """

    name: str
    title: str  # one line for a menu
    short: str  # a few words for a job summary
    produces: str | None
    base_job: str | None = None

    def base_methods(self) -> tuple[str, ...]:
        if self.base_job is None:
            return ()
        from .registry import method_specs

        found = [spec.name for spec in method_specs() if self.base_job in spec.jobs]
        return tuple(sorted(found, key=lambda m: m != self.produces))


def job_kinds() -> tuple[JobKind, ...]:
    """Every job the app's runner and the CLI can start (`distill_job`, `rethink_job`, `train_preset_job`)."""
    return (
        JobKind("distill", "Distillation (MSMO): teachers → student on store sentences", "MSMO distillation",
                produces="msmo", base_job="distill"),
        JobKind("rethink", "Rethinking (LFD-RT) on unlabelled store texts", "LFD-RT rethinking",
                produces="lfdrt", base_job="rethink"),
        JobKind("train_preset", "Preset training (any method)", "preset training", produces=None),
    )


def job_kind(name: str) -> JobKind:
    for kind in job_kinds():
        if kind.name == name:
            return kind
    raise XsentError(f"unknown job kind {name!r}; known: {', '.join(k.name for k in job_kinds())}")


# (stage, facts) before the long part of a job starts, e.g. ("distilling", {"rows": 120})
StageHook = Callable[[str, Mapping[str, Any]], None]


class JobCancelled(XsentError):
    pass


@dataclass(frozen=True)
class ModelRef:
    """A model a job starts from or compares against."""

    name: str
    path: str
    method: str


@dataclass(frozen=True)
class JobResult:
    folder: Path  # the new model
    method: str
    description: str  # what it was trained on, for a registry
    metrics: Mapping[str, Any]  # {"heldout": {data, rows}, "before": {...}, "after": {...}, "train_report"?}


@dataclass(frozen=True)
class JobRun:
    """How a job runs: device, progress callbacks (`training.fit`'s), cancel flag, stage hook."""

    device: str = "cpu"
    callbacks: Sequence[Callable[..., None]] = ()
    cancel: threading.Event | None = None
    on_stage: StageHook | None = None

    def check(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise JobCancelled("cancelled")

    def stage(self, name: str, **facts: Any) -> None:
        if self.on_stage is not None:
            self.on_stage(name, facts)


# -- hold-out and scoring ----------------------------------------------------------
def train_overrides(base_lr: float, base_head_lr: float, steps: int | None, lr: float | None) -> dict[str, Any]:
    """TrainConfig overrides for a user's steps / learning rate.

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
    from .data.splits import stratified_split

    held, train = stratified_split(list(examples), fraction, seed=0)
    return train, held


def hold_out(
    rows: Sequence[Example], labelled: Sequence[Example], kind: str, what: str
) -> tuple[list[Example], list[Example], str]:
    """(rows to train on, held-out rows, where they came from).

    Enough `labelled` rows: a slice of them is held out and removed from `rows`;
    otherwise the job kind's fallback set (FALLBACK_HELDOUT[kind]) is used.
    """
    if len(labelled) >= MIN_LABELLED_HELDOUT:
        _, heldout = heldout_split(labelled)
        held_ids = {r.id for r in heldout}
        return [r for r in rows if r.id not in held_ids], heldout, f"store: {len(heldout)} {what} documents"
    from .recipes import resolve_spec

    spec = FALLBACK_HELDOUT[kind]
    return list(rows), load_heldout(spec), resolve_spec(spec)


def sample_rows(rows: Sequence[Example], n: int = HELDOUT_ROWS) -> list[Example]:
    """At most `n` rows, stratified by label (a file's first rows are often one class)."""
    rows = list(rows)
    if len(rows) <= n:
        return rows
    from .data.splits import stratified_split

    picked, _ = stratified_split(rows, n / len(rows), seed=0)
    return picked[:n]


def load_heldout(spec: str) -> list[Example]:
    from .recipes import load_data

    return sample_rows(load_data(spec))


def heldout_spec(data: Mapping[str, Any]) -> str | None:
    """A preset's dev set (or its first test set): a slice training never sees."""
    dev = data.get("dev")
    if isinstance(dev, str):
        return dev
    if isinstance(dev, (list, tuple)) and dev:
        return str(dev[0])
    tests = data.get("test")
    if isinstance(tests, Mapping) and tests:
        return str(next(iter(tests.values())))
    return None


def metrics_block(
    before: Mapping[str, Any], after: Mapping[str, Any], described: str | None, n: int, extra: Any,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """A job's metrics; `notes` are sentences for the person who started it (the app shows them)."""
    from .recipes import resolve_spec

    # what a person reads in the summary: the real path, not the "{data}" placeholder
    out: dict[str, Any] = {"heldout": {"data": resolve_spec(described) if described else "", "rows": n},
                           "before": dict(before), "after": dict(after)}
    if extra:
        out["train_report"] = extra
    if notes:
        out["notes"] = list(notes)
    return out


def score(model: Any, rows: Sequence[Example]) -> dict[str, float]:
    """The model's own `evaluate` on `rows`, numbers only."""
    import torch

    if not rows:
        return {}
    with torch.inference_mode():
        metrics = model.evaluate(list(rows))
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}


def score_before(ref: ModelRef | None, rows: Sequence[Example], device: str) -> dict[str, Any]:
    """The starting model on the held-out rows ({} without one; its load error, if any, is kept)."""
    from .registry import load_model

    if ref is None or not rows:
        return {}
    try:
        model = load_model(ref.path, expected_method=ref.method, device=device)
    except XsentError as e:
        return {"model": ref.name, "error": str(e)}
    return {"model": ref.name, **score(model, rows)}


def score_after(folder: Path, method: str, rows: Sequence[Example], device: str) -> dict[str, Any]:
    from .registry import load_model

    if not rows:
        return {}
    return score(load_model(folder, expected_method=method, device=device), rows)


# -- the jobs ------------------------------------------------------------------------
def _split(
    rows: Sequence[Example], labelled: Sequence[Example], kind: str, what: str, empty: str
) -> tuple[list[Example], list[Example], str]:
    """`hold_out` of the rows with text; InputError(`empty`) when nothing is left to train on."""
    rows, heldout, described = hold_out([r for r in rows if r.text.strip()], [r for r in labelled if r.text.strip()], kind, what)
    if not rows:
        raise InputError(empty)
    return rows, heldout, described


def train_preset_job(
    method: str, preset_name: str, out_dir: Path, *, base: ModelRef | None = None,
    steps: int | None = None, lr: float | None = None, run: JobRun = JobRun(),
) -> JobResult:
    """Train a preset into `out_dir`, scored with `base` (the model it would replace) on its dev set."""
    from .recipes import get_preset, run_preset

    preset = get_preset(method, preset_name)
    spec = heldout_spec(preset.data)
    heldout = load_heldout(spec) if spec else []
    before = score_before(base, heldout, run.device)
    run.check()
    run.stage("training", model_dir=str(out_dir))
    report = run_preset(
        method, preset_name, out_dir, device=run.device,
        train_overrides=train_overrides(preset.train.lr, preset.train.head_lr, steps, lr),
        callbacks=list(run.callbacks), cancel=run.cancel, progress=False, evaluate_tests=False,
    )
    if report.get("status") != "finished":
        raise JobCancelled(str(report.get("status")))
    run.check()
    after = score_after(out_dir, method, heldout, run.device)
    return JobResult(out_dir, method, f"preset {preset_name}", metrics_block(before, after, spec, len(heldout), report.get("dev")))


def distill_job(
    teacher: ModelRef, rows: Sequence[Example], out_dir: Path, *, data: str = "given rows",
    steps: int | None = None, lr: float | None = None, run: JobRun = JobRun(),
) -> JobResult:
    """MSMO multi-teacher distillation of `teacher` on `rows`; a row's spans are hard labels."""
    from .methods.msmo.distill import DEFAULT_JOB_TRAIN, distill_from_examples

    rows, heldout, described = _split(rows, [r for r in rows if r.spans], "distill", "corrected", f"no sentences to distil on (data: {data})")
    before = score_before(teacher, heldout, run.device)
    run.check()
    train = replace(DEFAULT_JOB_TRAIN, **train_overrides(DEFAULT_JOB_TRAIN.lr, DEFAULT_JOB_TRAIN.head_lr, steps, lr))
    run.stage("distilling", model_dir=str(out_dir), rows=len(rows))
    result = distill_from_examples(
        teacher.path, rows, train=train, out_dir=out_dir, device=run.device, callbacks=list(run.callbacks),
        cancel=run.cancel, progress=False, metadata={"teacher": teacher.name, "data": data},
    )
    if getattr(result.train, "status", "finished") != "finished":
        raise JobCancelled("cancelled")
    run.check()
    after = score_after(out_dir, "msmo", heldout, run.device)
    metrics = metrics_block(before, after, described, len(heldout), {"counts": dict(result.counts)})
    return JobResult(out_dir, "msmo", f"distilled from {teacher.name} on {data}", metrics)


def rethink_job(
    base: ModelRef, rows: Sequence[Example], labelled: Sequence[Example], out_dir: Path, *, data: str = "given rows",
    lang: str | None = None, steps: int | None = None, lr: float | None = None, run: JobRun = JobRun(),
) -> JobResult:
    """LFD-RT rethinking of `base` on `rows` (their labels are not used); `labelled` rows feed the hold-out."""
    from .methods.lfdrt import rethink
    from .registry import load_model

    rows, heldout, described = _split(rows, [r for r in labelled if r.label], "rethink", "labelled", f"no texts to rethink on (data: {data})")
    # rethinking learns from the heads' own pseudo-labels: labels are not used
    rows = [Example(id=r.id, text=r.text, lang=r.lang, image=r.image) for r in rows]
    before = score_before(base, heldout, run.device)
    run.check()
    run.stage("rethinking", model_dir=str(out_dir), rows=len(rows))
    model = load_model(base.path, expected_method="lfdrt", device=run.device, onnx=False)  # it is trained next
    epochs = None
    if steps:  # rethinking counts epochs: as many as the asked steps need
        batch = int(model.config.rethink_batch_size)
        per_epoch = max(1, -(-min(len(rows), model.config.rethink_max_rows or len(rows)) // batch))
        epochs = max(1, -(-int(steps) // per_epoch))
    result = rethink(
        model, rows, lang=lang or None, out_dir=out_dir, epochs=epochs, lr=lr,
        callbacks=list(run.callbacks), cancel=run.cancel, progress=False, device=run.device,
    )
    del model
    if result.status != "finished":
        raise JobCancelled(result.status)
    extra = {
        "rows": result.rows, "languages": dict(result.languages), "steps": result.steps,
        "heads_agree_before": result.agreement_before, "heads_agree_after": result.agreement_after,
        "skipped_undetected_language": result.skipped_undetected,
    }
    run.check()
    after = score_after(out_dir, "lfdrt", heldout, run.device)
    notes = [note for note in (result.skipped_note, result.prior_note) if note]
    return JobResult(out_dir, "lfdrt", f"rethinking of {base.name} on {data}",
                     metrics_block(before, after, described, len(heldout), extra, notes))
