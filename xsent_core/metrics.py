"""Evaluation metrics (numpy only).

Every score is a fraction (accuracy and F1 in [0, 1], kappa in [-1, 1]);
whoever prints them decides on percentages. Undefined ratios follow
scikit-learn's default ``zero_division`` behaviour: a 0/0 precision, recall
or F1 counts as 0 (without the warning).
"""
from __future__ import annotations

from typing import Any, Hashable, Iterable, Sequence

import numpy as np

from .types import SENTIMENT_LABELS

__all__ = [
    "accuracy",
    "cohen_kappa",
    "confusion_matrix",
    "fleiss_kappa",
    "macro_f1",
    "per_class_f1",
    "span_micro_f1",
]


def _ratio(num: float, den: float) -> float:
    return float(num) / den if den else 0.0


def _span_key(span: Any) -> tuple[int, int, str]:
    if hasattr(span, "start") and hasattr(span, "polarity"):
        return (int(span.start), int(span.end), str(span.polarity))
    return (int(span[0]), int(span[1]), str(span[2]))


def span_micro_f1(
    gold: Sequence[Iterable[Any] | None],
    pred: Sequence[Iterable[Any] | None],
) -> dict[str, float]:
    """Micro P/R/F1 over exact (start, end, polarity) matches, summed over sentences.

    `gold[i]` and `pred[i]` are sentence i's spans: AspectSpans or tuples
    ``(start, end, polarity, ...)`` (extra items such as a score are ignored);
    None means no spans. Spans are compared as sets per sentence, so a
    duplicate prediction counts once. With no gold and no predicted span at
    all, precision, recall and F1 are 0. Returns precision, recall, f1 and the
    tp/fp/fn counts.
    """
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} sentences, pred has {len(pred)}")
    tp = fp = fn = 0
    for g, p in zip(gold, pred):
        gs = {_span_key(s) for s in (g or ())}
        ps = {_span_key(s) for s in (p or ())}
        hit = len(gs & ps)
        tp += hit
        fp += len(ps) - hit
        fn += len(gs) - hit
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def _pair(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} items, pred has {len(pred)}")
    if not len(gold):
        raise ValueError("no items to score")


def accuracy(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> float:
    """Fraction of positions where pred equals gold. ValueError when empty."""
    _pair(gold, pred)
    return sum(g == p for g, p in zip(gold, pred)) / len(gold)


def confusion_matrix(
    gold: Sequence[Hashable],
    pred: Sequence[Hashable],
    labels: Sequence[Hashable] = SENTIMENT_LABELS,
) -> np.ndarray:
    """Counts with rows = gold label, columns = predicted label, in `labels` order.

    Pairs where either side is not in `labels` (e.g. a None prediction) are
    left out, as in sklearn.
    """
    _pair(gold, pred)
    index = {lab: i for i, lab in enumerate(labels)}
    cm = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for g, p in zip(gold, pred):
        if g in index and p in index:
            cm[index[g], index[p]] += 1
    return cm


def per_class_f1(
    gold: Sequence[Hashable],
    pred: Sequence[Hashable],
    labels: Sequence[Hashable] = SENTIMENT_LABELS,
) -> dict[Hashable, float]:
    """F1 per label (one-vs-rest). A label absent from gold and pred gets 0.

    A prediction outside `labels` (e.g. None for a failed row) is a miss for
    the gold label, as in sklearn with an explicit ``labels`` list.
    """
    _pair(gold, pred)
    out = {}
    for lab in labels:
        tp = sum(g == lab and p == lab for g, p in zip(gold, pred))
        fp = sum(g != lab and p == lab for g, p in zip(gold, pred))
        fn = sum(g == lab and p != lab for g, p in zip(gold, pred))
        out[lab] = _ratio(2 * tp, 2 * tp + fp + fn)
    return out


def macro_f1(
    gold: Sequence[Hashable],
    pred: Sequence[Hashable],
    labels: Sequence[Hashable] = SENTIMENT_LABELS,
) -> float:
    """Unweighted mean of :func:`per_class_f1` over `labels`.

    Same as ``sklearn.metrics.f1_score(gold, pred, labels=labels,
    average="macro")``: every listed label counts, one missing from both
    gold and pred contributes 0 and pulls the mean down.
    """
    scores = per_class_f1(gold, pred, labels)
    return float(np.mean(list(scores.values()))) if scores else 0.0


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's kappa between two raters (unweighted), in [-1, 1].

    kappa = (p_o - p_e) / (1 - p_e). When p_e = 1 (both raters gave one and
    the same label to every item) the formula is 0/0 (sklearn returns nan);
    here it is 1.0 because the ratings are identical. A rater who is
    constant while the other is not gets 0 (p_o = p_e) from the formula.
    """
    _pair(a, b)
    labels = sorted(set(a) | set(b), key=repr)
    cm = confusion_matrix(a, b, labels).astype(np.float64)
    n = cm.sum()
    p_o = np.trace(cm) / n
    p_e = float(cm.sum(axis=1) @ cm.sum(axis=0)) / (n * n)
    if np.isclose(p_e, 1.0):
        return 1.0 if np.isclose(p_o, 1.0) else 0.0
    return float((p_o - p_e) / (1.0 - p_e))


def fleiss_kappa(table: Any) -> float:
    """Fleiss' kappa from an (items x categories) table of rating counts.

    Every row must sum to the same number of raters n >= 2. When the expected
    agreement is 1 (all ratings in one category) returns 1.0.
    """
    t = np.asarray(table, dtype=np.float64)
    if t.ndim != 2 or t.shape[0] == 0 or (t < 0).any():
        raise ValueError("expected a non-empty (items x categories) table of non-negative counts")
    n = t.sum(axis=1)
    if not np.allclose(n, n[0]) or n[0] < 2:
        raise ValueError("every item needs the same number of ratings (at least 2)")
    raters = n[0]
    p_j = t.sum(axis=0) / t.sum()
    p_i = ((t * t).sum(axis=1) - raters) / (raters * (raters - 1))
    p_bar, p_e = p_i.mean(), float((p_j**2).sum())
    if np.isclose(p_e, 1.0):
        return 1.0
    return float((p_bar - p_e) / (1.0 - p_e))

