"""Arbitrary text through the real predict path: a result with valid offsets, never a crash."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xsent_core.registry import load_model
from xsent_core.types import Example

TEXT = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x1000, max_codepoint=0x109F),  # Myanmar (Unicode and Zawgyi code points)
        st.characters(min_codepoint=0x0590, max_codepoint=0x06FF),  # Hebrew, Arabic (RTL)
        st.characters(min_codepoint=0x0300, max_codepoint=0x036F),  # combining marks
        st.sampled_from(["\u200b", "\u200c", "\u200d", "\ufeff", "\n", "\t", " ", "😀", "👍", "\U0001F3FD", "é", "ß"]),
        st.characters(codec="utf-8"),
    ),
    max_size=300,
)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def tagger(tiny_tagger_dir):
    return load_model(tiny_tagger_dir, expected_method="tagger")


@pytest.fixture(scope="module")
def classifier(tiny_classifier_dir):
    return load_model(tiny_classifier_dir, expected_method="classifier")


@FUZZ
@given(text=TEXT)
def test_tagger_spans_always_point_into_the_input(tagger, text):
    pred = tagger.predict([Example(id="x", text=text)])[0]
    assert pred.spans is not None
    last_end = 0
    for span in pred.spans:
        assert last_end <= span.start < span.end <= len(text)
        assert text[span.start : span.end] == span.text
        last_end = span.end


@FUZZ
@given(text=TEXT)
def test_classifier_always_gives_a_distribution(classifier, text):
    pred = classifier.predict([Example(id="x", text=text)])[0]
    assert pred.label in pred.probs
    assert abs(sum(pred.probs.values()) - 1.0) < 1e-4


def test_one_megabyte_input_is_truncated_not_crashed(tagger, classifier):
    text = ("The soup was cold but the bread was fresh. " * 25_000)[:1_000_000]
    for model in (tagger, classifier):
        pred = model.predict([Example(id="big", text=text)])[0]
        assert any("truncated" in w or "fit" in w or "only the start" in w for w in pred.warnings), pred.warnings


def test_zawgyi_input_is_converted_with_a_warning(classifier, tagger):
    zawgyi = "ေက်ာင္းသားေတြ စာေမးပြဲ ေအာင္ျမင္ၾကတယ္"
    pred = classifier.predict([Example(id="z", text=zawgyi)])[0]
    assert any("Zawgyi" in w for w in pred.warnings), pred.warnings
    spans = tagger.predict([Example(id="z", text=zawgyi)])[0].spans
    for s in spans:
        assert zawgyi[s.start : s.end] == s.text


def test_words_mapping_to_overlapping_characters_give_disjoint_spans():
    """NFC reorders combining marks across a word boundary, so two words' source ranges overlap
    (found by benchmarks/reliability.py); the decoded spans must still be disjoint."""
    import torch

    from xsent_core.data.bies import TAGS
    from xsent_core.methods.tagger.model import spans_from_probs
    from xsent_core.text import tokenize_for_model

    text = "\u0339\u0321\U00039842\u05bf\u103a\u06e2\u0618\u0673"
    _, word_spans, _ = tokenize_for_model(text)
    assert word_spans[1][1] > word_spans[2][0]  # the overlap this test is about
    probs = torch.zeros(len(word_spans), len(TAGS))
    probs[:, TAGS.index("S-POS")] = 1.0  # every word its own aspect term
    spans = spans_from_probs(text, word_spans, probs)
    assert spans and all(a.end <= b.start for a, b in zip(spans, spans[1:]))
    assert all(s.start < s.end and text[s.start : s.end] == s.text for s in spans)
