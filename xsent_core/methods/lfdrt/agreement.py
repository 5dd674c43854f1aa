"""Head agreement as an uncertainty signal for the annotation queue (pure functions)."""
from __future__ import annotations

from typing import Sequence


def disagreement_rate(agree: Sequence[bool]) -> float:
    """Fraction of rows whose two heads disagree; 0.0 for an empty corpus."""
    return sum(not a for a in agree) / len(agree) if len(agree) else 0.0


def annotation_order(agree: Sequence[bool], confidence: Sequence[float]) -> list[int]:
    """Indices with disagreeing rows first, each group by ascending confidence (stable)."""
    if len(agree) != len(confidence):
        raise ValueError(f"{len(agree)} agreement flags but {len(confidence)} confidences")
    return sorted(range(len(agree)), key=lambda i: (bool(agree[i]), float(confidence[i])))
