"""Property tests for xsent_core.text: offsets, span mapping, segmentation, idempotence."""
from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xsent_core.text import normalize, tokenize_for_model, word_spans
from xsent_core.text.normalize import REMOVED_CHAR

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
WHITESPACE = " \t\n\r\u00a0\u2009\u3000"

any_text = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x1000, max_codepoint=0x109F),  # Myanmar (Unicode and Zawgyi)
        st.sampled_from("abcXYZéü09,.!?'-$"),  # Latin, digits, punctuation
        st.sampled_from("\u0300\u0301\u0308\u0327\u0328\u0344\u0f73"),  # combining marks
        st.sampled_from("😀👍❤🇺🇸\U0001f3fd\ufe0f"),  # emoji, modifiers
        st.sampled_from("שלוםمرحبا\u200e\u200f\u202e"),  # RTL and bidi controls
        st.sampled_from("\u1025\u102e\u1100\u1161\u11a8"),  # starters that compose backwards
        st.sampled_from(ZERO_WIDTH + WHITESPACE + "\x00\x07\x1f\x85\ud800"),
        st.characters(),
    ),
    max_size=40,
)
# Text whose normalisation is only zero-width removal and whitespace collapsing.
plain_text = st.text(alphabet=st.sampled_from("abXY,.!'- " + ZERO_WIDTH + " \t\n"), max_size=40)

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def spans_of(n: int, data: st.DataObject) -> list[tuple[int, int]]:
    if n == 0:
        return [(0, 0)]
    pairs = data.draw(st.lists(st.tuples(st.integers(0, n), st.integers(0, n)), min_size=1, max_size=8))
    return [(min(a, b), max(a, b)) for a, b in pairs] + [(0, n)]


@SETTINGS
@given(any_text)
def test_offsets_monotone_and_in_bounds(text):
    n = normalize(text)
    assert len(n.offsets) == len(n.text) + 1 and len(n.ends) == len(n.text)
    assert all(a <= b for a, b in zip(n.offsets, n.offsets[1:]))
    assert all(a <= b for a, b in zip(n.ends, n.ends[1:]))
    assert 0 <= n.offsets[0] and n.offsets[-1] <= len(text)
    assert all(s < e <= n.offsets[-1] for s, e in zip(n.offsets, n.ends))


@SETTINGS
@given(any_text, st.data())
def test_to_original_valid_and_monotone(text, data):
    n = normalize(text)
    spans = sorted(spans_of(len(n.text), data))
    mapped = [n.to_original(s, e) for s, e in spans]
    for (s, e), (a, b) in zip(spans, mapped):
        assert 0 <= a <= b <= len(text)
        assert (a < b) == (s < e)
    for (s1, e1), (a1, b1) in zip(spans, mapped):
        for (s2, e2), (a2, b2) in zip(spans, mapped):
            if s1 <= s2 and e1 <= e2 and s1 < e1 and s2 < e2:
                assert a1 <= a2 and b1 <= b2


@SETTINGS
@given(plain_text, st.data())
def test_mapped_span_is_the_same_text_for_whitespace_and_zero_width_changes(text, data):
    n = normalize(text)
    for s, e in spans_of(len(n.text), data):
        if s == e:
            continue
        a, b = n.to_original(s, e)
        source = re.sub(r"\s+", " ", re.sub(f"[{ZERO_WIDTH}]", "", text[a:b]))
        assert source == n.text[s:e]


def check_spans(text: str, spans: list[tuple[int, int]]) -> None:
    prev_end = 0
    for s, e in spans:
        assert prev_end <= s < e <= len(text)
        prev_end = e
    covered = set()
    for s, e in spans:
        covered.update(range(s, e))
    for i, c in enumerate(text):
        if not c.isspace() and not REMOVED_CHAR.match(c):
            assert i in covered, f"{c!r} at {i} not in any word span"


@SETTINGS
@given(any_text, st.sampled_from([None, "en", "my", "my-syl"]))
def test_word_spans_partition_non_space_text(text, lang):
    check_spans(text, word_spans(text, lang))
    n = normalize(text)
    check_spans(n.text, word_spans(n.text, lang))


@SETTINGS
@given(any_text)
def test_normalize_is_idempotent(text):
    n = normalize(text)
    assert normalize(n.text, zawgyi="keep").text == n.text
    if not n.converted_from_zawgyi:
        assert normalize(n.text).text == n.text
    kept = normalize(text, zawgyi="keep")
    assert normalize(kept.text, zawgyi="keep").text == kept.text


@SETTINGS
@given(any_text, st.integers(1, 30))
def test_tokenize_for_model_spans_point_into_original(text, max_chars):
    n, spans, toks = tokenize_for_model(text, max_chars=max_chars)
    assert len(n.text) <= max_chars and n.truncated == bool(n.warnings and "truncated" in n.warnings[-1])
    assert len(spans) == len(toks)
    prev = (0, 0)
    for (a, b), tok in zip(spans, toks):
        assert 0 <= a < b <= n.offsets[-1] <= len(text) and tok
        assert prev <= (a, b)
        prev = (a, b)
