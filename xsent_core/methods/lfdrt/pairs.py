"""Parallel sentence pairs for cross-lingual alignment: align, verify, drop bad pairs.

The SemEval translate-train files (`smt-X-train`) are the English train set
machine-translated with labels projected, but sentences whose projection
failed were dropped, so line i of `smt-fr-train` is not always line i of
`gold-en-train` (1600 English sentences, 1573 French). We re-align them with a
monotonic dynamic-programming alignment (Gale-Church style: 1-1 matches,
1-0 and 0-1 skips) whose match cost uses what survives translation:
- the aspect signature (number of aspect terms and their polarities), when
  both sides carry spans;
- the length ratio (tokens), against the corpus-wide ratio of the language;
- tokens copied verbatim (numbers, names, all-caps words, ...).
Then each aligned pair is verified and dropped when the aspect count or the
polarities differ, or the length ratio is outside [min_ratio, max_ratio];
every decision is counted in the returned report.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

from ...types import Example

SKIP_COST = 3.0  # cost of leaving a sentence unmatched
BAND = 150  # the alignment may drift this far from the diagonal
_COPYABLE = re.compile(r"\d|[A-Z].*[A-Z]|^[A-Z][a-z]+$")


@dataclass(frozen=True)
class PairReport:
    """Counts for one language's pairs (JSON-ready through `to_dict`)."""

    lang: str
    source_rows: int
    target_rows: int
    aligned: int
    unmatched_source: int
    unmatched_target: int
    dropped: dict[str, int] = field(default_factory=dict)
    kept: int = 0
    index_aligned: int = 0  # kept pairs whose line numbers are equal (no drift)
    median_length_ratio: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "lang": self.lang,
            "source_rows": self.source_rows,
            "target_rows": self.target_rows,
            "aligned": self.aligned,
            "unmatched_source": self.unmatched_source,
            "unmatched_target": self.unmatched_target,
            "dropped": dict(self.dropped),
            "kept": self.kept,
            "index_aligned": self.index_aligned,
            "median_length_ratio": round(self.median_length_ratio, 3),
        }


def _tokens(ex: Example) -> tuple[str, ...]:
    return tuple(ex.tokens) if ex.tokens is not None else tuple(ex.text.split())


def _signature(ex: Example) -> tuple[str, ...] | None:
    return None if ex.spans is None else tuple(sorted(s.polarity for s in ex.spans))


def _copyable(tokens: Sequence[str]) -> frozenset[str]:
    # the first token is capitalised anyway; skip it unless it holds a digit
    return frozenset(t.lower() for i, t in enumerate(tokens) if _COPYABLE.search(t) and (i > 0 or any(c.isdigit() for c in t)))


def _match_cost(src: Example, tgt: Example, s_tok: Sequence[str], t_tok: Sequence[str], s_copy: frozenset, t_copy: frozenset, log_mu: float) -> float:
    cost = 0.0
    s_sig, t_sig = _signature(src), _signature(tgt)
    if s_sig is not None and t_sig is not None:
        if len(s_sig) != len(t_sig):
            cost += 2.0
        elif s_sig != t_sig:
            cost += 1.5
    ratio = math.log(max(1, len(t_tok)) / max(1, len(s_tok)))
    cost += min(3.0, abs(ratio - log_mu) / 0.25)
    if s_copy or t_copy:
        union = len(s_copy | t_copy)
        cost += 1.5 * (1.0 - len(s_copy & t_copy) / union)
    return cost


def align_pairs(source: Sequence[Example], target: Sequence[Example]) -> list[tuple[int, int]]:
    """Monotonic 1-1 alignment of two sentence lists (indices into each), banded DP."""
    n, m = len(source), len(target)
    if n == 0 or m == 0:
        return []
    s_tok = [_tokens(e) for e in source]
    t_tok = [_tokens(e) for e in target]
    s_copy = [_copyable(t) for t in s_tok]
    t_copy = [_copyable(t) for t in t_tok]
    total_s = sum(len(t) for t in s_tok) or 1
    total_t = sum(len(t) for t in t_tok) or 1
    log_mu = math.log(total_t / total_s)
    inf = float("inf")
    band = max(BAND, abs(n - m) + 10)
    slope = m / n
    # cost[i][j]: best cost aligning source[:i] with target[:j]; back[i][j] the move
    cost: list[dict[int, float]] = [dict() for _ in range(n + 1)]
    back: list[dict[int, int]] = [dict() for _ in range(n + 1)]
    for i in range(n + 1):
        centre = int(i * slope)
        lo, hi = max(0, centre - band), min(m, centre + band)
        row, brow = cost[i], back[i]
        prev = cost[i - 1] if i else None
        for j in range(lo, hi + 1):
            if i == 0 and j == 0:
                row[0], brow[0] = 0.0, -1
                continue
            best, move = inf, -1
            if prev is not None and j >= 1 and j - 1 in prev:
                c = prev[j - 1] + _match_cost(
                    source[i - 1], target[j - 1], s_tok[i - 1], t_tok[j - 1], s_copy[i - 1], t_copy[j - 1], log_mu
                )
                best, move = c, 0
            if prev is not None and j in prev and prev[j] + SKIP_COST < best:
                best, move = prev[j] + SKIP_COST, 1  # source sentence unmatched
            if j >= 1 and j - 1 in row and row[j - 1] + SKIP_COST < best:
                best, move = row[j - 1] + SKIP_COST, 2  # target sentence unmatched
            if move >= 0:
                row[j], brow[j] = best, move
    if m not in cost[n]:  # outside the band: cannot happen with band >= |n - m|
        raise RuntimeError("alignment band too narrow")
    pairs: list[tuple[int, int]] = []
    i, j = n, m
    while i > 0 or j > 0:
        move = back[i][j]
        if move == 0:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif move == 1:
            i -= 1
        else:
            j -= 1
    pairs.reverse()
    return pairs


def verified_pairs(
    source: Sequence[Example],
    target: Sequence[Example],
    *,
    lang: str,
    min_ratio: float = 0.5,
    max_ratio: float = 2.0,
) -> tuple[list[tuple[Example, Example]], PairReport]:
    """Align, then keep only pairs that pass the checks; returns (pairs, report)."""
    aligned = align_pairs(source, target)
    dropped: Counter[str] = Counter()
    kept: list[tuple[Example, Example]] = []
    ratios = []
    same_index = 0
    for i, j in aligned:
        s, t = source[i], target[j]
        s_tok, t_tok = _tokens(s), _tokens(t)
        if not s_tok or not t_tok or not s.text.strip() or not t.text.strip():
            dropped["empty"] += 1
            continue
        s_sig, t_sig = _signature(s), _signature(t)
        if s_sig is not None and t_sig is not None:
            if len(s_sig) != len(t_sig):
                dropped["aspect_count"] += 1
                continue
            if s_sig != t_sig:
                dropped["polarity"] += 1
                continue
        ratio = len(t_tok) / len(s_tok)
        ratios.append(ratio)
        if not min_ratio <= ratio <= max_ratio:
            dropped["length_ratio"] += 1
            continue
        kept.append((s, t))
        same_index += int(i == j)
    ratios.sort()
    report = PairReport(
        lang=lang,
        source_rows=len(source),
        target_rows=len(target),
        aligned=len(aligned),
        unmatched_source=len(source) - len(aligned),
        unmatched_target=len(target) - len(aligned),
        dropped=dict(sorted(dropped.items())),
        kept=len(kept),
        index_aligned=same_index,
        median_length_ratio=ratios[len(ratios) // 2] if ratios else 1.0,
    )
    return kept, report
