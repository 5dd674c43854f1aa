"""Projected-span clean-up: leading articles and determiners off aspect spans.

Label projection onto machine translations (smt-X-train) carries the article
into the aspect ("La nourriture", "el servicio") where gold annotation marks
the noun alone, so a student trained on projected spans learns the wrong left
boundary. `strip_leading_articles` moves each span's start past leading
articles of its language (a span is never emptied); `boundary_stats` measures
how often spans start with one and how long they are, to compare a view
against gold before and after.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Mapping, Sequence

from ..types import AspectSpan, Example

# Articles, plus the article-preposition contractions that open a projected span
# (lower case; elided forms keep their apostrophe because the SemEval files split
# "l'" from its noun). Russian has no articles.
LEADING_ARTICLES: Mapping[str, frozenset[str]] = {
    "en": frozenset({"the", "a", "an"}),
    "fr": frozenset({"le", "la", "les", "l'", "un", "une", "des", "du", "au", "aux"}),
    "es": frozenset({"el", "la", "los", "las", "un", "una", "unos", "unas", "lo", "del", "al"}),
    "nl": frozenset({"de", "het", "een", "'t"}),
    "ru": frozenset(),
}


@dataclass(frozen=True)
class BoundaryStats:
    """How spans of one set start and how long they are (in tokens)."""

    spans: int
    article_initial: int  # spans whose first token is a leading article of the language
    mean_tokens: float

    @property
    def article_share(self) -> float:
        return self.article_initial / self.spans if self.spans else 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {
            "spans": self.spans,
            "article_initial": self.article_initial,
            "article_share": round(self.article_share, 4),
            "mean_tokens": round(self.mean_tokens, 3),
        }


def _span_tokens(ex: Example, span: AspectSpan) -> list[int]:
    offsets = ex.token_offsets or ()
    return [i for i, (s, e) in enumerate(offsets) if s >= span.start and e <= span.end]


def strip_leading_articles(ex: Example, lang: str) -> Example:
    """`ex` with each span's leading articles removed (needs tokens; else unchanged)."""
    articles = LEADING_ARTICLES.get(lang, frozenset())
    if not articles or not ex.spans or ex.tokens is None or ex.token_offsets is None:
        return ex
    spans = []
    for span in ex.spans:
        inside = _span_tokens(ex, span)
        while len(inside) > 1 and ex.tokens[inside[0]].lower() in articles:
            inside = inside[1:]
        start = ex.token_offsets[inside[0]][0] if inside else span.start
        spans.append(span if start == span.start else replace(span, start=start, text=ex.text[start : span.end]))
    return replace(ex, spans=tuple(spans))


def strip_all(rows: Iterable[Example], lang: str) -> list[Example]:
    return [strip_leading_articles(ex, lang) for ex in rows]


def boundary_stats(rows: Sequence[Example], lang: str) -> BoundaryStats:
    """Article-initial share and mean length (tokens) of the spans in `rows`."""
    articles = LEADING_ARTICLES.get(lang, frozenset())
    n = initial = tokens = 0
    for ex in rows:
        for span in ex.spans or ():
            inside = _span_tokens(ex, span)
            if not inside or ex.tokens is None:
                continue
            n += 1
            tokens += len(inside)
            initial += ex.tokens[inside[0]].lower() in articles
    return BoundaryStats(n, initial, tokens / n if n else 0.0)
