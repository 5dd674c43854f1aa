"""Pure helpers of the adaptation and examples benchmarks."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from xsent_core.types import AspectSpan  # noqa: E402


def test_aspect_verdict_needs_every_aspect_with_its_polarity_and_no_contradiction():
    from examples import aspect_verdict

    text = "The fish was fresh but the service was slow."
    expected = {"fish": "positive", "service": "negative"}
    good = [AspectSpan(4, 8, "fish", "positive"), AspectSpan(27, 34, "service", "negative")]
    assert aspect_verdict(text, expected, good) == (True, {"fish": ["positive"], "service": ["negative"]})
    same = [AspectSpan(4, 8, "fish", "negative"), AspectSpan(27, 34, "service", "negative")]
    assert aspect_verdict(text, expected, same)[0] is False
    missing = good[:1]
    assert aspect_verdict(text, expected, missing) == (False, {"fish": ["positive"], "service": []})
    # a wider span over the aspect counts; a second, contradicting span over it does not
    wide = [AspectSpan(0, 8, "The fish", "positive"), AspectSpan(23, 34, "the service", "negative")]
    assert aspect_verdict(text, expected, wide)[0] is True
    torn = good + [AspectSpan(4, 12, "fish was", "negative")]
    assert aspect_verdict(text, expected, torn)[0] is False


def test_every_example_row_is_well_formed():
    from examples import read_rows

    rows = read_rows()
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert ("aspects" in r) != ("label" in r)
        for aspect in r.get("aspects", {}):
            assert aspect in r["text"], r["id"]
    burmese = [r for r in rows if r["lang"] == "my"]
    assert {r["label"] for r in burmese} == {"positive", "negative"} and all(r.get("gloss") for r in burmese)


def test_adaptation_summary_pairs_rows_seed_by_seed():
    import adaptation

    def run(row, seed, avg_shift):
        test = {lang: {"f1": 0.5 + avg_shift, "span_only_f1": 0.6, "polarity_accuracy": 0.8} for lang in ("en", "fr", "es", "nl", "ru")}
        return {"task": "tagger", "row": row, "seed": seed, "train_seconds": 60.0, "steps": 10, "shipped_mb": 1.0, "test": test}

    runs = [run("top6", 13, 0.0), run("top6", 14, 0.01), run("lora-r8", 13, 0.03), run("lora-r8", 14, 0.05)]
    rows = adaptation.summarise("tagger", runs)
    assert rows["top6"]["metrics"]["target_avg_f1"]["mean"] == pytest.approx(50.5)
    paired = rows["lora-r8"]["paired_vs_top6"]["target_avg_f1"]
    assert paired["differences"] == pytest.approx([3.0, 4.0])
    assert paired["verdict"] == "gain"
