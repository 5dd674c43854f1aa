"""LFD-RT data pieces: the language-family table and the parallel-pair alignment."""
from __future__ import annotations

import json

import pytest

from xsent_core.methods.lfdrt import load_family_table, verified_pairs
from xsent_core.methods.lfdrt.families import FAMILIES_FILE, _parse
from xsent_core.types import AspectSpan, CheckpointError, Example

# Table 2 (Meld, CH-SIMS) and Table 3 of the paper
PAPER_LANGS = (
    "en eo es et eu fi fr he hu id io ka ar mg ml oc sk sw ta te tg tl tr zh ja jv ko tt gl".split()
)


def test_table_is_data_with_13_families_and_burmese():
    data = json.loads(FAMILIES_FILE.read_text(encoding="utf-8"))
    assert len(data["families"]) == 13
    table = load_family_table()
    assert table.size == 13
    for lang in PAPER_LANGS:
        assert table.knows(lang), lang
    assert table.family_of("my") == "sino_tibetan" == table.family_of("zh")
    for lang in ("es", "fr", "oc", "sk", "gl", "tg", "nl", "ru"):
        assert table.family_of(lang) == "indo_european"
    assert table.family_of("tt") == "turkic" and table.family_of("ka") == "kartvelian"


def test_codes_are_normalised():
    table = load_family_table()
    for code in ("my", "MY", "my-MM", "my_MM", "mya", "bur"):
        assert table.normalise(code) == "my"
    assert table.normalise("") is None and table.normalise(None) is None


def test_routing_rules():
    table = load_family_table()
    fr = table.route("fr")
    assert (fr.family, fr.index, fr.source, fr.warning) == ("indo_european", 0, "lang", None)
    en = table.route("en")
    assert en.source == "anchor" and en.index is None  # anchor text: no disentangler
    assert table.route("en", anchor_path=False).index == 0
    unknown = table.route("xx")
    assert unknown.family == "shared" and unknown.index is None and "not in the LFD-RT family table" in unknown.warning
    burmese = table.route(None, "ဒီဆိုင်က အရမ်းကောင်းတယ် ok")
    assert (burmese.lang, burmese.family, burmese.source) == ("my", "sino_tibetan", "script")
    latin = table.route(None, "no code here")
    assert latin.source == "default" and latin.warning is None and latin.index is None


def test_overrides_and_bad_tables():
    table = load_family_table(overrides={"xx": "uralic"})
    assert table.family_of("xx") == "uralic"
    with pytest.raises(CheckpointError, match="not one of the families"):
        load_family_table(overrides={"xx": "klingon"})
    with pytest.raises(CheckpointError, match="listed under"):
        _parse({"format": "xsent-language-families", "families": [
            {"id": "a", "languages": ["en"]}, {"id": "b", "languages": ["en"]}]}, "t.json")
    with pytest.raises(CheckpointError, match="not an xsent"):
        _parse({"families": []}, "t.json")


def _ex(i: int, text: str, pols: tuple[str, ...] = ()) -> Example:
    spans = tuple(AspectSpan(0, 1, text[:1], p) for p in pols)
    return Example(id=str(i), text=text, spans=spans, tokens=tuple(text.split()),
                   token_offsets=tuple((0, 1) for _ in text.split()))


def test_alignment_recovers_dropped_sentences_and_verifies():
    src = [
        _ex(0, "The food at Nobu 2 was great .", ("positive",)),
        _ex(1, "Service was slow and rude .", ("negative",)),
        _ex(2, "We went there on a Monday night with 8 friends .", ()),
        _ex(3, "Prices are OK .", ("neutral",)),
        _ex(4, "I loved the pasta but hated the wine list here .", ("positive", "negative")),
    ]
    # sentence 1 was not translated (projection failed); sentence 3's label projection is wrong
    tgt = [
        _ex(0, "La nourriture chez Nobu 2 était super .", ("positive",)),
        _ex(1, "Nous y sommes allés un lundi soir avec 8 amis .", ()),
        _ex(2, "Les prix sont OK .", ("negative",)),
        _ex(3, "J' ai adoré les pâtes mais détesté la carte des vins ici .", ("positive", "negative")),
    ]
    kept, report = verified_pairs(src, tgt, lang="fr")
    assert [(a.id, b.id) for a, b in kept] == [("0", "0"), ("2", "1"), ("4", "3")]
    assert report.aligned == 4 and report.unmatched_source == 1 and report.unmatched_target == 0
    assert report.dropped == {"polarity": 1} and report.kept == 3
    assert report.index_aligned == 1  # only the first pair sits on the same line


def test_length_ratio_filter():
    src = [_ex(0, "a b c d e f g h"), _ex(1, "short one")]
    tgt = [_ex(0, "x"), _ex(1, "court un")]
    kept, report = verified_pairs(src, tgt, lang="fr", min_ratio=0.5, max_ratio=2.0)
    assert report.dropped.get("length_ratio") == 1 and [a.id for a, _ in kept] == ["1"]


def test_semeval_translations_realign(shared_data):
    from xsent_core.data import load_examples

    base = shared_data / "semeval16_restaurants"
    en = load_examples(f"semeval:{base}/gold-en-train.txt")[:400]
    fr = load_examples(f"semeval:{base}/smt-fr-train.txt")[:390]
    kept, report = verified_pairs(en, fr, lang="fr")
    assert report.aligned + report.unmatched_source == 400
    assert report.kept + sum(report.dropped.values()) == report.aligned
    assert report.kept > 370
    # line 140 of the English file is line 139 of the French one (a sentence was dropped before it)
    pairs = {a.id: b.id for a, b in kept}
    assert en[140].text.startswith("Thank you everyone at Water")
    assert pairs[en[140].id] == fr[139].id
    assert report.index_aligned < report.kept  # aligning by line number alone would be wrong
