"""Examples for xsent_core.text: each normalisation step, Zawgyi, segmentation, offsets."""
from __future__ import annotations

import json
import time
import unicodedata

import pytest

from xsent_core.text import (
    NormalizedText,
    burmese_words,
    has_myanmar,
    looks_like_zawgyi,
    normalize,
    syllables,
    tokenize_for_model,
    word_spans,
    zawgyi_probability,
    zawgyi_to_unicode,
)
from xsent_core.text.zawgyi import zawgyi_clusters

UNICODE_SENTENCE = "ဒီဖုန်းကအရမ်းကောင်းပါတယ်။"
# Row 5 of gklmip train.json (Zawgyi): "the wrong item was delivered ..."
ZAWGYI_SENTENCE = "ပို႔တဲ့ပစၥည္းမွားေနတယ္၊Wi-Fi လႊင့္စက္မွာတာ Humidifier လာပို႔သြားတယ္၊"
ZAWGYI_SENTENCE_UNICODE = "ပို့တဲ့ပစ္စည်းမှားနေတယ်၊Wi-Fi လွှင့်စက်မှာတာ Humidifier လာပို့သွားတယ်၊"

# (Zawgyi, Unicode) words checked by hand.
KNOWN_PAIRS = [
    ("ေျပာ", "ပြော"), ("ျမန္မာ", "မြန်မာ"), ("ပို႔", "ပို့"), ("ပစၥည္း", "ပစ္စည်း"), ("မ်ား", "များ"),
    ("ၿပီ", "ပြီ"), ("ေကာင္း", "ကောင်း"), ("လႊင့္", "လွှင့်"), ("ၾကည့္", "ကြည့်"), ("သံုး", "သုံး"),
    ("ဂ်င္း", "ဂျင်း"), ("ေစ်း", "ဈေး"), ("ေႏြး", "နွေး"), ("႐ုပ္ရွင္", "ရုပ်ရှင်"), ("ကၽြန္ေတာ္", "ကျွန်တော်"),
    ("မဂၤလာပါ", "မင်္ဂလာပါ"), ("ေက်းဇူး", "ကျေးဇူး"), ("ၿမိဳ႕", "မြို့"), ("ႏိုင္ငံ", "နိုင်ငံ"),
    ("ဥကၠ႒", "ဥက္ကဋ္ဌ"), ("သၾကၤန္", "သင်္ကြန်"), ("ေမႊး", "မွှေး"), ("ၫႊန္", "ညွှန်"),
]


def words(text: str, spans: list[tuple[int, int]]) -> list[str]:
    return [text[s:e] for s, e in spans]


# --- normalize: individual steps -------------------------------------------------


def test_unicode_burmese_sentence_is_unchanged():
    n = normalize(UNICODE_SENTENCE)
    assert n.text == UNICODE_SENTENCE
    assert n.offsets == tuple(range(len(UNICODE_SENTENCE) + 1))
    assert not n.converted_from_zawgyi and not n.truncated and n.warnings == ()
    assert n.zawgyi_probability < 0.5


def test_zawgyi_sentence_detected_and_converted_with_cluster_offsets():
    assert looks_like_zawgyi(ZAWGYI_SENTENCE)
    n = normalize(ZAWGYI_SENTENCE)
    assert n.converted_from_zawgyi and n.zawgyi_probability > 0.99
    assert n.text == ZAWGYI_SENTENCE_UNICODE
    assert any("Zawgyi" in w for w in n.warnings)
    got = {n.text[s:e]: n.original[slice(*n.to_original(s, e))] for s, e in word_spans(n.text)}
    assert got["ပစ္စည်း"] == "ပစၥည္း"
    assert got["နေ"] == "ေန"  # ေ is typed before the consonant in Zawgyi
    assert got["Wi-Fi"] == "Wi-Fi"
    assert got["လွှင့်"] == "လႊင့္"


