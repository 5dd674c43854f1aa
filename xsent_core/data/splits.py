"""Deterministic stratified splits."""
from __future__ import annotations

import math
import random
from collections import defaultdict
from typing import Callable, Hashable, Sequence, TypeVar

T = TypeVar("T")


def stratified_split(
    examples: Sequence[T],
    fraction: float,
    seed: int,
    key: Callable[[T], Hashable] = lambda ex: getattr(ex, "label"),
) -> tuple[list[T], list[T]]:
    """Split into (a, b) with about `fraction` of every class in a, the rest in b.

    Classes come from `key` (default: ``.label``; None is a class of its own).
    Per class, ``round(fraction * n)`` items (half rounds up) go to a, chosen by
    a shuffle seeded with `seed` only, so the result is the same on every run
    and machine. When 0 < fraction < 1, a class with at least 2 items gets at
    least one item on each side. Both parts keep the input order.
    """
    if not 0.0 <= fraction <= 1.0 or math.isnan(fraction):
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        groups[key(ex)].append(i)
    rng = random.Random(seed)
    in_a: set[int] = set()
    # Visit classes in a fixed order so the rng stream does not depend on hashing.
    for cls in sorted(groups, key=repr):
        idx = groups[cls]
        k = math.floor(fraction * len(idx) + 0.5)
        if 0.0 < fraction < 1.0 and len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)
        rng.shuffle(idx)
        in_a.update(idx[:k])
    a = [ex for i, ex in enumerate(examples) if i in in_a]
    b = [ex for i, ex in enumerate(examples) if i not in in_a]
    return a, b
