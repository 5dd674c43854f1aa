from __future__ import annotations

import warnings

import numpy as np
import pytest

from xsent_core.metrics import (
    accuracy,
    cohen_kappa,
    confusion_matrix,
    fleiss_kappa,
    macro_f1,
    per_class_f1,
    span_micro_f1,
)
from xsent_core.types import SENTIMENT_LABELS, AspectSpan

POS, NEU, NEG = "positive", "neutral", "negative"


def test_span_micro_f1_by_hand():
    gold = [[(0, 1, POS), (2, 4, NEG)], [(1, 2, NEU)]]
    pred = [[(0, 1, POS), (2, 4, POS)], []]
    r = span_micro_f1(gold, pred)
    # tp=1 (0,1,pos); fp=1 (wrong polarity); fn=2
    assert (r["tp"], r["fp"], r["fn"]) == (1, 1, 2)
    assert r["precision"] == pytest.approx(0.5)
    assert r["recall"] == pytest.approx(1 / 3)
    assert r["f1"] == pytest.approx(0.4)


def test_span_micro_f1_inputs():
    gold = [(AspectSpan(0, 4, "food", POS),), None, [(3, 5, NEG)]]
    pred = [[(0, 4, POS, 0.3)], [(0, 1, NEU)], (AspectSpan(3, 5, "ab", NEG), AspectSpan(3, 5, "ab", NEG, 0.2))]
    r = span_micro_f1(gold, pred)
    assert (r["tp"], r["fp"], r["fn"]) == (2, 1, 0)  # duplicate prediction counts once
    assert r["f1"] == pytest.approx(0.8)
    # boundaries must match exactly
    assert span_micro_f1([[(0, 4, POS)]], [[(0, 3, POS)]])["f1"] == 0.0
    empty = span_micro_f1([[], None], [None, []])
    assert empty == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "fp": 0, "fn": 0}
    assert span_micro_f1([], [])["f1"] == 0.0
    with pytest.raises(ValueError):
        span_micro_f1([[]], [])


def test_sentence_metrics_by_hand():
    gold = [POS, POS, NEG, NEU]
    pred = [POS, NEG, NEG, NEG]
    assert accuracy(gold, pred) == 0.5
    # pos: 2*1/(2+0+1)=2/3; neg: 2*1/(2+2+0)=1/2; neu: 0
    assert per_class_f1(gold, pred) == pytest.approx({NEG: 0.5, NEU: 0.0, POS: 2 / 3})
    assert macro_f1(gold, pred) == pytest.approx(7 / 18)
    cm = confusion_matrix(gold, pred)  # rows gold, cols pred, SENTIMENT_LABELS order (neg, neu, pos)
    assert cm.tolist() == [[1, 0, 0], [1, 0, 0], [1, 0, 1]]
    # a label absent from gold and pred counts 0 in the macro mean
    assert macro_f1([POS, NEG], [POS, NEG]) == pytest.approx(2 / 3)
    assert macro_f1([POS, NEG], [POS, NEG], labels=(POS, NEG)) == 1.0
    # a None prediction (failed row) is a miss and stays out of the matrix
    assert accuracy([POS, NEG], [POS, None]) == 0.5
    assert per_class_f1([POS, NEG], [POS, None])[NEG] == 0.0
    assert confusion_matrix([POS, NEG], [POS, None]).sum() == 1
    from xsent_core.evaluation import sentence_report

    s = sentence_report(gold, pred)
    assert s["n"] == 4 and s["macro_f1"] == pytest.approx(7 / 18) and s["labels"] == list(SENTIMENT_LABELS)
    for f in (accuracy, macro_f1, per_class_f1, confusion_matrix):
        with pytest.raises(ValueError):
            f([], [])
        with pytest.raises(ValueError):
            f([POS], [POS, NEG])


def test_cohen_kappa_by_hand():
    # p_o = 3/4; p_e = .5*.25 + .5*.75 = .5; kappa = .25/.5
    assert cohen_kappa(["x", "x", "y", "y"], ["x", "y", "y", "y"]) == pytest.approx(0.5)
    assert cohen_kappa(["x", "y"], ["y", "x"]) == pytest.approx(-1.0)
    assert cohen_kappa([POS] * 4, [POS] * 4) == 1.0  # p_e = 1: identical -> 1 (sklearn: nan)
    assert cohen_kappa([POS] * 4, [POS, NEG, POS, POS]) == 0.0  # constant rater
    assert cohen_kappa([POS, None], [POS, None]) == 1.0


def test_fleiss_kappa_wikipedia_example():
    table = [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(table) == pytest.approx(0.20993, abs=1e-4)
    assert fleiss_kappa([[3, 0], [0, 3]]) == pytest.approx(1.0)
    assert fleiss_kappa([[3, 0], [3, 0]]) == 1.0
    with pytest.raises(ValueError):
        fleiss_kappa([[3, 0], [2, 0]])
    with pytest.raises(ValueError):
        fleiss_kappa([[1, 0]])


def test_against_sklearn_on_random_inputs():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    labels = list(SENTIMENT_LABELS)
    pool = labels + ["other"]  # a value outside `labels`, as a failed prediction would be
    for trial in range(20):
        n = int(rng.integers(1, 40))
        gold = [labels[i] for i in rng.integers(0, 3, n)]
        pred = [pool[i] for i in rng.integers(0, 4 if trial % 2 else 3, n)]
        assert accuracy(gold, pred) == pytest.approx(sk.accuracy_score(gold, pred))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn's default zero_division warns, then uses 0
            want_macro = sk.f1_score(gold, pred, labels=labels, average="macro")
            want_per = sk.f1_score(gold, pred, labels=labels, average=None)
            want_kappa = sk.cohen_kappa_score(gold, pred)
        assert macro_f1(gold, pred) == pytest.approx(want_macro)
        assert list(per_class_f1(gold, pred).values()) == pytest.approx(list(want_per))
        assert (confusion_matrix(gold, pred) == sk.confusion_matrix(gold, pred, labels=labels)).all()
        if np.isnan(want_kappa):
            assert cohen_kappa(gold, pred) == (1.0 if gold == pred else 0.0)
        else:
            assert cohen_kappa(gold, pred) == pytest.approx(want_kappa)