def test_no_word_of_the_shipped_burmese_lexicons_is_taken_for_zawgyi():
    """Short words spelled alike in both encodings (ငါး, "fish", scores 0.97) are not flagged or 'converted'."""
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "assets" / "dictionaries"
    words = [line.split("\t")[0] for name in ("my-en.tsv", "my-en-cldr.tsv")
             for line in (folder / name).read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    assert len(words) > 500
    assert zawgyi_probability("ငါး") >= 0.95  # the detector alone would flag it
    flagged = [w for w in words if looks_like_zawgyi(w) or normalize(w).converted_from_zawgyi]
    assert flagged == []
    assert normalize("ငါး").warnings == () and normalize("ငါး").text == "ငါး"
    assert looks_like_zawgyi("ေျပာ")  # a one-word Zawgyi spelling that converts is still caught


def test_zawgyi_reordered_cluster_maps_to_whole_source_cluster():
    n = normalize("ေျပာ", zawgyi="convert")
    assert n.text == "ပြော"
    # every converted char comes from the one Zawgyi cluster
    assert all(n.to_original(i, i + 1) == (0, 4) for i in range(4))
    n = normalize("ျမန္မာ", zawgyi="convert")
    assert n.text == "မြန်မာ"
    assert n.to_original(0, 4) == (0, 4) and n.to_original(4, 6) == (4, 6)


def test_zawgyi_clusters_tile_the_text():
    assert words("ေျပာျမန္မာ ok", zawgyi_clusters("ေျပာျမန္မာ ok")) == ["ေျပာ", "ျမန္", "မာ", " ", "o", "k"]


@pytest.mark.parametrize("zg,uni", KNOWN_PAIRS)
def test_zawgyi_conversion_known_pairs(zg, uni):
    assert unicodedata.normalize("NFC", zawgyi_to_unicode(zg)) == uni


def test_conversion_matches_burmesenlp_and_maps_real_rows(shared_data):
    from burmesenlp import zg2uni

    rows = json.loads((shared_data / "gklmip_myanmar_sentiment" / "train.json").read_text(encoding="utf-8"))
    converted = 0
    for row in rows[:600]:
        n = normalize(row["text"])
        if not n.converted_from_zawgyi:
            continue
        converted += 1
        cleaned = "".join(c for c in row["text"] if c not in "\u200b\u200c\u200d\u2060\ufeff")
        assert n.text == " ".join(unicodedata.normalize("NFC", zg2uni(cleaned)).split())
        assert normalize(n.text).text == n.text
        prev = (0, 0)
        for s, e in word_spans(n.text):
            a, b = n.to_original(s, e)
            assert prev <= (a, b) and a < b
            prev = (a, b)
    assert converted >= 20  # rows with ZWSP inside Zawgyi syllables are among them


def test_zawgyi_modes():
    kept = normalize(ZAWGYI_SENTENCE, zawgyi="keep")
    assert not kept.converted_from_zawgyi
    assert kept.text == ZAWGYI_SENTENCE
    assert any("kept as is" in w for w in kept.warnings)
    assert normalize(UNICODE_SENTENCE, zawgyi="keep").warnings == ()
    forced = normalize("ေျပာ", zawgyi="convert")
    assert forced.converted_from_zawgyi and forced.text == "ပြော"
    assert not normalize("hello", zawgyi="convert").converted_from_zawgyi
    with pytest.raises(ValueError, match="zawgyi must be one of"):
        normalize("x", zawgyi="yes")
    with pytest.raises(TypeError):
        normalize(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        normalize("x", max_chars=0)


def test_detection_helpers():
    assert has_myanmar("abc က") and not has_myanmar("abc")
    # the three Myanmar blocks, edges included; their neighbours and the empty string are not Burmese
    assert all(has_myanmar(c) for c in "\u1000\u109f\ua9e0\ua9ff\uaa60\uaa7f")
    assert not any(has_myanmar(c) for c in ["\u0fff", "\u10a0", "\ua9df", "\uaa00", "\uaa80", ""])
    assert zawgyi_probability("just english") == 0.0
    assert not looks_like_zawgyi(UNICODE_SENTENCE)
    assert zawgyi_probability(ZAWGYI_SENTENCE) > 0.99


def test_zero_width_characters_removed_with_offsets():
    n = normalize("ab\u200bcd\ufeff\u200ce\u200d\u2060f")
    assert n.text == "abcdef"
    assert n.offsets == (0, 1, 3, 4, 7, 10, 11)
    assert n.to_original(2, 4) == (3, 5)  # "cd"
    assert n.to_original(4, 6) == (7, 11)  # "e", the joiners, "f"
    assert n.to_original(4, 5) == (7, 8)


def test_zero_width_inside_burmese_word():
    n = normalize("ဝယ်\u200bမိ")
    assert n.text == "ဝယ်မိ"
    assert n.to_original(3, 5) == (4, 6)


def test_nfc_composition_maps_to_both_source_chars():
    n = normalize("cafe\u0301 ok")
    assert n.text == "café ok"
    assert n.to_original(3, 4) == (3, 5)
    assert n.to_original(0, 4) == (0, 5)
    assert n.to_original(5, 7) == (6, 8)
    # Burmese: U+1025 U+102E composes to U+1026 (two starters)
    n = normalize("\u1025\u102e\u1038")
    assert n.text == "\u1026\u1038" and n.to_original(0, 1) == (0, 2)


def test_whitespace_collapsed_and_stripped():
    n = normalize("  good \n\t food  ")
    assert n.text == "good food"
    assert n.to_original(0, 4) == (2, 6)
    assert n.to_original(5, 9) == (10, 14)
    assert n.offsets[-1] == 16


def test_control_characters_and_surrogates():
    assert normalize("a\x00b\x07c\ud800d").text == "abcd"
    # whitespace controls separate words instead of gluing them
    assert normalize("a\rb\x0bc\x1fd\x85e").text == "a b c d e"
    assert normalize("a\u200fb\u202ec").text == "abc"


@pytest.mark.parametrize("blank", ["", "   ", "\n\t ", "\u200b\u200b", "\x00 \ufeff"])
def test_empty_and_blank_input(blank):
    n = normalize(blank)
    assert n.text == "" and n.offsets == (len(blank),) and n.warnings == ()
    assert n.to_original(0, 0) == (len(blank), len(blank))
    assert word_spans(n.text) == []


def test_one_megabyte_input_is_truncated_quickly():
    text = "The food was great, the service slow. " * 27000  # > 1 MB
    t0 = time.perf_counter()
    n = normalize(text, max_chars=20000)
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0
    assert n.truncated and len(n.text) <= 20000 and not n.text.endswith(" ")
    point = n.offsets[-1]
    assert n.warnings == (f"text truncated from {len(text)} to {point} characters",)
    assert n.text == " ".join(text[:point].split())


def test_junk_megabyte_is_not_quadratic():
    t0 = time.perf_counter()
    n = normalize("\u200b \x00" * 100_000)
    assert n.text == "" and not n.truncated and n.offsets == (300_000,)
    assert time.perf_counter() - t0 < 2.0


def test_truncation_does_not_split_a_zawgyi_cluster():
    n = normalize("ေျပာ" * 10, zawgyi="convert", max_chars=6)
    assert n.truncated and n.text == "ပြော"
    assert n.offsets[-1] == 4


def test_normalized_text_validation_and_spans():
    n = normalize("ab  cd")
    with pytest.raises(ValueError):
        n.to_original(2, 1)
    with pytest.raises(ValueError):
        n.to_original(0, 99)
    with pytest.raises(ValueError):
        NormalizedText(original="ab", text="ab", offsets=(0, 1))
    # hand-built objects without `ends` derive extents from offsets
    hand = NormalizedText(original="e\u0301x", text="éx", offsets=(0, 2, 3))
    assert hand.to_original(0, 1) == (0, 2) and hand.to_original(1, 2) == (2, 3)


def test_normalize_is_idempotent_on_examples():
    for text in [ZAWGYI_SENTENCE, UNICODE_SENTENCE, "cafe\u0301  \u200b ok\n", "ဝယ်\u200bမိ  good!"]:
        once = normalize(text).text
        assert normalize(once).text == once


# --- segmentation -------------------------------------------------------------------


def test_syllables():
    text = "ဒီဖုန်းကအရမ်းကောင်းပါတယ်။ တည့် အင်္ဂလိပ် မန္တလေး ၁၂၃ယောက်"
    assert words(text, syllables(text)) == [
        "ဒီ", "ဖုန်း", "က", "အ", "ရမ်း", "ကောင်း", "ပါ", "တယ်", "။",
        "တည့်", "အင်္ဂ", "လိပ်", "မန္တ", "လေး", "၁၂၃", "ယောက်",
    ]


def test_burmese_words():
    text = "ဒီဖုန်းကအရမ်းကောင်းပါတယ်။ မြန်မာနိုင်ငံ"
    assert words(text, burmese_words(text)) == ["ဒီ", "ဖုန်း", "က", "အရမ်း", "ကောင်း", "ပါတယ်", "။", "မြန်မာနိုင်ငံ"]


def test_word_spans_non_myanmar():
    text = "I don't like the food, really... l'eau 8.50$ Wi-Fi 👍🏽 🇺🇸 ❤️ 中文ok"
    assert words(text, word_spans(text)) == [
        "I", "don", "'t", "like", "the", "food", ",", "really", "...", "l'", "eau",
        "8.50", "$", "Wi-Fi", "👍🏽", "🇺🇸", "❤️", "中", "文", "ok",
    ]
    assert words("Плохой сервис!", word_spans("Плохой сервис!")) == ["Плохой", "сервис", "!"]
    assert words("नमस्ते दुनिया", word_spans("नमस्ते दुनिया")) == ["नमस्ते", "दुनिया"]


def test_word_spans_mixed_burmese_english_run_by_run():
    text = "ဒီphoneကကောင်းတယ်! battery ကတော့ဆိုးတယ်"
    assert words(text, word_spans(text)) == [
        "ဒီ", "phone", "က", "ကောင်း", "တယ်", "!", "battery", "ကတော့", "ဆိုး", "တယ်",
    ]
    assert words(text, word_spans(text, lang="my-syl")) == [
        "ဒီ", "phone", "က", "ကောင်း", "တယ်", "!", "battery", "က", "တော့", "ဆိုး", "တယ်",
    ]


def test_word_spans_on_raw_text_skip_invisible_characters():
    text = "ဝယ်\u200bမိ ok\u200b!"
    assert words(text, word_spans(text)) == ["ဝယ်", "မိ", "ok", "!"]


def test_tokenize_for_model_spans_in_original_coordinates():
    original = "  ေျပာ\u200bတယ္  great,food "
    norm, spans, toks = tokenize_for_model(original, zawgyi="convert")
    assert norm.text == "ပြောတယ် great,food"
    assert toks == ["ပြော", "တယ်", "great", ",", "food"]
    assert [original[a:b] for a, b in spans] == ["ေျပာ", "တယ္", "great", ",", "food"]


def test_tokenize_for_model_on_unicode_text():
    original = "The  pasta\u200b was cafe\u0301-good"
    norm, spans, toks = tokenize_for_model(original, lang="en")
    assert toks == ["The", "pasta", "was", "café-good"]
    assert [original[a:b] for a, b in spans] == ["The", "pasta", "was", "cafe\u0301-good"]
    assert norm.warnings == ()


def test_words_of_records_where_the_user_put_spaces():
    from xsent_core.methods.common import word_separators, words_of
    from xsent_core.types import Example

    assert word_separators("Le service,  très bon", [(0, 2), (3, 10), (10, 11), (13, 17), (18, 21)]) == (
        "", " ", "", " ", " ")
    w = words_of(Example(id="a", text="ဒီဆိုင်က ဝန်ဆောင်မှုဆိုးတယ်", lang="my"))
    assert len(w.separators) == len(w.words) > 2
    assert w.separators.count(" ") == 1 and w.separators[0] == ""
    pre = words_of(Example(id="b", text="good food!", tokens=("good", "food", "!"),
                           token_offsets=((0, 4), (5, 9), (9, 10))))
    assert pre.separators == ("", " ", "")
