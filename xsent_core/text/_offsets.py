"""Offset-preserving string edits: the one primitive every normalisation step uses.

A string under normalisation travels with two int lists, `starts` and `ends`:
character i came from the source region [starts[i], ends[i]) of the text the user
typed. Both lists are non-decreasing and every region is non-empty; `apply_edits`
keeps it that way, so every step composes.
"""
from __future__ import annotations

from typing import Iterable

Edit = tuple[int, int, str]


def identity_regions(n: int) -> tuple[list[int], list[int]]:
    return list(range(n)), list(range(1, n + 1))


def apply_edits(
    text: str, starts: list[int], ends: list[int], edits: Iterable[Edit]
) -> tuple[str, list[int], list[int]]:
    """Replace text[a:b] by `rep` for each (a, b, rep); edits sorted, disjoint, a < b.

    A replacement keeps the regions of the characters it shares with the replaced
    text at either end (common prefix and suffix: "a၀b" -> "aဝb" moves only the
    middle); the differing middle gets the union of the regions it replaced, which
    is what makes reorderings (Zawgyi "ေက" -> "ကေ") map to the whole cluster.
    Deleted characters simply vanish. Linear in len(text) plus the edit sizes.
    """
    parts: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    last = 0
    for a, b, rep in edits:
        if a > last:
            parts.append(text[last:a])
            new_starts.extend(starts[last:a])
            new_ends.extend(ends[last:a])
        old = text[a:b]
        limit = min(len(old), len(rep))
        p = 0
        while p < limit and old[p] == rep[p]:
            p += 1
        s = 0
        limit -= p
        while s < limit and old[-1 - s] == rep[-1 - s]:
            s += 1
        if len(rep) > p + s and p + s == len(old):
            # Pure insertion: borrow a neighbouring character's region so the new
            # characters still point at real source text.
            if p:
                p -= 1
            else:
                s -= 1
        new_starts.extend(starts[a : a + p])
        new_ends.extend(ends[a : a + p])
        middle = len(rep) - p - s
        if middle > 0:
            new_starts.extend([starts[a + p]] * middle)
            new_ends.extend([ends[b - s - 1]] * middle)
        new_starts.extend(starts[b - s : b])
        new_ends.extend(ends[b - s : b])
        parts.append(rep)
        last = b
    if last == 0 and not parts:
        return text, starts, ends
    parts.append(text[last:])
    new_starts.extend(starts[last:])
    new_ends.extend(ends[last:])
    return "".join(parts), new_starts, new_ends
