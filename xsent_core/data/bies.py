"""BIES x {POS, NEU, NEG} + O tagging for aspect terms (MSMO's 13 tags).

Spans here are token-index spans ``(start, end, polarity)``, end exclusive,
polarity one of ``types.POLARITIES`` ("positive"/"neutral"/"negative").
Tags use the short forms POS/NEU/NEG.

Pure module: no torch, no I/O; numpy only for :func:`decode_probs`.

Decoding rule for tag sequences that are not valid BIES
(:func:`tags_to_spans`, also used by :func:`decode_probs`), read left to right
with at most one open span:

* ``O`` closes the open span (it ends at the previous token).
* ``S-p`` closes the open span and emits a one-token span.
* ``B-p`` closes the open span and opens a new one with polarity p.
* ``I-p`` continues the open span if it has polarity p; otherwise (no open
  span, or another polarity) it closes the open span and opens a new one.
* ``E-p`` closes the open span including this token if it has polarity p;
  otherwise it closes the open span and emits a one-token span.
* The end of the sequence closes the open span (it includes the last token).

Consequences: a ``B`` followed by ``O``/``B``/``S`` or by the end becomes a
one-token span; ``B I`` without ``E`` still spans both tokens; a polarity
change inside a span splits it. Every non-O tag lands in exactly one span,
spans never overlap, and a valid BIES sequence decodes exactly as written.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from ..types import POLARITIES

# Short forms in TAGS order; index i pairs with POLARITIES by name, not order.
SHORT: dict[str, str] = {"positive": "POS", "neutral": "NEU", "negative": "NEG"}
LONG: dict[str, str] = {v: k for k, v in SHORT.items()}

TAGS: tuple[str, ...] = ("O",) + tuple(
    f"{prefix}-{pol}" for pol in ("POS", "NEU", "NEG") for prefix in "BIES"
)
TAG2ID: dict[str, int] = {t: i for i, t in enumerate(TAGS)}
ID2TAG: dict[int, str] = dict(enumerate(TAGS))
TS_TAGS: tuple[str, ...] = ("O", "T-POS", "T-NEU", "T-NEG")

Span = tuple[int, int, str]


def _split(tag: str, allowed: Iterable[str]) -> tuple[str, str | None]:
    """'B-POS' -> ('B', 'positive'); 'O' -> ('O', None). ValueError if unknown."""
    if tag == "O":
        return "O", None
    if not isinstance(tag, str) or len(tag) != 5 or tag[1] != "-" or tag[0] not in allowed:
        raise ValueError(f"unknown tag {tag!r}")
    pol = LONG.get(tag[2:])
    if pol is None:
        raise ValueError(f"unknown tag {tag!r}")
    return tag[0], pol


def _check_polarity(pol: str) -> str:
    if pol not in SHORT:
        raise ValueError(f"unknown polarity {pol!r}; expected one of {POLARITIES}")
    return SHORT[pol]


def spans_to_tags(n_tokens: int, spans: Iterable[Sequence[Any]]) -> list[str]:
    """BIES tags for `n_tokens` tokens from token spans ``(start, end, polarity)``.

    Raises ValueError for an empty/out-of-range span, an unknown polarity or
    overlapping spans. Extra tuple items (e.g. a score) are ignored.
    """
    if n_tokens < 0:
        raise ValueError(f"negative token count {n_tokens}")
    tags = ["O"] * n_tokens
    for span in spans:
        start, end, pol = int(span[0]), int(span[1]), span[2]
        short = _check_polarity(pol)
        if not 0 <= start < end <= n_tokens:
            raise ValueError(f"span [{start}, {end}) outside 0..{n_tokens} or empty")
        if any(t != "O" for t in tags[start:end]):
            raise ValueError(f"span [{start}, {end}) overlaps another span")
        if end - start == 1:
            tags[start] = f"S-{short}"
        else:
            tags[start] = f"B-{short}"
            for i in range(start + 1, end - 1):
                tags[i] = f"I-{short}"
            tags[end - 1] = f"E-{short}"
    return tags


def tags_to_spans(tags: Sequence[str]) -> list[Span]:
    """Token spans from BIES tags, with the module's rule for invalid sequences.

    Returns sorted, non-overlapping spans; every non-O tag is in one span.
    Raises ValueError for a tag that is not one of TAGS.
    """
    spans: list[Span] = []
    open_start: int | None = None
    open_pol: str | None = None
    for i, tag in enumerate(tags):
        kind, pol = _split(tag, "BIES")
        if kind == "I" and open_start is not None and pol == open_pol:
            continue
        if kind == "E" and open_start is not None and pol == open_pol:
            spans.append((open_start, i + 1, open_pol))
            open_start = open_pol = None
            continue
        # Anything else closes the open span before this token.
        if open_start is not None:
            spans.append((open_start, i, open_pol))  # type: ignore[arg-type]
            open_start = open_pol = None
        if kind in ("S", "E"):
            spans.append((i, i + 1, pol))  # type: ignore[arg-type]
        elif kind in ("B", "I"):
            open_start, open_pol = i, pol
    if open_start is not None:
        spans.append((open_start, len(tags), open_pol))  # type: ignore[arg-type]
    return spans


def repaired_spans(tags: Sequence[str]) -> list[Span]:
    """The spans of `tags_to_spans` that the tags do not spell out as written (S, or B I* E):
    the ones the repair rule made up from a broken sequence."""
    out = []
    for start, end, pol in tags_to_spans(tags):
        if spans_to_tags(end - start, [(0, end - start, pol)]) != list(tags[start:end]):
            out.append((start, end, pol))
    return out


def is_valid_bies(tags: Sequence[str]) -> bool:
    """True if `tags` is a well-formed BIES sequence (O | S | B I* E)*."""
    return spans_to_tags(len(tags), tags_to_spans(tags)) == list(tags)


def ts_tags_to_spans(tags: Sequence[str]) -> list[Span]:
    """Token spans from SemEval T-tags: a run of identical ``T-p`` tags is one term.

    ``T-POS T-NEG`` gives two spans (polarity change splits). Raises ValueError
    for a tag other than O / T-POS / T-NEU / T-NEG.
    """
    spans: list[Span] = []
    open_start: int | None = None
    open_pol: str | None = None
    for i, tag in enumerate(tags):
        kind, pol = _split(tag, "T")
        if open_start is not None and pol != open_pol:
            spans.append((open_start, i, open_pol))  # type: ignore[arg-type]
            open_start = open_pol = None
        if kind == "T" and open_start is None:
            open_start, open_pol = i, pol
    if open_start is not None:
        spans.append((open_start, len(tags), open_pol))  # type: ignore[arg-type]
    return spans


def bies_from_ts(tags: Sequence[str]) -> list[str]:
    """Convert SemEval T-tags to BIES tags (same terms, same polarities)."""
    return spans_to_tags(len(tags), ts_tags_to_spans(tags))


def decode_probs(
    prob_matrix: Any,
    *,
    n_tokens: int | None = None,
    score: str = "mean",
) -> list[tuple[int, int, str, float]]:
    """Greedy decoding of per-token tag probabilities into scored token spans.

    `prob_matrix` is (tokens x 13) in TAGS column order (a numpy array, a
    detached CPU tensor or nested lists), e.g. a softmax output; only the first `n_tokens`
    rows are used when given (padding). Each row's argmax tag is taken (ties
    go to the lower id, so O wins ties), then the tag sequence is decoded with
    :func:`tags_to_spans`. A span's score is the mean (``score="mean"``) or the
    minimum (``score="min"``) over its tokens of the probability of the tag
    chosen for that token. Returns ``(start, end, polarity, score)`` tuples.
    """
    import numpy as np

    if score not in ("mean", "min"):
        raise ValueError(f"score must be 'mean' or 'min', got {score!r}")
    probs = np.asarray(prob_matrix, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(TAGS):
        raise ValueError(f"expected a (tokens, {len(TAGS)}) matrix, got shape {probs.shape}")
    if n_tokens is not None:
        if not 0 <= n_tokens <= probs.shape[0]:
            raise ValueError(f"n_tokens={n_tokens} outside 0..{probs.shape[0]}")
        probs = probs[:n_tokens]
    if not np.isfinite(probs).all():
        raise ValueError("probability matrix contains NaN or infinity")
    ids = probs.argmax(axis=1)
    chosen = probs[np.arange(len(ids)), ids]
    reduce = np.mean if score == "mean" else np.min
    return [
        (s, e, pol, float(reduce(chosen[s:e])))
        for s, e, pol in tags_to_spans([TAGS[i] for i in ids])
    ]
