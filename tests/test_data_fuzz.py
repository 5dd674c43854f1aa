"""Property tests: readers never fail with anything but InputError; BIES decoding invariants."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xsent_core.data import iter_csv, iter_jsonl, read_conll, read_gklmip, read_semeval, write_conll
from xsent_core.data.bies import (
    TAGS,
    TS_TAGS,
    bies_from_ts,
    decode_probs,
    is_valid_bies,
    spans_to_tags,
    tags_to_spans,
    ts_tags_to_spans,
)
from xsent_core.types import POLARITIES, AspectSpan, Example, InputError

FILE_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
PURE_SETTINGS = settings(max_examples=200, deadline=None)

# --- inputs that look almost right -----------------------------------------------------

token_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=6)
any_tag = st.sampled_from(TAGS + TS_TAGS + ("T-BAD", "X", "", "o", " O"))
tagged_line = st.builds(
    lambda tok, tag, cols: "\t".join([tok, tag] + cols),
    token_text,
    any_tag,
    st.lists(st.sampled_from(["NIL", "FOOD#QUALITY", "", "x\ty"]), max_size=2),
)
line_file = st.lists(st.one_of(tagged_line, st.just(""), token_text), max_size=12).map(
    lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass")
)


def _mutate(data: bytes, cuts: list[tuple[int, bytes]]) -> bytes:
    for pos, junk in cuts:
        pos = pos % (len(data) + 1)
        data = data[:pos] + junk + data[pos:]
    return data


junk_bytes = st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\x00", b"\r", b"\t", b"\n"])


def noisy(base: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Mostly well-formed content with a few bytes inserted, or raw random bytes."""
    return st.one_of(
        st.binary(max_size=120),
        base,
        st.builds(_mutate, base, st.lists(st.tuples(st.integers(0, 10_000), junk_bytes), max_size=3)),
    )


json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 30), st.floats(allow_nan=True),
    st.sampled_from(["", "a b", "positive", "NEGATIVE", "neutral", "5", "img.png", "\ud800", "x\udfffy"]),
    token_text,
)
json_value = st.recursive(json_scalar, lambda c: st.lists(c, max_size=3) | st.dictionaries(token_text, c, max_size=3), max_leaves=8)
span_obj = st.one_of(
    st.fixed_dictionaries(
        {"start": json_scalar, "end": json_scalar, "polarity": st.sampled_from(POLARITIES + ("bad", 1))},
        optional={"text": json_scalar, "score": json_scalar},
    ),
    st.lists(json_scalar, max_size=4),
    json_scalar,
)
row_obj = st.fixed_dictionaries(
    {},
    optional={
        "id": json_scalar, "text": json_scalar, "image": json_scalar, "lang": json_scalar,
        "label": json_scalar, "spans": st.one_of(st.lists(span_obj, max_size=3), json_scalar),
        "extra": json_value,
    },
)


def _json_line(value) -> str:
    # ensure_ascii keeps lone surrogates as "\ud800" escapes, as a hostile file would.
    return json.dumps(value, ensure_ascii=True, allow_nan=True)


jsonl_file = st.lists(
    st.one_of(row_obj.map(_json_line), json_value.map(_json_line), st.just(""), st.just('{"text": "a"'), token_text),
    max_size=6,
).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass"))


def check_examples(examples: list[Example]) -> None:
    for ex in examples:
        assert isinstance(ex, Example)
        ex.text.encode("utf-8")  # storable
        if ex.tokens is not None:
            assert all(ex.text[s:e] == t for t, (s, e) in zip(ex.tokens, ex.token_offsets))
        for span in ex.spans or ():
            assert 0 <= span.start < span.end <= len(ex.text)
            assert ex.text[span.start:span.end] == span.text


