"""Multi-teacher distillation (MSMO-Distill) and the distillation job the app runs.

Teachers (any span tagger: `msmo` or `tagger` models) predict tag
distributions on target-language text; their weighted average is the soft
label, and the student learns it with MSE (`losses.distillation_mse`). Rows
that carry corrected spans (e.g. from the annotation store) are hard labels:
one-hot tag targets under the same loss.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

import torch

from ...data import bies
from ...types import Example, XsentError
from ..base import TrainConfig
from ..tagger.model import TaggerMethod
from . import losses
from .config import MsmoConfig
from .model import MsmoMethod, SentenceItem, cached_tag_probs, evaluate_cached, load_best_, tagger_state

# what the app's "distillation fine-tuning" job runs by default (a few minutes on 2 cores)
DEFAULT_JOB_TRAIN = TrainConfig(epochs=0, max_steps=300, batch_size=16, lr=3e-5, head_lr=3e-4, warmup_ratio=0.1)


@dataclass(frozen=True)
class DistillResult:
    student: MsmoMethod
    train: Any  # training.TrainResult
    counts: Mapping[str, int]  # hard / soft / skipped rows


def _load_teachers(teachers: Any, device: Any) -> list[TaggerMethod]:
    from ...registry import load_model

    if isinstance(teachers, (str, os.PathLike, torch.nn.Module)):
        teachers = [teachers]
    out = []
    for t in teachers:
        model = load_model(t, device=device) if isinstance(t, (str, os.PathLike)) else t
        if not isinstance(model, TaggerMethod):
            raise XsentError(f"a distillation teacher must be an msmo or tagger model, got {getattr(model, 'name', model)!r}")
        out.append(model)
    if not out:
        raise XsentError("distillation needs at least one teacher model")
    return out


def student_from_teacher(teacher: TaggerMethod, device: Any = "cpu", **config_overrides: Any) -> MsmoMethod:
    """A fresh MsmoMethod (no critic) holding a copy of the teacher's trained weights."""
    from ...config import config_to_dict

    base = {k: v for k, v in config_to_dict(teacher.config).items() if k in {f for f in MsmoConfig.__dataclass_fields__}}
    config = MsmoConfig(**{**base, "adversarial": False, **config_overrides})
    student = MsmoMethod.create(config, device=device)
    state = tagger_state(teacher)
    student.load_state_dict(state, strict=False)
    return student


def _same_states(a: TaggerMethod, b: TaggerMethod) -> bool:
    """True when b can reuse a's cached lower-layer states."""
    return (
        a.encoder_fingerprint() == b.encoder_fingerprint()
        and a.live_layer == b.live_layer
        and all(
            torch.equal(p, q)
            for p, q in zip(
                a.encoder.layers[: a.live_layer].parameters(),
                b.encoder.layers[: b.live_layer].parameters(),
            )
        )
    )


def teacher_probs(
    teacher: TaggerMethod,
    student: MsmoMethod,
    examples: Sequence[Example],
    items: Sequence[SentenceItem | None],
) -> list[torch.Tensor]:
    """One teacher's tag distributions, [n_words, 13] per item (empty for None).

    A teacher on the student's encoder (same frozen layers) runs on the cached
    states; any other teacher runs its own full encoder on the text. Words the
    teacher could not fit are given O.
    """
    if _same_states(teacher, student):
        raw = cached_tag_probs(teacher, items)
    else:
        raw = [p for _, p, _ in teacher.tag_probs(examples)]
    out = []
    for item, p in zip(items, raw):
        if item is None:
            out.append(torch.zeros((0, len(bies.TAGS))))
            continue
        n = item.n_words
        p = p[:n].float()
        if p.shape[0] < n:
            pad = torch.zeros((n - p.shape[0], len(bies.TAGS)))
            pad[:, 0] = 1.0
            p = torch.cat([p, pad])
        out.append(p)
    return out


