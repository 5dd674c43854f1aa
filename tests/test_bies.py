from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xsent_core.data.bies import (
    ID2TAG,
    TAG2ID,
    TAGS,
    TS_TAGS,
    bies_from_ts,
    decode_probs,
    is_valid_bies,
    spans_to_tags,
    tags_to_spans,
    ts_tags_to_spans,
)
from xsent_core.data.semeval import read_tagged
from xsent_core.paths import shared_data_dir

POS, NEU, NEG = "positive", "neutral", "negative"
SEMEVAL_DIR = shared_data_dir() / "semeval16_restaurants"
SEMEVAL_FILES = sorted(SEMEVAL_DIR.glob("*.txt"))


def test_tag_inventory():
    assert len(TAGS) == 13 and len(set(TAGS)) == 13
    assert TAGS[:5] == ("O", "B-POS", "I-POS", "E-POS", "S-POS")
    assert TAGS[5:9] == ("B-NEU", "I-NEU", "E-NEU", "S-NEU")
    assert TAGS[9:] == ("B-NEG", "I-NEG", "E-NEG", "S-NEG")
    assert all(ID2TAG[TAG2ID[t]] == t for t in TAGS)
    assert TAG2ID["O"] == 0


def test_spans_to_tags():
    assert spans_to_tags(6, [(0, 1, POS), (2, 5, NEG)]) == [
        "S-POS", "O", "B-NEG", "I-NEG", "E-NEG", "O",
    ]
    assert spans_to_tags(3, [(1, 3, NEU)]) == ["O", "B-NEU", "E-NEU"]
    assert spans_to_tags(2, []) == ["O", "O"]
    assert spans_to_tags(0, []) == []
    assert spans_to_tags(2, [(0, 1, POS, 0.5)]) == ["S-POS", "O"]  # extra items ignored


@pytest.mark.parametrize(
    "spans",
    [[(0, 2, POS), (1, 3, NEG)], [(0, 0, POS)], [(2, 1, POS)], [(0, 4, POS)], [(-1, 1, POS)], [(0, 1, "POS")]],
)
def test_spans_to_tags_rejects(spans):
    with pytest.raises(ValueError):
        spans_to_tags(3, spans)


def test_valid_sequences_decode_as_written():
    tags = ["B-POS", "I-POS", "E-POS", "O", "S-NEG", "S-NEG", "B-NEU", "E-NEU"]
    assert tags_to_spans(tags) == [(0, 3, POS), (4, 5, NEG), (5, 6, NEG), (6, 8, NEU)]
    assert is_valid_bies(tags)
    assert tags_to_spans([]) == [] and tags_to_spans(["O", "O"]) == []


# One case per rule of the invalid-sequence decoding documented in bies.py.
@pytest.mark.parametrize(
    "tags, spans",
    [
        # O closes an open span
        (["B-POS", "I-POS", "O"], [(0, 2, POS)]),
        # B followed by O: one-token span
        (["B-POS", "O", "O"], [(0, 1, POS)]),
        # B at the end: one-token span; B I at the end: spans both
        (["O", "B-NEG"], [(1, 2, NEG)]),
        (["B-NEG", "I-NEG"], [(0, 2, NEG)]),
        # B after B closes the first and opens a new one
        (["B-POS", "B-POS", "E-POS"], [(0, 1, POS), (1, 3, POS)]),
        # S inside an open span closes it and stands alone
        (["B-POS", "S-POS", "E-POS"], [(0, 1, POS), (1, 2, POS), (2, 3, POS)]),
        # I without an open span opens one
        (["O", "I-NEU", "I-NEU", "E-NEU"], [(1, 4, NEU)]),
        (["I-POS"], [(0, 1, POS)]),
        # I with another polarity splits
        (["B-POS", "I-NEG", "E-NEG"], [(0, 1, POS), (1, 3, NEG)]),
        # E without an open span is a one-token span
        (["O", "E-POS", "O"], [(1, 2, POS)]),
        # E with another polarity closes the open span, then stands alone
        (["B-POS", "E-NEG"], [(0, 1, POS), (1, 2, NEG)]),
        (["B-POS", "I-POS", "E-NEG", "E-NEG"], [(0, 2, POS), (2, 3, NEG), (3, 4, NEG)]),
    ],
)
def test_invalid_sequence_rule(tags, spans):
    assert tags_to_spans(tags) == spans
    assert not is_valid_bies(tags)
    # never drops a tagged token
    covered = {i for s, e, _ in spans for i in range(s, e)}
    assert covered == {i for i, t in enumerate(tags) if t != "O"}


