"""Which language a text is in, for rows that carry no language code.

py3langid (BSD-3, a maintained fork of langid.py; its model ships in the wheel and
loads without pickle) restricted to the languages the caller can use. A guess below
`min_confidence` (normalised probability) is no guess: short or mixed texts ("ok",
"good") come back as None rather than as a confident mistake. A caller that only
needs a coarser answer (a language family) passes `group`: the confidence is then
that of the group (Spanish vs Galician is 0.87 / 0.10, but Romance either way).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

DEFAULT_MIN_CONFIDENCE = 0.9


@dataclass(frozen=True)
class LanguageGuess:
    lang: str | None  # None: not confident enough to say
    confidence: float


class LanguageDetector:
    """Loads py3langid's model (about a second) once per detector."""

    def __init__(self, languages: Sequence[str], min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        self.languages = tuple(sorted(set(languages) & set(self._identifier.labels)))
        self.min_confidence = min_confidence
        if self.languages:
            self._identifier.set_languages(self.languages)

    def guess(self, text: str, group: Callable[[str], str | None] | None = None) -> LanguageGuess:
        """The most likely language; with `group`, the most likely language of the most likely group."""
        if len(self.languages) < 2 or not text.strip():  # a one-language choice says nothing about the text
            return LanguageGuess(None, 0.0)
        ranked = self._identifier.rank(text)  # [(lang, probability)], best first
        key = group or (lambda lang: lang)
        totals: dict[str | None, float] = {}
        for lang, p in ranked:
            totals[key(lang)] = totals.get(key(lang), 0.0) + float(p)
        best, confidence = max(totals.items(), key=lambda kv: kv[1])
        if best is None or confidence < self.min_confidence:
            return LanguageGuess(None, confidence)
        return LanguageGuess(next(lang for lang, _ in ranked if key(lang) == best), confidence)