def distillation_items(
    items: Sequence[SentenceItem | None],
    hard: Sequence[bool],
    per_teacher: Sequence[Sequence[torch.Tensor]],
    weights: Sequence[float] | None = None,
) -> list[SentenceItem]:
    """Items with `targets`: one-hot tags where `hard`, else the weighted teacher average."""
    out = []
    for i, item in enumerate(items):
        if item is None:
            continue
        if hard[i]:
            assert item.tags is not None
            target = torch.nn.functional.one_hot(item.tags, len(bies.TAGS)).float()
        else:
            target = losses.average_teachers([probs[i] for probs in per_teacher], weights)
        out.append(SentenceItem(item.ids, item.lower, item.word_index, None, target))
    return out


def as_student(student: MsmoMethod) -> MsmoMethod:
    """Drop the critic: a student only tags."""
    if student.critic is not None or student.config.adversarial:
        student.critic = None
        student.config = replace(student.config, adversarial=False)
    return student


def train_student(
    student: MsmoMethod,
    items: Sequence[SentenceItem],
    train: TrainConfig,
    *,
    dev: Sequence[Example] = (),
    out_dir: str | os.PathLike[str] | None = None,
    callbacks: Sequence[Callable[..., None]] = (),
    cancel: threading.Event | None = None,
    progress: bool = False,
    metadata: Mapping[str, Any] | None = None,
) -> Any:
    """`training.fit` on distillation items; `dev` (labelled) selects the best step."""
    from ...training import fit

    if not items:
        raise XsentError("distillation: none of the given rows has any words to learn from")
    evaluate = None
    if dev:
        dev_items = student.encode_sentences(dev, labelled=False, max_length=student.encoder.info.max_length)
        evaluate = lambda: evaluate_cached(student, dev_items, dev)  # noqa: E731
    result = fit(
        student, items, train, evaluate=evaluate, out_dir=out_dir, callbacks=callbacks,
        cancel=cancel, progress=progress, model_metadata=dict(metadata or {}),
    )
    if out_dir is not None and result.status == "finished":
        load_best_(student, out_dir)
    return result


def distill_from_examples(
    teachers: Any,
    examples: Sequence[Example],
    *,
    weights: Sequence[float] | None = None,
    student: MsmoMethod | None = None,
    train: TrainConfig | None = None,
    dev: Sequence[Example] = (),
    out_dir: str | os.PathLike[str] | None = None,
    hard_labels: bool = True,
    device: Any = "cpu",
    callbacks: Sequence[Callable[..., None]] = (),
    cancel: threading.Event | None = None,
    progress: bool = False,
    metadata: Mapping[str, Any] | None = None,
) -> DistillResult:
    """Distil one or more teachers into a student on `examples` (the app's job).

    `teachers`: a model, a model folder, or a list of them (msmo or tagger).
    `examples`: rows whose `spans` is a non-empty tuple (e.g. corrected in the
    store) train on one-hot targets when `hard_labels`; rows with `spans` None
    or empty (an annotation may give only a sentence label) get the teachers'
    soft labels averaged with `weights` (default equal). The student defaults
    to a copy of the first teacher. With `out_dir` the student is saved there
    (best on `dev` when given, see `training.fit`).
    """
    models = _load_teachers(teachers, device)
    student = as_student(student or student_from_teacher(models[0], device=device))
    rows = list(examples)
    hard = [bool(hard_labels and ex.spans) for ex in rows]
    items = student.encode_sentences(rows, labelled=hard)
    need_soft = [i for i, (h, it) in enumerate(zip(hard, items)) if not h and it is not None]
    per_teacher = []
    for model in models:
        probs: list[torch.Tensor] = [torch.zeros((0, len(bies.TAGS)))] * len(rows)
        if need_soft:
            found = teacher_probs(model, student, [rows[i] for i in need_soft], [items[i] for i in need_soft])
            for i, p in zip(need_soft, found):
                probs[i] = p
        per_teacher.append(probs)
    prepared = distillation_items(items, hard, per_teacher, weights)
    counts = {
        "hard": sum(1 for h, it in zip(hard, items) if h and it is not None),
        "soft": len(need_soft),
        "skipped": sum(1 for it in items if it is None),
    }
    result = train_student(
        student, prepared, train or DEFAULT_JOB_TRAIN, dev=dev, out_dir=out_dir, callbacks=callbacks,
        cancel=cancel, progress=progress, metadata={"job": "distill", "counts": counts, **(metadata or {})},
    )
    return DistillResult(student=student, train=result, counts=counts)
