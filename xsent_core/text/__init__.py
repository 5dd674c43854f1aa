"""Text normalisation, Zawgyi handling and word segmentation, with offset maps.

Every span xsent reports is in code points of the text the user typed: `normalize`
returns a `NormalizedText` whose `to_original` maps spans of the normalised text
back, and `tokenize_for_model` does normalise + segment + map in one call.

- `normalize.py`: the steps and their order (cleaning, Zawgyi, NFC, whitespace,
  truncation) and the choice to drop ZWNJ/ZWJ.
- `zawgyi.py`: detection (myanmartools) and conversion (burmesenlp's rules) with
  Zawgyi-cluster offset granularity.
- `segment.py`: syllables, Burmese words (burmesenlp) and word spans for any script.

Nothing loads at import time: the detector, the conversion rules and the word
lexicon are created on first use, once (functools.lru_cache).
"""
from xsent_core.text.normalize import DEFAULT_MAX_CHARS, ZAWGYI_MODES, NormalizedText, normalize
from xsent_core.text.segment import (
    SYLLABLE_LANGS,
    burmese_words,
    syllables,
    tokenize_for_model,
    word_spans,
)
from xsent_core.text.zawgyi import (
    ZAWGYI_THRESHOLD,
    has_myanmar,
    looks_like_zawgyi,
    zawgyi_probability,
    zawgyi_to_unicode,
)

__all__ = [
    "DEFAULT_MAX_CHARS",
    "SYLLABLE_LANGS",
    "ZAWGYI_MODES",
    "ZAWGYI_THRESHOLD",
    "NormalizedText",
    "burmese_words",
    "has_myanmar",
    "looks_like_zawgyi",
    "normalize",
    "syllables",
    "tokenize_for_model",
    "word_spans",
    "zawgyi_probability",
    "zawgyi_to_unicode",
]
