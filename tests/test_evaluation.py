"""The evaluation module's figures, computed by hand."""
from __future__ import annotations

import pytest

from xsent_core.evaluation import (
    flat_sentence_metrics, majority_label, paired_difference, seed_summary, sentence_report, span_report,
)

GOLD = ["positive", "positive", "positive", "negative", "negative", "neutral"]
PRED = ["positive", "positive", "negative", "negative", "neutral", "positive"]


def test_sentence_report_by_hand():
    r = sentence_report(GOLD, PRED)
    assert r["accuracy"] == pytest.approx(3 / 6)
    # positive: tp 2, fp 1, fn 1 -> P 2/3 R 2/3 F1 2/3; negative: tp 1 fp 1 fn 1 -> 1/2; neutral: tp 0 -> 0
    assert r["per_class"]["positive"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    assert r["per_class"]["negative"]["f1"] == pytest.approx(0.5)
    assert r["per_class"]["neutral"]["f1"] == 0.0
    assert r["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 0) / 3)
    assert r["weighted_f1"] == pytest.approx((3 * 2 / 3 + 2 * 0.5 + 0) / 6)
    # rows: gold negative, neutral, positive; columns predicted
    assert r["confusion_matrix"] == [[1, 1, 0], [0, 0, 1], [1, 0, 2]]
    # majority = always positive: positive F1 = 2*3/(2*3+3) = 2/3, others 0
    assert r["majority"]["label"] == "positive"
    assert r["majority"]["macro_f1"] == pytest.approx((2 / 3) / 3)


def test_positive_vs_negative_reading_drops_gold_neutral_and_counts_neutral_predictions_as_misses():
    r = sentence_report(GOLD, PRED)["pos_neg"]
    # 5 rows with polar gold; predictions P P N N neu
    assert r["n"] == 5
    # positive: tp 2 fp 0 fn 1 -> 0.8; negative: tp 1 fp 1 fn 1 -> 0.5
    assert r["per_class"]["positive"]["f1"] == pytest.approx(0.8)
    assert r["per_class"]["negative"]["f1"] == pytest.approx(0.5)
    assert r["macro_f1"] == pytest.approx(0.65)
    assert r["weighted_f1"] == pytest.approx((3 * 0.8 + 2 * 0.5) / 5)
    # always positive on these rows: positive F1 = 6/8, negative 0
    assert r["majority"]["macro_f1"] == pytest.approx(0.375)
    assert r["majority"]["weighted_f1"] == pytest.approx(3 * 0.75 / 5)
    flat = flat_sentence_metrics(sentence_report(GOLD, PRED))
    assert flat["pos_neg_macro_f1"] == pytest.approx(0.65)
    assert flat["majority_pos_neg_macro_f1"] == pytest.approx(0.375)
    assert flat["f1_neutral"] == 0.0


def test_two_way_reading_decides_between_the_polar_classes_by_hand():
    from xsent_core.evaluation import prediction_report, two_way_choice
    from xsent_core.types import Prediction

    def pred(label, pos, neg):
        return Prediction(label=label, probs={"positive": pos, "negative": neg, "neutral": 1 - pos - neg})

    # the fifth row (gold negative) was predicted neutral, but negative beats positive two-way
    preds = [pred("positive", .8, .1), pred("positive", .7, .2), pred("negative", .3, .6), pred("negative", .1, .8),
             pred("neutral", .1, .3), pred("positive", .6, .2)]
    assert [two_way_choice(p) for p in preds] == ["positive", "positive", "negative", "negative", "negative", "positive"]
    assert two_way_choice(Prediction(label="neutral")) == "neutral"  # no probabilities: the label
    assert two_way_choice(None) is None
    r = prediction_report(GOLD, preds)
    assert r["macro_f1"] == sentence_report(GOLD, PRED)["macro_f1"]  # three-way figures unchanged
    two = r["pos_neg"]["two_way"]
    # polar rows P P P N N decided P P N N N: positive tp 2 fn 1 -> 0.8; negative tp 2 fp 1 -> 0.8
    assert two["per_class"]["positive"]["f1"] == pytest.approx(0.8)
    assert two["per_class"]["negative"]["f1"] == pytest.approx(0.8)
    flat = flat_sentence_metrics(r)
    assert flat["pos_neg_two_way_macro_f1"] == pytest.approx(0.8)
    assert flat["pos_neg_macro_f1"] == pytest.approx(0.65)
    assert "pos_neg_two_way_macro_f1" not in flat_sentence_metrics(sentence_report(GOLD, PRED))


def test_no_polar_rows_means_no_pos_neg_reading():
    assert "pos_neg" not in sentence_report(["neutral"], ["neutral"])


def test_sentence_report_refuses_mismatched_or_empty_input():
    with pytest.raises(ValueError):
        sentence_report(["positive"], [])
    with pytest.raises(ValueError):
        sentence_report([], [])


def test_majority_label_tie_is_deterministic():
    assert majority_label(["positive", "negative"]) == "negative"
    assert majority_label([]) is None


def test_span_report_separates_extraction_from_polarity():
    gold = [[(0, 4, "positive"), (10, 17, "negative")], [(3, 6, "neutral")]]
    pred = [[(0, 4, "negative"), (10, 17, "negative"), (20, 22, "positive")], []]
    r = span_report(gold, pred)
    # exact: tp 1, fp 2, fn 2 -> F1 2/(2+4)
    assert r["f1"] == pytest.approx(2 / 6)
    # extraction: tp 2, fp 1, fn 1 -> F1 4/6
    assert r["span_only_f1"] == pytest.approx(4 / 6)
    assert r["span_only_precision"] == pytest.approx(2 / 3)
    # two boundary-matched spans, one with the right polarity
    assert r["matched_spans"] == 2
    assert r["polarity_accuracy"] == pytest.approx(0.5)


def test_seed_summary_and_paired_difference_by_hand():
    s = seed_summary([1.0, 2.0, 3.0])
    assert (s.mean, s.std) == (2.0, 1.0)
    assert seed_summary([5.0]).std == 0.0
    gain = paired_difference([3.0, 4.0, 5.0], [1.0, 1.5, 2.0])
    assert gain.differences == (2.0, 2.5, 3.0)
    assert gain.mean == pytest.approx(2.5)
    assert gain.verdict == "gain"
    # the mean difference (0.33) is smaller than the rows' spread: a tie
    assert paired_difference([50.0, 52.0, 51.0], [49.0, 52.0, 51.0]).verdict == "tie"
    # every seed must move the same way
    assert paired_difference([10.0, 10.0, 1.0], [1.0, 1.0, 2.0]).verdict == "tie"
    assert paired_difference([1.0, 1.0, 1.0], [3.0, 3.1, 3.2]).verdict == "loss"
    with pytest.raises(ValueError):
        paired_difference([1.0], [1.0, 2.0])
    assert paired_difference([5.0], [1.0]).verdict == "single seed"