def run_reader(reader, path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        result = list(reader(path))
    except InputError as e:
        assert str(path) in str(e)  # every error names the file
        return
    check_examples(result)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FILE_SETTINGS
@given(data=noisy(line_file))
def test_semeval_reader_fuzz(fuzz_dir, data):
    run_reader(read_semeval, fuzz_dir / "gold-en-train.txt", data)


@FILE_SETTINGS
@given(data=noisy(line_file.map(lambda b: b.replace(b"\tNIL", b""))))
def test_conll_reader_fuzz(fuzz_dir, data):
    run_reader(read_conll, fuzz_dir / "f.conll", data)


@FILE_SETTINGS
@given(data=noisy(jsonl_file))
def test_jsonl_reader_fuzz(fuzz_dir, data):
    run_reader(iter_jsonl, fuzz_dir / "f.jsonl", data)


@FILE_SETTINGS
@given(data=noisy(st.lists(row_obj, max_size=4).map(lambda rows: _json_line(rows).encode())))
def test_gklmip_reader_fuzz(fuzz_dir, data):
    run_reader(read_gklmip, fuzz_dir / "g.json", data)


csv_file = st.lists(
    st.lists(st.one_of(token_text, st.sampled_from(["text", "label", "positive", '"', '"a,b"', ","])), max_size=4),
    max_size=5,
).map(lambda rows: "\n".join(",".join(r) for r in rows).encode("utf-8", "surrogatepass"))


@FILE_SETTINGS
@given(data=noisy(st.one_of(csv_file, csv_file.map(lambda b: b"text,label\n" + b))))
def test_csv_reader_fuzz(fuzz_dir, data):
    run_reader(iter_csv, fuzz_dir / "f.csv", data)


# --- BIES ------------------------------------------------------------------------------


@st.composite
def span_sets(draw):
    """(n_tokens, non-overlapping sorted token spans)."""
    spans, pos = [], 0
    for gap, length, pol in draw(
        st.lists(st.tuples(st.integers(0, 3), st.integers(1, 4), st.sampled_from(POLARITIES)), max_size=8)
    ):
        start = pos + gap
        spans.append((start, start + length, pol))
        pos = start + length
    return pos + draw(st.integers(0, 3)), spans


@PURE_SETTINGS
@given(span_sets())
def test_bies_round_trip(case):
    n, spans = case
    tags = spans_to_tags(n, spans)
    assert len(tags) == n and is_valid_bies(tags)
    assert tags_to_spans(tags) == spans
    # T-tags cannot separate touching same-polarity terms; otherwise they round-trip too
    separable = all(a[1] < b[0] or a[2] != b[2] for a, b in zip(spans, spans[1:]))
    if separable:
        ts = ["O"] * n
        for s, e, pol in spans:
            ts[s:e] = ["T-" + {"positive": "POS", "neutral": "NEU", "negative": "NEG"}[pol]] * (e - s)
        assert ts_tags_to_spans(ts) == spans
        assert bies_from_ts(ts) == tags


def check_decoded(tags, spans) -> None:
    assert all(0 <= s < e <= len(tags) for s, e, _ in spans)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # sorted, no overlap
    covered = [i for s, e, _ in spans for i in range(s, e)]
    assert covered == [i for i, t in enumerate(tags) if t != "O"]  # every tagged token, once
    for s, e, pol in spans:  # one polarity per span, matching its tags
        assert {tags[i][2:] for i in range(s, e)} == {pol[:3].upper()}


@PURE_SETTINGS
@given(st.lists(st.sampled_from(TAGS), max_size=25))
def test_tags_to_spans_on_arbitrary_sequences(tags):
    spans = tags_to_spans(tags)
    check_decoded(tags, spans)
    repaired = spans_to_tags(len(tags), spans)
    assert tags_to_spans(repaired) == spans  # repairing is a fixed point
    if is_valid_bies(tags):
        assert repaired == tags


@PURE_SETTINGS
@given(st.lists(st.sampled_from(TS_TAGS), max_size=25))
def test_ts_tags_on_arbitrary_sequences(tags):
    spans = ts_tags_to_spans(tags)
    check_decoded(["X-" + t[2:] if t != "O" else t for t in tags], spans)
    assert tags_to_spans(bies_from_ts(tags)) == spans


@PURE_SETTINGS
@given(st.integers(0, 12), st.integers(0, 2**32 - 1), st.sampled_from(["mean", "min"]))
def test_decode_probs_random(n, seed, score):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, len(TAGS))) * 3
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    decoded = decode_probs(probs, score=score)
    tags = [TAGS[i] for i in probs.argmax(axis=1)] if n else []
    check_decoded(tags, [d[:3] for d in decoded])
    assert all(0.0 < d[3] <= 1.0 for d in decoded)


# --- CoNLL round trip on random whitespace texts ---------------------------------------

# No whitespace (so str.split finds the words) and no U+FEFF: a leading one is
# read back as a byte-order mark and dropped.
word = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Zs", "Zl", "Zp", "Cc"), exclude_characters="\ufeff"),
    min_size=1,
    max_size=5,
)


@st.composite
def tokenised_examples(draw):
    words = draw(st.lists(word, min_size=1, max_size=8))
    text, offsets = "", []
    for w in words:
        sep = draw(st.sampled_from([" ", "  ", "\t"])) if text else draw(st.sampled_from(["", " "]))
        text += sep + w
        offsets.append((len(text) - len(w), len(text)))
    _, token_spans = draw(span_sets())
    token_spans = [s for s in token_spans if s[1] <= len(words)]
    spans = tuple(
        AspectSpan(offsets[s][0], offsets[e - 1][1], text[offsets[s][0]:offsets[e - 1][1]], pol)
        for s, e, pol in token_spans
    )
    return Example(id="x", text=text, spans=spans)


@FILE_SETTINGS
@given(tokenised_examples())
def test_conll_write_read_round_trip(fuzz_dir, ex):
    path = fuzz_dir / "rt.conll"
    write_conll(path, [ex])
    (back,) = read_conll(path)
    assert back.tokens == tuple(ex.text.split())
    # the text comes back joined by single spaces
    assert [(s.text, s.polarity) for s in back.spans] == [(" ".join(s.text.split()), s.polarity) for s in ex.spans]
