"""Contrastive concatenation keeps spans and tokens on the joined text."""
from __future__ import annotations

from xsent_core.data.augment import contrastive_rows, join_contrastive
from xsent_core.types import AspectSpan, Example


def _row(id_: str, tokens: list[str], spans: list[tuple[int, str]], lang: str = "en") -> Example:
    text, offsets = "", []
    for tok in tokens:
        if text and tok not in {".", ","}:
            text += " "
        offsets.append((len(text), len(text) + len(tok)))
        text += tok
    aspect = [AspectSpan(offsets[i][0], offsets[i][1], tokens[i], pol) for i, pol in spans]
    return Example(id=id_, text=text, lang=lang, spans=tuple(aspect), tokens=tuple(tokens), token_offsets=tuple(offsets))


FISH = _row("a", ["The", "fish", "was", "fresh", "."], [(1, "positive")])
SERVICE = _row("b", ["The", "service", "was", "slow", "."], [(1, "negative")])


def _consistent(ex: Example) -> None:
    for tok, (s, e) in zip(ex.tokens, ex.token_offsets):
        assert ex.text[s:e] == tok
    for span in ex.spans:
        assert ex.text[span.start : span.end] == span.text


def test_two_sentences():
    joined = join_contrastive(FISH, SERVICE, None)
    assert joined.text == "The fish was fresh. The service was slow."
    assert [(s.text, s.polarity) for s in joined.spans] == [("fish", "positive"), ("service", "negative")]
    _consistent(joined)


def test_one_contrastive_sentence_with_a_connective():
    joined = join_contrastive(FISH, SERVICE, "but")
    assert joined.text == "The fish was fresh, but the service was slow."
    assert joined.tokens == ("The", "fish", "was", "fresh", ",", "but", "the", "service", "was", "slow", ".")
    assert [(s.text, s.polarity) for s in joined.spans] == [("fish", "positive"), ("service", "negative")]
    _consistent(joined)


def test_rows_pair_opposite_polarities_only_and_are_deterministic():
    mixed = _row("m", ["fish", "good", "service", "bad"], [(0, "positive"), (2, "negative")])
    plain = _row("n", ["nice", "place"], [])
    rows = [FISH, SERVICE, mixed, plain] * 5
    out = contrastive_rows(rows, 0.5, seed=3)
    assert len(out) == 10
    assert out == contrastive_rows(rows, 0.5, seed=3)
    for ex in out:
        _consistent(ex)
        assert {s.polarity for s in ex.spans} == {"positive", "negative"}
        assert "m" not in ex.meta["from"] and "n" not in ex.meta["from"]
    assert contrastive_rows(rows, 0.0) == []
    assert contrastive_rows([FISH] * 3, 1.0) == []  # no negative row to pair with
