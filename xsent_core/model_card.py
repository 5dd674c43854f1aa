"""The one model-card writer: every method's README.md is built here.

A card is: title and preset description, an optional intro (how the encoder was
adapted, notes), the rebuild command, the preset's data, method-specific
sections (`CardSection`), one or more measured tables (`MeasuredTable`) and the
training time. Methods say what goes in; the layout is the same for all.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .methods.base import Preset

INTEGER_KEYS = ("n", "errors", "support")
SKIPPED_KEYS = ("step", "epoch")


@dataclass(frozen=True)
class CardSection:
    """A titled block of Markdown lines ("" title: no heading)."""

    title: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class MeasuredTable:
    """Metrics per data set. `columns` fixes the table's columns; empty: every numeric metric as key=value."""

    title: str
    sets: Mapping[str, Mapping[str, Any]]
    columns: tuple[str, ...] = ()


def adaptation_line(model: Any) -> str:
    """One card line: how the encoder was adapted and how much of the model trained."""
    from .adaptation import trainable_summary

    config = model.config
    mode = getattr(config, "adapt", None)
    if mode is None:
        return ""
    how = {
        "top-k": f"top-k: layers {getattr(config, 'train_from_layer', '?')}+ trained, lower layers frozen",
        "lora": (
            f"LoRA on layers {config.lora_from_layer}+ (rank {config.lora_rank}, alpha {config.lora_alpha:g}, "
            f"dropout {config.lora_dropout:g}), folded into the weights at load"
        ),
        "full": "full fine-tuning of every layer (embeddings frozen)",
    }.get(mode, mode)
    counts = trainable_summary(model)
    return f"Adaptation: {how}; {counts['trainable_parameters']:,} of {counts['parameters']:,} parameters trained."


def _number(key: str, value: float) -> str:
    return str(int(value)) if key in INTEGER_KEYS else f"{value:.4f}"


def metrics_table(table: MeasuredTable) -> list[str]:
    lines = [f"## {table.title}", ""]
    if table.columns:
        lines += ["| set | " + " | ".join(table.columns) + " |", "|---" * (len(table.columns) + 1) + "|"]
        for name, m in table.sets.items():
            cells = [_number(k, m[k]) if isinstance(m.get(k), (int, float)) else "-" for k in table.columns]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return lines
    lines += ["| set | metrics |", "|---|---|"]
    for name, value in table.sets.items():
        if isinstance(value, Mapping):
            shown = ", ".join(
                f"{k}={_number(k, v)}" for k, v in value.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in SKIPPED_KEYS
            )
        else:
            shown = str(value)
        lines.append(f"| {name} | {shown} |")
    return lines


def model_card_text(
    preset: Preset,
    command: str,
    *,
    tables: Sequence[MeasuredTable],
    seconds: float,
    model: Any = None,
    intro: str = "",
    sections: Sequence[CardSection] = (),
    from_preset: bool = True,
) -> str:
    """The README.md of a trained model. `from_preset=False`: a benchmark run that no preset
    holds exactly (`preset` then only describes it; its name is the run's)."""
    head = "\n\n".join(x for x in (adaptation_line(model) if model is not None else "", intro) if x)
    title = f"preset `{preset.name}`" if from_preset else f"run `{preset.name}`"
    lines = [f"# {preset.method} model: {title}", "", preset.description, ""]
    if head:
        lines += [head, ""]
    lines += ["## Rebuild", "```", command, "```"]
    if preset.data:
        lines += ["", "## Data", "", "```json", json.dumps(dict(preset.data), indent=2), "```"]
    for section in sections:
        lines += ["", *([f"## {section.title}", ""] if section.title else []), *section.lines]
    for table in tables:
        lines += ["", *metrics_table(table)]
    lines += ["", f"Training took {seconds / 60:.1f} minutes on {os.cpu_count()} CPU cores.", ""]
    return "\n".join(lines)
