"""M2SA's preset runner: the shared `training.fit` loop plus what M2SA needs
around it.

- `{m2sa}` in a preset's data specs is the folder of the user's imported M2SA
  tweets (`$XSENT_M2SA_DATA`, else `xsent_home()/m2sa`; see `importer.py`).
- Dev evaluation runs on prepared items (cached lower-layer states and image
  features), so each evaluation costs only the trainable top layers.
- Early stopping (the paper's patience of 3 evaluations) is a callback that
  stops the loop through its cancel hook; the best model is kept as usual.
- The report and model card list every training image that could not be read.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from ...model_card import CardSection, MeasuredTable, model_card_text
from ...types import XsentError
from ..base import Preset, RunOptions

M2SA_DATA_ENV = "XSENT_M2SA_DATA"


def m2sa_data_dir() -> Path:
    """Where imported M2SA tweets live: $XSENT_M2SA_DATA, else xsent_home()/m2sa."""
    env = os.environ.get(M2SA_DATA_ENV)
    if env:
        return Path(env).expanduser()
    from ...paths import xsent_home

    return xsent_home() / "m2sa"


def _resolve(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("{m2sa}", str(m2sa_data_dir()))
    if isinstance(value, (list, tuple)):
        return [_resolve(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _resolve(v) for k, v in value.items()}
    return value


class _AnyEvent:
    """Set when either event is set (the loop only calls `is_set`)."""

    def __init__(self, *events: threading.Event | None) -> None:
        self.events = [e for e in events if e is not None]

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)


class EarlyStopping:
    """Callback: sets `stop` after `patience` evaluations without a better `metric`."""

    def __init__(self, metric: str, patience: int) -> None:
        self.metric, self.patience = metric, patience
        self.best: float | None = None
        self.bad = 0
        self.stop = threading.Event()
        self.stopped_at: int | None = None

    def __call__(self, event: str, state: Any, payload: Mapping[str, Any]) -> None:
        if event != "eval" or self.patience <= 0:
            return
        score = payload.get(self.metric)
        if score is None:
            return
        if self.best is None or score > self.best:
            self.best, self.bad = float(score), 0
            return
        self.bad += 1
        if self.bad >= self.patience and not self.stop.is_set():
            self.stopped_at = int(payload.get("step", 0))
            self.stop.set()


def model_card(
    preset: Preset,
    report: Mapping[str, Any],
    command: str,
) -> str:
    training = (
        f"Training rows: {report['images']['rows']} (with an image: {report['images']['with_image']}); "
        f"{report['steps']} steps"
        + (f" (early stop at step {report['early_stopped_at']})" if report.get("early_stopped_at") else "")
        + f"; the training loop took {report['seconds'] / 60:.1f} minutes and the whole run (features, "
        f"training, test evaluation) {report.get('total_seconds', report['seconds']) / 60:.1f} minutes."
    )
    sections = [CardSection("Training", (training,))]
    bad = report["images"]["bad_images"]
    if bad:
        listed = [f"- `{b['id']}`: {b['error']}" for b in bad[:50]]
        if len(bad) > 50:
            listed.append(f"- ... and {len(bad) - 50} more (see the training report)")
        sections.append(CardSection(f"Unreadable training images ({len(bad)}, policy `{report['images']['policy']}`)",
                                    tuple(listed)))
    return model_card_text(
        preset, command, sections=sections, seconds=report["seconds"],
        tables=[MeasuredTable("Measured (fractions in [0, 1])", {"dev": report["dev"], **report["test"]})],
    )


def run_preset(
    cls: type,
    preset: Preset,
    out_dir: str | os.PathLike[str],
    options: RunOptions,
) -> dict[str, Any]:
    """Train `preset` into `out_dir`; returns {"status", "steps", "seconds", "dev", "test", "images", ...}."""
    from ...config import config_from_dict
    from ...distributed import dist_info
    from ...recipes import finish_run, load_data
    from ...training import fit

    if options.unlabelled:
        raise XsentError("method 'm2sa' does not train on unlabelled text (--unlabelled)")
    started = time.time()
    preset = replace(preset, data=_resolve(dict(preset.data)))
    config = config_from_dict(cls.config_cls, {**preset.config, **(options.overrides or {})})
    train = options.train_config(preset)
    model = cls.create(config, device="cpu")
    train_rows = load_data(preset.data["train"])
    dev_rows = load_data(preset.data["dev"]) if "dev" in preset.data else []
    items, image_report = model.prepare_with_report(train_rows)
    if not items:
        raise XsentError(f"preset {preset.name}: no usable labelled training rows")
    dev_items = model.prepare_with_report(dev_rows)[0] if dev_rows else []
    stopper = EarlyStopping(train.select_metric, config.early_stopping_patience)
    command = options.rebuild_command(preset, out_dir)
    result = fit(
        model,
        items,
        train,
        evaluate=(lambda: model.evaluate_prepared(dev_items)) if dev_items else None,
        out_dir=out_dir,
        callbacks=[stopper, *options.callbacks],
        cancel=_AnyEvent(options.cancel, stopper.stop),  # type: ignore[arg-type]
        progress=options.progress,
        resume=options.resume,
        model_metadata={"preset": preset.name, "command": command},
    )
    user_cancelled = options.cancel is not None and options.cancel.is_set()
    status = "finished" if result.status == "finished" or not user_cancelled else result.status
    report: dict[str, Any] = {
        "status": status,
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "early_stopped_at": stopper.stopped_at if stopper.stop.is_set() and not user_cancelled else None,
        "dev": dict(result.metrics),
        "test": {},
        "images": image_report,
    }
    if status != "finished" or not dist_info().is_main:
        return report  # under torchrun, rank 0 alone tests and writes the final model
    finish_run(
        "m2sa", out_dir, preset, report, command, half=options.half, evaluate_tests=options.evaluate_tests,
        summarise=lambda rep: rep.update(total_seconds=round(time.time() - started, 1)),
        training=lambda rep: {"total_seconds": rep["total_seconds"], "early_stopped_at": rep["early_stopped_at"],
                              "bad_images": len(rep["images"]["bad_images"])},
        card=lambda best, rep: model_card(preset, rep, command),
    )
    return report
