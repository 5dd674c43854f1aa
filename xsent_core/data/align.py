"""Conversions between character spans (AspectSpan) and token-index spans."""
from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

from ..types import AspectSpan

_NON_SPACE = re.compile(r"\S+")


def whitespace_tokens(text: str) -> tuple[tuple[str, ...], tuple[tuple[int, int], ...]]:
    """Split on (Unicode) whitespace; returns tokens and their character offsets."""
    matches = list(_NON_SPACE.finditer(text))
    return tuple(m.group() for m in matches), tuple(m.span() for m in matches)


def join_tokens(tokens: Sequence[str]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Text made of `tokens` joined by one space, with each token's offsets."""
    offsets = []
    pos = 0
    for tok in tokens:
        offsets.append((pos, pos + len(tok)))
        pos += len(tok) + 1
    return " ".join(tokens), tuple(offsets)


def char_to_token_spans(
    token_offsets: Sequence[tuple[int, int]],
    spans: Iterable[AspectSpan],
    *,
    snap: bool = False,
) -> list[tuple[int, int, str]]:
    """Token spans ``(first, last + 1, polarity)`` for character spans.

    With ``snap=False`` a span must start at a token start and end at a token
    end; with ``snap=True`` it grows to cover every token it overlaps. A span
    that overlaps no token raises ValueError either way (so does a misaligned
    span without snap).
    """
    out = []
    for span in spans:
        hit = [i for i, (s, e) in enumerate(token_offsets) if s < span.end and e > span.start]
        if not hit:
            raise ValueError(f"span [{span.start}, {span.end}) {span.text!r} covers no token")
        first, last = hit[0], hit[-1]
        aligned = token_offsets[first][0] == span.start and token_offsets[last][1] == span.end
        if not aligned and not snap:
            raise ValueError(
                f"span [{span.start}, {span.end}) {span.text!r} does not align with token "
                f"boundaries (tokens {first}..{last} cover "
                f"[{token_offsets[first][0]}, {token_offsets[last][1]}))"
            )
        out.append((first, last + 1, span.polarity))
    return out


def token_to_char_spans(
    text: str,
    token_offsets: Sequence[tuple[int, int]],
    token_spans: Iterable[Sequence[Any]],
) -> tuple[AspectSpan, ...]:
    """AspectSpans for token spans ``(start, end, polarity[, score])``."""
    out = []
    for span in token_spans:
        start = token_offsets[span[0]][0]
        end = token_offsets[span[1] - 1][1]
        score = float(span[3]) if len(span) > 3 else 1.0
        out.append(AspectSpan(start, end, text[start:end], span[2], score))
    return tuple(out)
