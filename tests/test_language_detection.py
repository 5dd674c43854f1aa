"""The language identifier behind rows without a language code (py3langid, restricted)."""
from __future__ import annotations

import pytest

from xsent_core.text.language import LanguageDetector


@pytest.fixture(scope="module")
def detector():
    return LanguageDetector(["en", "fr", "es", "gl", "pt", "nl", "ru", "my"])


@pytest.mark.parametrize("text, lang", [
    ("The fish was fresh but the service was painfully slow.", "en"),
    ("Le poisson était frais mais le service était lent.", "fr"),
    ("De vis was vers maar de bediening was traag.", "nl"),
    ("Рыба была свежей, но обслуживание было медленным.", "ru"),
    ("ဒီဆိုင်က အစားအသောက် အရမ်းကောင်းတယ်", "my"),
])
def test_clear_sentences_are_identified(detector, text, lang):
    guess = detector.guess(text)
    assert guess.lang == lang and guess.confidence >= 0.9


def test_unclear_texts_get_no_guess(detector):
    for text in ("ok", "", "   ", "12345 !!!"):
        assert detector.guess(text).lang is None


def test_a_group_decides_when_languages_inside_it_are_close(detector):
    text = "El pescado estaba fresco pero el servicio era lento."
    alone = detector.guess(text)
    assert alone.lang is None and 0.5 < alone.confidence < 0.9  # Spanish or Galician: not sure
    romance = {"es": "romance", "gl": "romance", "pt": "romance", "fr": "romance"}
    grouped = detector.guess(text, group=lambda lang: romance.get(lang, lang))
    assert grouped.lang == "es" and grouped.confidence >= 0.9


def test_languages_the_model_lacks_are_dropped_and_one_language_says_nothing():
    assert LanguageDetector(["en", "xx-none"]).languages == ("en",)
    assert LanguageDetector(["en"]).guess("The fish was fresh.").lang is None
