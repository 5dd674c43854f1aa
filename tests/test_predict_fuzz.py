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
