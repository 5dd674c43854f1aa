"""Run a named preset end to end: data -> model -> fit -> test metrics -> model card.

Dataset specs are "format:path" with optional suffixes:
- "{data}" in the path is the shared data folder (`paths.shared_data_dir()`);
- "@train" / "@select" take the 80 % / 20 % stratified split of the file (seed 0),
  so model selection never touches a file's held-out split;
- "#N" keeps the first N rows (smoke runs).
A list of specs is concatenated.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .methods.base import Preset, RunOptions
from .types import Example, XsentError

SELECT_FRACTION = 0.2


def resolve_spec(spec: str) -> str:
    from .paths import expand_placeholders

    return expand_placeholders(spec)


def load_data(spec: str | Sequence[str]) -> list[Example]:
    from .data import load_examples
    from .data.splits import stratified_split

    if not isinstance(spec, str):
        return [ex for s in spec for ex in load_data(s)]
    spec = resolve_spec(spec)
    limit = None
    if "#" in spec:
        spec, n = spec.rsplit("#", 1)
        limit = int(n)
    part = None
    if spec.endswith(("@train", "@select")):
        spec, part = spec.rsplit("@", 1)
    examples = load_examples(spec)
    if part is not None:
        select, train = stratified_split(examples, SELECT_FRACTION, seed=0)
        examples = train if part == "train" else select
    return examples[:limit] if limit is not None else examples


def with_data(preset: Preset, data: Mapping[str, Any] | None) -> Preset:
    """`preset` with some data entries replaced; unknown keys and bad values refused."""
    if not data:
        return preset
    if not isinstance(data, Mapping):
        raise XsentError("--data must be a JSON object such as {\"train\": \"jsonl:mine.jsonl\"}")
    unknown = sorted(set(data) - set(preset.data))
    if unknown:
        raise XsentError(
            f"preset {preset.name!r} has no data entry {', '.join(map(repr, unknown))}; "
            f"it has: {', '.join(preset.data)}"
        )
    for key, value in data.items():
        values = list(value.values()) if isinstance(value, Mapping) else value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) and ":" in v for v in values):
            raise XsentError(f"--data {key!r}: expected FORMAT:PATH strings, got {value!r}")
    return replace(preset, data={**preset.data, **data})


def get_preset(method: str, name: str) -> Preset:
    from .registry import presets

    table = presets(method)
    if name not in table:
        raise XsentError(f"method {method!r} has no preset {name!r}; presets: {', '.join(table)}")
    return table[name]


def run_preset(
    method: str,
    preset_name: str,
    out_dir: str | os.PathLike[str],
    *,
    device: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    train_overrides: Mapping[str, Any] | None = None,
    callbacks: Sequence[Any] = (),
    cancel: threading.Event | None = None,
    progress: bool = True,
    evaluate_tests: bool = True,
    half: bool = False,
    unlabelled: str | None = None,
    resume: bool = False,
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train a preset into `out_dir`; returns {"train": ..., "test": {...}}.

    `data` replaces entries of the preset's data (e.g. {"train": "jsonl:mine.jsonl"}).
    """
    from .config import config_from_dict
    from .distributed import dist_info
    from .model_card import MeasuredTable, model_card_text
    from .registry import method_class
    from .training import fit

    preset = with_data(get_preset(method, preset_name), data)
    cls = method_class(method)
    options = RunOptions(
        device=device, overrides=overrides, train_overrides=train_overrides, callbacks=tuple(callbacks),
        cancel=cancel, progress=progress, evaluate_tests=evaluate_tests, half=half,
        unlabelled=unlabelled, resume=resume,
    )
    if hasattr(cls, "run_preset"):  # methods with multi-stage recipes (MSMO, LFD-RT...)
        return cls.run_preset(preset, out_dir, options)
    if unlabelled:
        raise XsentError(f"method {method!r} does not train on unlabelled text (--unlabelled)")
    config = config_from_dict(cls.config_cls, {**preset.config, **(overrides or {})})
    train = options.train_config(preset)
    model = cls.create(config, device="cpu")
    train_rows = load_data(preset.data["train"])
    dev_rows = load_data(preset.data["dev"]) if "dev" in preset.data else []
    items = model.prepare(train_rows)
    command = options.rebuild_command(preset, out_dir)
    result = fit(
        model,
        items,
        train,
        evaluate=(lambda: model.evaluate(dev_rows)) if dev_rows else None,
        out_dir=out_dir,
        callbacks=callbacks,
        cancel=cancel,
        progress=progress,
        resume=resume,
        model_metadata={"preset": preset_name, "command": command},
    )
    report: dict[str, Any] = {
        "status": result.status,
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "dev": dict(result.metrics),
        "test": {},
    }
    if result.status != "finished" or not dist_info().is_main:
        return report  # under torchrun, rank 0 alone tests and writes the final model
    finish_run(
        method, out_dir, preset, report, command, half=half, evaluate_tests=evaluate_tests,
        card=lambda best, rep: model_card_text(
            preset, command, model=model, seconds=result.seconds,
            tables=[MeasuredTable("Measured (test sets; fractions in [0, 1])", {"dev": rep["dev"], **rep["test"]})],
        ),
    )
    return report


def finish_run(
    method: str,
    out_dir: str | os.PathLike[str],
    preset: Preset,
    report: dict[str, Any],
    command: str,
    *,
    half: bool,
    evaluate_tests: bool,
    card: Callable[[Any, Mapping[str, Any]], str],
    wanted_test: Callable[[str], bool] = lambda name: True,
    summarise: Callable[[dict[str, Any]], None] | None = None,
    training: Callable[[Mapping[str, Any]], Mapping[str, Any]] = lambda report: {},
    metrics: Callable[[Mapping[str, Any]], Mapping[str, Any]] = lambda report: {"dev": report["dev"]},
    score_dev: bool = False,
) -> Any:
    """The end of a finished run, on rank 0 only: drop the resumable checkpoints, reload the
    best weights, score the preset's dev set into report["dev"] (with `score_dev`; a trained
    run already has its selection score there) and its test sets into report["test"], let
    `summarise` add to the report, save with metrics (`metrics(report)` beside "test"),
    training record and card. Returns the best model."""
    from .registry import load_model, save_model

    # a finished model needs no resumable optimiser state; keep folders small
    shutil.rmtree(Path(out_dir) / "checkpoints", ignore_errors=True)
    best = load_model(out_dir, expected_method=method)
    if score_dev and "dev" in preset.data:
        report["dev"] = best.evaluate(load_data(preset.data["dev"]))
    if evaluate_tests:
        for name, spec in (preset.data.get("test") or {}).items():
            if wanted_test(name):
                report["test"][name] = best.evaluate(load_data(spec))
    if summarise is not None:
        summarise(report)
    save_model(
        best,
        out_dir,
        metrics={**metrics(report), "test": report["test"]},
        training={"preset": preset.name, "command": command, "steps": report.get("steps", 0),
                  "seconds": report["seconds"], **training(report)},
        half=half,
        card_text=card(best, report),
    )
    return best


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