def test_tags_to_spans_rejects_unknown():
    for bad in (["X-POS"], ["B-FOO"], ["T-POS"], ["o"], [None]):
        with pytest.raises(ValueError):
            tags_to_spans(bad)


def test_ts_tags():
    assert TS_TAGS == ("O", "T-POS", "T-NEU", "T-NEG")
    tags = ["T-POS", "T-POS", "O", "T-NEG", "T-POS", "T-POS", "T-NEU"]
    assert ts_tags_to_spans(tags) == [(0, 2, POS), (3, 4, NEG), (4, 6, POS), (6, 7, NEU)]
    assert bies_from_ts(tags) == ["B-POS", "E-POS", "O", "S-NEG", "B-POS", "E-POS", "S-NEU"]
    assert ts_tags_to_spans([]) == [] and bies_from_ts(["O"]) == ["O"]
    with pytest.raises(ValueError):
        ts_tags_to_spans(["B-POS"])


def _probs(rows):
    m = np.full((len(rows), 13), 0.0)
    for i, row in enumerate(rows):
        for tag, p in row.items():
            m[i, TAG2ID[tag]] = p
    return m


def test_decode_probs_mean_and_min():
    m = _probs([
        {"B-POS": 0.9, "O": 0.1},
        {"E-POS": 0.5, "I-POS": 0.3, "O": 0.2},
        {"O": 0.8, "S-NEG": 0.2},
        {"I-NEG": 0.6, "O": 0.4},  # I without B: opens a span (rule), ends at the end
    ])
    assert decode_probs(m) == [(0, 2, POS, pytest.approx(0.7)), (3, 4, NEG, pytest.approx(0.6))]
    assert decode_probs(m, score="min") == [(0, 2, POS, pytest.approx(0.5)), (3, 4, NEG, pytest.approx(0.6))]
    assert decode_probs(m, n_tokens=1) == [(0, 1, POS, pytest.approx(0.9))]
    assert decode_probs(m.tolist(), n_tokens=0) == []


def test_decode_probs_tie_goes_to_o_and_errors():
    m = np.full((2, 13), 1 / 13)
    assert decode_probs(m) == []
    with pytest.raises(ValueError):
        decode_probs(np.zeros((2, 12)))
    with pytest.raises(ValueError):
        decode_probs(np.zeros(13))
    with pytest.raises(ValueError):
        decode_probs(m, n_tokens=3)
    with pytest.raises(ValueError):
        decode_probs(m, score="max")
    m[0, 0] = np.nan
    with pytest.raises(ValueError):
        decode_probs(m)


def test_semeval_files_present():
    names = {p.name for p in SEMEVAL_FILES}
    if not names:
        pytest.skip(f"no SemEval data under {SEMEVAL_DIR}")
    assert {f"gold-{l}-{s}.txt" for l in ("en", "es", "fr", "nl", "ru") for s in ("train", "dev", "test")} <= names
    assert sum(n.startswith("smt-") for n in names) == 4
    assert sum(n.startswith("cs_") for n in names) == 8


@pytest.mark.parametrize("path", SEMEVAL_FILES, ids=lambda p: p.name)
def test_round_trip_on_semeval_file(path: Path):
    n_ts = 0
    for sent in read_tagged(path):
        n = len(sent.tags)
        if set(sent.tags) <= set(TS_TAGS):
            n_ts += 1
            spans = ts_tags_to_spans(sent.tags)
            assert tags_to_spans(spans_to_tags(n, spans)) == spans
            assert tags_to_spans(bies_from_ts(sent.tags)) == spans
            # T-tag runs: every T token is covered, nothing else
            assert {i for s, e, _ in spans for i in range(s, e)} == {
                i for i, t in enumerate(sent.tags) if t != "O"
            }
        else:  # the cs_X-en files end with sentences already in BIES
            spans = tags_to_spans(sent.tags)
            assert spans_to_tags(n, spans) == list(sent.tags)
    assert n_ts > 0
