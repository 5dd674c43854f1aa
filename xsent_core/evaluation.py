"""The one evaluation module: what `eval`, every benchmark and the app report.

Sentence tasks (`sentence_report`): accuracy, 3-class macro-F1, per-class
P/R/F1, the confusion matrix, and the CTAM paper's reading: positive-vs-negative
F1 (macro and weighted) on the rows whose gold label is not neutral, where a
neutral prediction counts as a miss; and, given each prediction's probabilities
(`prediction_report`), the same rows decided two-way (the more probable of
positive and negative, what the paper's two-class English-trained models do).
Every figure comes with the majority-class baseline on the same rows (always
predicting the most frequent gold label of those rows, the best constant
predictor).

Span tasks (`span_report`): exact span micro-F1 (start, end, polarity), span-only
F1 (extraction, polarity ignored) and polarity accuracy on the spans whose
boundaries match, so a reader sees which half fails.

Seeds (`seed_summary`, `paired_difference`): mean ± std over seeds and the
per-seed paired difference between two rows; a mean difference no larger than
its spread is a tie.

All scores are fractions in [0, 1].
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Hashable, Iterable, Mapping, Sequence

import numpy as np

from .metrics import _ratio, _span_key, confusion_matrix, span_micro_f1
from .types import SENTIMENT_LABELS

POLAR = ("negative", "positive")


def per_class_prf(gold: Sequence[Hashable], pred: Sequence[Hashable], labels: Sequence[Hashable]) -> dict[str, dict[str, float]]:
    """precision, recall, F1 and support of each label (one-vs-rest; 0/0 counts as 0)."""
    out = {}
    for lab in labels:
        tp = sum(g == lab and p == lab for g, p in zip(gold, pred))
        fp = sum(g != lab and p == lab for g, p in zip(gold, pred))
        fn = sum(g == lab and p != lab for g, p in zip(gold, pred))
        out[str(lab)] = {
            "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, tp + fn),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn),
            "support": int(tp + fn),
        }
    return out


def _averages(prf: Mapping[str, Mapping[str, float]]) -> tuple[float, float]:
    """(macro, support-weighted) F1 over the labels of `prf`."""
    f1 = [v["f1"] for v in prf.values()]
    support = [v["support"] for v in prf.values()]
    macro = float(np.mean(f1)) if f1 else 0.0
    weighted = _ratio(sum(f * s for f, s in zip(f1, support)), sum(support))
    return macro, weighted


def _scores(gold: Sequence[Hashable], pred: Sequence[Hashable], labels: Sequence[Hashable]) -> dict[str, Any]:
    prf = per_class_prf(gold, pred, labels)
    macro, weighted = _averages(prf)
    return {
        "accuracy": _ratio(sum(g == p for g, p in zip(gold, pred)), len(gold)),
        "macro_f1": macro,
        "weighted_f1": weighted,
        "per_class": prf,
    }


def majority_label(labels: Iterable[Hashable]) -> Hashable | None:
    """Most frequent label; ties go to the label that sorts first (deterministic)."""
    counts = Counter(labels)
    if not counts:
        return None
    best = max(counts.values())
    return sorted((lab for lab, c in counts.items() if c == best), key=str)[0]


def sentence_report(
    gold: Sequence[Hashable],
    pred: Sequence[Hashable],
    labels: Sequence[Hashable] = SENTIMENT_LABELS,
    two_way: Sequence[Hashable] | None = None,
) -> dict[str, Any]:
    """Full sentence-level report (JSON-ready); see the module docstring.

    `two_way`: per row, the prediction restricted to positive/negative
    (`two_way_choice`); adds `pos_neg.two_way`.
    """
    if len(gold) != len(pred) or (two_way is not None and len(two_way) != len(gold)):
        raise ValueError(f"gold has {len(gold)} items, pred has {len(pred)}")
    if not gold:
        raise ValueError("no items to score")
    report: dict[str, Any] = {"n": len(gold), "labels": [str(x) for x in labels], **_scores(gold, pred, labels)}
    report["confusion_matrix"] = confusion_matrix(gold, pred, labels).tolist()
    majority = majority_label(gold)
    report["majority"] = {"label": majority, **_scores(gold, [majority] * len(gold), labels)}
    polar_rows = [(g, p) for g, p in zip(gold, pred) if g in POLAR]
    if polar_rows:
        pg = [g for g, _ in polar_rows]
        pp = [p for _, p in polar_rows]
        pos_neg = _scores(pg, pp, POLAR)
        maj = majority_label(pg)
        report["pos_neg"] = {"n": len(pg), **pos_neg, "majority": {"label": maj, **_scores(pg, [maj] * len(pg), POLAR)}}
        if two_way is not None:
            decided = [d for g, d in zip(gold, two_way) if g in POLAR]
            report["pos_neg"]["two_way"] = _scores(pg, decided, POLAR)
    return report


def two_way_choice(prediction: Any) -> Hashable | None:
    """The more probable of positive and negative (ties: negative); the label itself without probabilities."""
    if prediction is None:
        return None
    probs = getattr(prediction, "probs", None) or {}
    if all(k in probs for k in POLAR):
        return max(POLAR, key=lambda k: probs[k])
    return getattr(prediction, "label", None)


def prediction_report(gold: Sequence[Hashable], predictions: Sequence[Any]) -> dict[str, Any]:
    """`sentence_report` of method predictions (None = not predicted, a miss), with the two-way reading."""
    labels = [getattr(p, "label", None) for p in predictions]
    return sentence_report(gold, labels, two_way=[two_way_choice(p) for p in predictions])


def flat_sentence_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """The numeric headline of a `sentence_report` (what training selects on and cards list)."""
    out = {
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "weighted_f1": report["weighted_f1"],
        "majority_accuracy": report["majority"]["accuracy"],
        "majority_macro_f1": report["majority"]["macro_f1"],
        "majority_weighted_f1": report["majority"]["weighted_f1"],
        "n": float(report["n"]),
    }
    for lab, prf in report["per_class"].items():
        out[f"f1_{lab}"] = prf["f1"]
    if "pos_neg" in report:
        pn = report["pos_neg"]
        out.update(
            pos_neg_macro_f1=pn["macro_f1"],
            pos_neg_weighted_f1=pn["weighted_f1"],
            majority_pos_neg_macro_f1=pn["majority"]["macro_f1"],
            majority_pos_neg_weighted_f1=pn["majority"]["weighted_f1"],
        )
        if "two_way" in pn:
            out.update(pos_neg_two_way_macro_f1=pn["two_way"]["macro_f1"], pos_neg_two_way_weighted_f1=pn["two_way"]["weighted_f1"])
    return out


def span_report(gold: Sequence[Iterable[Any] | None], pred: Sequence[Iterable[Any] | None]) -> dict[str, float]:
    """Exact span micro-F1, span-only F1 and polarity accuracy on boundary-matched spans.

    Spans are AspectSpans or (start, end, polarity, ...) tuples, per sentence.
    """
    exact = span_micro_f1(gold, pred)
    unlabelled_gold = [[(s, e, "") for s, e, _ in map(_span_key, g or ())] for g in gold]
    unlabelled_pred = [[(s, e, "") for s, e, _ in map(_span_key, p or ())] for p in pred]
    extraction = span_micro_f1(unlabelled_gold, unlabelled_pred)
    matched = correct = 0
    for g, p in zip(gold, pred):
        gold_pol = {(s, e): pol for s, e, pol in map(_span_key, g or ())}
        for s, e, pol in {_span_key(x) for x in (p or ())}:
            if (s, e) in gold_pol:
                matched += 1
                correct += pol == gold_pol[(s, e)]
    return {
        **exact,
        "span_only_precision": extraction["precision"],
        "span_only_recall": extraction["recall"],
        "span_only_f1": extraction["f1"],
        "polarity_accuracy": _ratio(correct, matched),
        "matched_spans": matched,
    }


@dataclass(frozen=True)
class SeedSummary:
    mean: float
    std: float  # sample standard deviation (ddof=1); 0 for one seed
    values: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "values": list(self.values), "seeds": len(self.values)}


def seed_summary(values: Sequence[float]) -> SeedSummary:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no seeds to summarise")
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return SeedSummary(float(arr.mean()), std, tuple(float(v) for v in arr))


@dataclass(frozen=True)
class PairedDifference:
    """Row A minus row B, seed by seed (the seeds must be the same)."""

    differences: tuple[float, ...]
    mean: float
    std: float
    verdict: str  # "gain", "loss", "tie", or "single seed" (not judged)

    def as_dict(self) -> dict[str, Any]:
        return {"differences": list(self.differences), "mean": self.mean, "std": self.std, "verdict": self.verdict}


def paired_difference(a: Sequence[float], b: Sequence[float]) -> PairedDifference:
    """Per-seed a - b; a tie unless |mean| exceeds the spread of the differences
    and of either row, and every seed moves the same way. One seed has no spread:
    it is not judged."""
    if len(a) != len(b) or not a:
        raise ValueError(f"paired difference needs equal, non-empty seed lists (got {len(a)} and {len(b)})")
    diffs = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    s = seed_summary(diffs)
    spread = max(s.std, seed_summary(a).std, seed_summary(b).std)
    same_sign = bool((diffs > 0).all() or (diffs < 0).all())
    if len(diffs) < 2:
        verdict = "single seed"
    elif abs(s.mean) > spread and same_sign:
        verdict = "gain" if s.mean > 0 else "loss"
    else:
        verdict = "tie"
    return PairedDifference(tuple(float(d) for d in diffs), s.mean, s.std, verdict)


def evaluate_examples(model: Any, examples: Sequence[Any]) -> dict[str, Any]:
    """Predict `examples` with any method and report by its task (what `eval` prints).

    Sentence methods are scored on the rows with a gold label, span methods on
    every row (a row without gold spans has none to find).
    """
    if model.task == "sentence":
        rows = [ex for ex in examples if ex.label is not None]
        if not rows:
            raise ValueError("no row has a sentence label to score")
        return {"task": "sentence", **prediction_report([ex.label for ex in rows], model.predict(rows))}
    preds = model.predict(examples)
    gold = [list(ex.spans or ()) for ex in examples]
    return {"task": "spans", "n": len(examples), **span_report(gold, [list(p.spans or ()) for p in preds])}
