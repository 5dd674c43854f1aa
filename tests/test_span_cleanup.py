"""Projected-span clean-up (leading articles) and its boundary statistics."""
from __future__ import annotations

from xsent_core.data.span_cleanup import boundary_stats, strip_all, strip_leading_articles
from xsent_core.types import AspectSpan, Example


def example(tokens: list[str], spans: list[tuple[int, int, str]], lang: str = "fr") -> Example:
    offsets, pos = [], 0
    for t in tokens:
        offsets.append((pos, pos + len(t)))
        pos += len(t) + 1
    text = " ".join(tokens)
    aspects = tuple(
        AspectSpan(offsets[a][0], offsets[b - 1][1], text[offsets[a][0] : offsets[b - 1][1]], pol) for a, b, pol in spans
    )
    return Example("x", text, lang=lang, spans=aspects, tokens=tuple(tokens), token_offsets=tuple(offsets))


def test_leading_articles_are_stripped_per_language():
    ex = example(["La", "nourriture", "et", "l'", "ambiance", "sont", "bonnes"], [(0, 2, "positive"), (3, 5, "positive")])
    out = strip_leading_articles(ex, "fr")
    assert [s.text for s in out.spans] == ["nourriture", "ambiance"]
    assert [(s.start, s.end) for s in out.spans] == [(3, 13), (20, 28)]
    assert out.text == ex.text and out.tokens == ex.tokens
    # the same tokens are not articles in Dutch, and Russian has none: unchanged
    assert strip_leading_articles(ex, "nl") == ex
    assert strip_leading_articles(ex, "ru") == ex


def test_a_span_is_never_emptied_and_stacked_articles_go():
    lone = example(["La", "est", "là"], [(0, 1, "neutral")])
    assert strip_leading_articles(lone, "fr") == lone  # a one-token span stays, even an article
    stacked = example(["de", "het", "bier", "was", "koud"], [(0, 3, "negative")], lang="nl")
    assert strip_leading_articles(stacked, "nl").spans[0].text == "bier"
    untokenised = Example("x", "La nourriture", lang="fr", spans=(AspectSpan(0, 13, "La nourriture", "positive"),))
    assert strip_leading_articles(untokenised, "fr") == untokenised


def test_boundary_stats_before_and_after():
    rows = [
        example(["La", "nourriture", "est", "bonne"], [(0, 2, "positive")]),
        example(["Le", "carte", "des", "vins"], [(1, 4, "positive")]),
        example(["Rien"], []),
    ]
    before = boundary_stats(rows, "fr")
    assert (before.spans, before.article_initial) == (2, 1)
    assert before.article_share == 0.5 and before.mean_tokens == 2.5
    after = boundary_stats(strip_all(rows, "fr"), "fr")
    assert after.to_dict() == {"spans": 2, "article_initial": 0, "article_share": 0.0, "mean_tokens": 2.0}
    assert boundary_stats([], "fr").article_share == 0.0


def test_real_projections_carry_articles_and_clean_up_to_gold(shared_data):
    from xsent_core.recipes import load_data

    root = f"semeval:{shared_data}/semeval16_restaurants/"
    smt = load_data(root + "smt-fr-train.txt")
    gold = load_data(root + "gold-fr-train.txt")
    raw, clean, ref = boundary_stats(smt, "fr"), boundary_stats(strip_all(smt, "fr"), "fr"), boundary_stats(gold, "fr")
    assert raw.article_share > 0.03 and ref.article_share < 0.005
    assert clean.article_share <= ref.article_share and clean.mean_tokens < raw.mean_tokens
