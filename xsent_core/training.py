"""The one training loop every method uses.

`fit()` drives any `Method`: seeds, device, AdamW with per-group learning rates
and linear warm-up/decay, gradient accumulation and clipping, periodic
evaluation with best-model selection, atomic checkpoints after each epoch,
resumption from the last checkpoint, cancellation between steps, and progress
reported through tqdm (which Gradio can track) and callbacks.
"""
from __future__ import annotations

import json
import math
import os
import random
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np
import torch

from .methods.base import Method, TrainConfig
from .types import XsentError


# a best-model save replaces the model folder; the resumable checkpoint inside it stays
KEEP = ("checkpoints",)


class TrainingCancelled(XsentError):
    """Raised inside the loop when the cancel event is set; caught by fit()."""


@dataclass
class TrainState:
    step: int = 0  # optimiser steps done
    total_steps: int = 0
    epoch: int = 0
    best_metric: float | None = None
    best_step: int | None = None
    losses: list[tuple[int, float]] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class TrainResult:
    status: str  # "finished" | "cancelled"
    steps: int
    best_metric: float | None
    best_step: int | None
    metrics: Mapping[str, float]
    seconds: float
    model_dir: Path | None
    history: Sequence[Mapping[str, Any]]


class TimeBudget:
    """Turns a training-time budget into a step count, re-estimated as steps are timed.

    Evaluation time is paused out, so rows compared at one budget get equal training time.
    """

    CALIBRATION_STEPS = 10

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.spent = 0.0
        self.started = time.perf_counter()
        self.paused_at: float | None = None

    def pause(self) -> None:
        if self.paused_at is None:
            self.spent += time.perf_counter() - self.started
            self.paused_at = time.perf_counter()

    def resume(self) -> None:
        if self.paused_at is not None:
            self.started, self.paused_at = time.perf_counter(), None

    def elapsed(self) -> float:
        return self.spent + (0.0 if self.paused_at is not None else time.perf_counter() - self.started)

    def total_steps(self, done: int, planned: int) -> int:
        """Steps that fit the budget (never more than `planned`, never fewer than `done`)."""
        if done < self.CALIBRATION_STEPS:
            return planned
        per_step = self.elapsed() / done
        return max(done, min(planned, int(self.seconds / per_step)))


class Callback(Protocol):
    def __call__(self, event: str, state: TrainState, payload: Mapping[str, Any]) -> None:
        """event: "start" | "step" | "eval" | "checkpoint" | "end"."""


def seed_everything(seed: int) -> random.Random:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return random.Random(seed)


