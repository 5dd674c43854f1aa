"""The one model-card writer: layout, fixed-column and key=value tables, sections."""
from __future__ import annotations

import os

from xsent_core.methods.base import Preset, TrainConfig
from xsent_core.model_card import CardSection, MeasuredTable, metrics_table, model_card_text

PRESET = Preset(name="demo-tiny", method="demo", description="A demo preset.", config={}, train=TrainConfig(),
                data={"train": "jsonl:train.jsonl"})


def test_fixed_columns_show_integers_and_dashes():
    table = MeasuredTable("Measured", {"dev": {"f1": 0.5, "n": 12.0}, "fr": {"f1": 0.25}}, ("f1", "n"))
    assert metrics_table(table) == [
        "## Measured", "", "| set | f1 | n |", "|---|---|---|", "| dev | 0.5000 | 12 |", "| fr | 0.2500 | - |",
    ]


def test_key_value_rows_skip_steps_flags_and_text():
    table = MeasuredTable("M", {"dev": {"step": 3, "epoch": 1, "macro_f1": 0.123456, "n": 7, "ok": True, "lang": "fr"}})
    assert metrics_table(table)[-1] == "| dev | macro_f1=0.1235, n=7 |"


def test_card_layout():
    text = model_card_text(
        PRESET, "python -m xsent_core train --method demo --preset demo-tiny --out OUT",
        intro="A note.", sections=[CardSection("Recipe", ("one", "two")), CardSection("", ("untitled",))],
        tables=[MeasuredTable("Measured", {"dev": {"f1": 0.5}}, ("f1",))], seconds=90,
    )
    lines = text.splitlines()
    assert lines[:5] == ["# demo model: preset `demo-tiny`", "", "A demo preset.", "", "A note."]
    order = [lines.index(x) for x in ("## Rebuild", "## Data", "## Recipe", "untitled", "## Measured")]
    assert order == sorted(order)
    assert '  "train": "jsonl:train.jsonl"' in lines
    assert lines[-1] == f"Training took 1.5 minutes on {os.cpu_count()} CPU cores."
