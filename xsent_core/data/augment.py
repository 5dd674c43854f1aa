"""Contrastive concatenation: training rows whose aspects carry different polarities.

Span taggers trained on review sentences learn a sentence-wide polarity: in the
English SemEval training set only 67 of ~1,600 sentences mix polarities, so
"The fish was fresh. The service was slow." tags both aspects alike. Joining
two sentences whose aspects disagree (A's all positive, B's all negative, or the
reverse) gives the model many rows where the polarity must stay local to its
clause. Half the pairs are joined as two sentences ("A. B."), half, for English,
into one ("A, but b."), the everyday contrastive form.
"""
from __future__ import annotations

import random
from dataclasses import replace
from typing import Sequence

from ..types import AspectSpan, Example

_CONNECTIVE = {"en": "but"}
_SENTENCE_END = {".", "!"}


def _polarity(example: Example) -> str | None:
    """The one polarity of all of a row's aspects, or None (no aspects, or mixed)."""
    polarities = {s.polarity for s in example.spans or ()}
    return polarities.pop() if len(polarities) == 1 else None


def _tokens(example: Example) -> tuple[tuple[str, ...], tuple[tuple[int, int], ...]]:
    if example.tokens is not None and example.token_offsets is not None:
        return example.tokens, example.token_offsets
    from ..methods.common import words_of  # raw text: the model's own word split

    words = words_of(example)
    return words.words, words.spans


def join_contrastive(a: Example, b: Example, connective: str | None) -> Example:
    """`a` then `b` as one row, spans and token offsets moved into the joined text.

    With a `connective` and `a` ending in "." or "!", the end mark becomes
    ", <connective>" and `b` starts in lower case: one contrastive sentence.
    """
    a_tokens, a_offsets = _tokens(a)
    b_tokens, b_offsets = _tokens(b)
    head, tokens, offsets = a.text, list(a_tokens), list(a_offsets)
    b_text = b.text
    if connective and a_tokens and a_tokens[-1] in _SENTENCE_END and b_text[:1].isupper() and b_tokens[0] != "I":
        cut = a_offsets[-1][0]
        head = a.text[:cut].rstrip()
        tokens, offsets = tokens[:-1], offsets[:-1]
        tokens.append(",")
        offsets.append((len(head), len(head) + 1))
        head += ","
        tokens.append(connective)
        offsets.append((len(head) + 1, len(head) + 1 + len(connective)))
        head += " " + connective
        b_text = b_text[0].lower() + b_text[1:]
        b_tokens = (b_tokens[0][0].lower() + b_tokens[0][1:],) + tuple(b_tokens[1:])
    shift = len(head) + 1
    text = head + " " + b_text
    tokens += list(b_tokens)
    offsets += [(s + shift, e + shift) for s, e in b_offsets]
    spans = [s for s in a.spans or () if s.end <= len(head)]
    spans += [
        AspectSpan(s.start + shift, s.end + shift, text[s.start + shift : s.end + shift], s.polarity, s.score)
        for s in b.spans or ()
    ]
    return replace(
        a,
        id=f"{a.id}+{b.id}",
        text=text,
        label=None,
        spans=tuple(spans),
        tokens=tuple(tokens),
        token_offsets=tuple(offsets),
        meta={"augmented": "contrastive", "from": [a.id, b.id]},
    )


def contrastive_rows(examples: Sequence[Example], rate: float, seed: int = 0) -> list[Example]:
    """About `rate * len(examples)` joined rows (positive with negative aspects,
    in both orders); deterministic for a seed. Rows without single-polarity
    aspects are never used."""
    if rate <= 0:
        return []
    by_polarity: dict[str, list[Example]] = {"positive": [], "negative": []}
    for ex in examples:
        pol = _polarity(ex)
        if pol in by_polarity:
            by_polarity[pol].append(ex)
    pos, neg = by_polarity["positive"], by_polarity["negative"]
    if not pos or not neg:
        return []
    rng = random.Random(seed)
    out = []
    for i in range(round(rate * len(examples))):
        a, b = rng.choice(pos), rng.choice(neg)
        if i % 2:
            a, b = b, a
        connective = _CONNECTIVE.get(a.lang or "") if rng.random() < 0.5 and a.lang == b.lang else None
        out.append(join_contrastive(a, b, connective))
    return out