def _scheduler(optimizer: torch.optim.Optimizer, warmup_ratio: float, state: TrainState) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up then linear decay to zero at `state.total_steps`, read live (a time budget moves it)."""

    def factor(step: int) -> float:
        end = state.total_steps
        warmup = int(warmup_ratio * end)
        if warmup and step < warmup:
            return (step + 1) / warmup
        return max(0.0, (end - step) / max(1, end - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _move(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _move(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)) and batch and isinstance(batch[0], torch.Tensor):
        return type(batch)(_move(v, device) for v in batch)
    return batch


def _atomic_write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def save_checkpoint(
    method: Method,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: TrainState,
    folder: Path,
) -> Path:
    """Model + optimiser + loop state, written to a temp folder then renamed."""
    from .registry import save_model

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    save_model(method, tmp / "model")
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp / "optimizer.pt")
    _atomic_write_json(
        tmp / "trainer_state.json",
        {
            "step": state.step,
            "epoch": state.epoch,
            "best_metric": state.best_metric,
            "best_step": state.best_step,
            "losses": state.losses[-2000:],
            "evals": state.evals,
        },
    )
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    # leftovers of a killed process (other pids) would otherwise compete in find_checkpoint
    for stale in [*folder.parent.glob(f".{folder.name}.old-*"), *folder.parent.glob(f".{folder.name}.tmp-*")]:
        shutil.rmtree(stale, ignore_errors=True)
    return folder


def _restore(method: Method, optimizer: Any, scheduler: Any, folder: Path, state: TrainState) -> None:
    from safetensors.torch import load_file

    weights = load_file(str(folder / "model" / "model.safetensors"))
    own = method.state_dict()
    method.load_state_dict({k: v.to(own[k].dtype) for k, v in weights.items()}, strict=False)
    opt = torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True)
    optimizer.load_state_dict(opt["optimizer"])
    scheduler.load_state_dict(opt["scheduler"])
    saved = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    state.step = int(saved["step"])
    state.epoch = int(saved["epoch"])
    state.best_metric = saved.get("best_metric")
    state.best_step = saved.get("best_step")
    state.losses = [tuple(x) for x in saved.get("losses", [])]  # type: ignore[misc]
    state.evals = list(saved.get("evals", []))


def _saved_step(folder: Path) -> int:
    try:
        return int(json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return -1


def find_checkpoint(out_dir: Path) -> Path | None:
    """The newest complete checkpoint of the run in `out_dir`, or None.

    Normally `checkpoints/last`. A process killed between the two renames of a
    save leaves the previous checkpoint under a hidden `.old-` name instead:
    `save_checkpoint`'s own, or `registry.save_model`'s while it swapped the
    model folder that holds `checkpoints/`.
    """
    checkpoints = out_dir / "checkpoints"
    candidates = [
        checkpoints / "last",
        *sorted(checkpoints.glob(".last.old-*")),
        *sorted(out_dir.parent.glob(f".{out_dir.name}.old-*/checkpoints/last")),
    ]
    needed = ("trainer_state.json", "optimizer.pt", "model/model.safetensors")
    complete = [c for c in candidates if all((c / name).is_file() for name in needed)]
    # max() keeps the first of equals: `last` wins a tie
    return max(complete, key=_saved_step) if complete else None


def fit(
    method: Method,
    train_items: Sequence[Any],
    train: TrainConfig,
    *,
    evaluate: Callable[[], Mapping[str, float]] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    callbacks: Sequence[Callback] = (),
    cancel: threading.Event | None = None,
    resume: bool = False,
    progress: bool = True,
    model_metadata: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train `method` on prepared items (from `method.prepare`).

    With `out_dir`, the best model (by `train.select_metric` of `evaluate()`, or
    the last one without evaluation) is saved to `out_dir`, and a resumable
    checkpoint to `out_dir/checkpoints/last` after each epoch.
    """
    from tqdm.auto import tqdm

    from .device import resolve_device
    from .registry import save_model

    if len(train_items) == 0:
        raise XsentError("no training examples: the training set is empty")
    if method.folded_adapters:
        raise XsentError(
            f"{method.name}: this model was loaded to predict, with its LoRA adapters folded into the encoder; "
            "load it with load_model(..., for_training=True) to train it further"
        )
    from .distributed import (
        any_rank_set, average_gradients, barrier, broadcast_params, device_for_rank, init_distributed,
        same_on_every_rank,
    )

    rng = seed_everything(train.seed)
    device = resolve_device(train.device)
    dist = init_distributed(device)
    device = device_for_rank(device, dist)
    method.to(device)
    broadcast_params(method, dist)
    groups = method.param_groups(train)
    if not groups:
        raise XsentError(f"{method.name}: nothing to train (every parameter is frozen)")
    optimizer = torch.optim.AdamW(groups, weight_decay=train.weight_decay)
    # under data parallelism each rank sees 1/world of the batches of an epoch
    batches_per_epoch = math.ceil(len(train_items) / train.batch_size) // dist.world_size
    steps_per_epoch = max(1, batches_per_epoch // train.grad_accum)
    total = steps_per_epoch * train.epochs
    if train.max_steps is not None:
        total = min(total, train.max_steps) if train.epochs else train.max_steps
    state = TrainState(total_steps=total)
    scheduler = _scheduler(optimizer, train.warmup_ratio, state)
    if train.time_budget_s and dist.enabled:
        raise XsentError("time_budget_s needs a single process: ranks would estimate different step counts")
    budget = TimeBudget(train.time_budget_s) if train.time_budget_s else None
    # only the main rank writes models and checkpoints
    out = Path(out_dir) if out_dir is not None and dist.is_main else None
    ckpt = out / "checkpoints" / "last" if out is not None else None
    if resume and out_dir is not None:
        # every rank reads the checkpoint: ranks must resume with equal weights,
        # optimiser state and step, or their collectives fall out of step
        found = find_checkpoint(Path(out_dir))
        if found is not None:
            _restore(method, optimizer, scheduler, found, state)
        if not same_on_every_rank(state.step, dist, device):
            raise XsentError(
                f"rank {dist.rank} resumed at step {state.step} but another rank did not: every node must "
                f"read the same {Path(out_dir) / 'checkpoints'} (put --out on a shared filesystem)"
            )
    metadata = dict(model_metadata or {})

    def emit(event: str, payload: Mapping[str, Any]) -> None:
        for cb in callbacks:
            cb(event, state, payload)

    def run_eval() -> None:
        if evaluate is None:
            return
        if budget is not None:
            budget.pause()
        if not dist.is_main:
            barrier(dist)
            return
        method.eval()
        with torch.inference_mode():
            metrics = dict(evaluate())
        method.train()
        record = {"step": state.step, "epoch": state.epoch, **metrics}
        state.evals.append(record)
        score = metrics.get(train.select_metric)
        if score is not None and (state.best_metric is None or score > state.best_metric):
            state.best_metric, state.best_step = float(score), state.step
            if out is not None:
                save_model(method, out, metrics=metrics, training={**metadata, "step": state.step}, keep=KEEP)
        emit("eval", record)
        barrier(dist)
        if budget is not None:
            budget.resume()

    start = time.time()
    status = "finished"
    emit("start", {"total_steps": total})
    bar = tqdm(total=total, initial=state.step, desc=f"train {method.name}", disable=not progress, unit="step")
    method.train()
    try:
        # when resuming, the interrupted epoch restarts from its beginning
        while state.step < state.total_steps:
            steps_before = state.step
            epoch_rng = random.Random(rng.random() + state.epoch)
            micro = 0
            optimizer.zero_grad(set_to_none=True)
            for index, batch in enumerate(method.batches(train_items, train.batch_size, True, epoch_rng)):
                if dist.enabled:
                    # equal batch counts per rank, or all_reduce would wait forever
                    if index >= batches_per_epoch * dist.world_size:
                        break
                    if index % dist.world_size != dist.rank:
                        continue
                if any_rank_set(cancel, dist, device):
                    raise TrainingCancelled("training cancelled")
                batch = _move(batch, device)
                extra = method.before_optimizer_step(batch, state.step) if micro == 0 else {}
                losses = method.forward_loss(batch)
                (losses["loss"] / train.grad_accum).backward()
                micro += 1
                if micro < train.grad_accum:
                    continue
                micro = 0
                average_gradients([p for g in groups for p in g["params"]], dist)
                if train.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(
                        [p for g in groups for p in g["params"]], train.max_grad_norm
                    )
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state.step += 1
                if budget is not None:
                    state.total_steps = budget.total_steps(state.step, state.total_steps)
                    bar.total = state.total_steps
                logged = {k: float(v.detach()) for k, v in losses.items()}
                logged.update(extra)
                state.losses.append((state.step, logged["loss"]))
                bar.update(1)
                bar.set_postfix(loss=f"{logged['loss']:.4f}")
                emit("step", logged)
                if train.eval_every and state.step % train.eval_every == 0:
                    run_eval()
                if state.step >= state.total_steps:
                    break
            state.epoch += 1
            already_evaluated = bool(state.evals) and state.evals[-1]["step"] == state.step
            if (not train.eval_every or state.step >= state.total_steps) and not already_evaluated:
                run_eval()
            if ckpt is not None:
                save_checkpoint(method, optimizer, scheduler, state, ckpt)
                emit("checkpoint", {"path": str(ckpt)})
            if state.step == steps_before:
                raise XsentError(
                    f"training set of {len(train_items)} items is smaller than one optimiser step "
                    f"(batch {train.batch_size} x accumulation {train.grad_accum}"
                    + (f" x {dist.world_size} processes)" if dist.enabled else ")")
                )
    except TrainingCancelled:
        status = "cancelled"
    finally:
        bar.close()
    method.eval()
    if out is not None and (evaluate is None or state.best_metric is None) and status == "finished":
        save_model(method, out, metrics=state.evals[-1] if state.evals else {}, training={**metadata, "step": state.step}, keep=KEEP)
    barrier(dist)  # no rank reads or deletes OUT (recipes do) while rank 0 still writes it
    best = next((e for e in state.evals if e["step"] == state.best_step), state.evals[-1] if state.evals else {})
    result = TrainResult(
        status=status,
        steps=state.step,
        best_metric=state.best_metric,
        best_step=state.best_step,
        metrics={k: v for k, v in best.items() if isinstance(v, (int, float))},
        seconds=time.time() - start,
        model_dir=out,
        history=list(state.evals),
    )
    emit("end", {"status": status})
    return result
