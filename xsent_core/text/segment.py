"""Word and syllable spans, for tagging and static vectors.

All functions return sorted, disjoint, non-empty (start, end) spans into the string
they are given (normally `NormalizedText.text`) that together cover every character
except whitespace and the invisible characters `normalize` deletes.

Text is handled run by run, so mixed Burmese-English text works without spaces:
- Myanmar runs: syllables by rule (below) or words by burmesenlp's dictionary
  longest-match segmenter fed with our syllables (so its offsets are ours).
- CJK ideographs and kana: one token per character.
- Other scripts: split on whitespace, then letters/digits/marks form words and each
  punctuation or symbol character is its own token ("food," -> "food", ","), with
  SemEval-like conventions: "..." stays one token, hyphens join words ("Wi-Fi"),
  ".,:/" join digits ("8.50"), English clitics split off ("don't" -> "don", "'t")
  and other apostrophes stay on the left ("l'eau" -> "l'", "eau"). Emoji keep
  their skin-tone modifiers and variation selectors; flags stay whole. (Thai, Lao,
  Khmer runs without spaces stay one token: no segmenter for them here.)
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any, Callable

from xsent_core.text.normalize import DEFAULT_MAX_CHARS, REMOVED_CHAR, NormalizedText, normalize

Span = tuple[int, int]

# `lang` values that ask word_spans for Myanmar syllables instead of words.
SYLLABLE_LANGS = frozenset({"my-syl", "my_syl", "my-syllable", "syllable", "syllables"})

_CHUNK = re.compile(rf"(?:(?!{REMOVED_CHAR.pattern})\S)+")  # separators: whitespace and what normalize deletes
_MY_RUN = re.compile("[\u1000-\u109f\ua9e0-\ua9ff\uaa60-\uaa7f]+")

_MY_CONSONANT = (
    "\u1000-\u1021\u103f\u1050-\u1055\u105a-\u105d\u1061\u1065\u1066\u106e-\u1070"
    "\u1075-\u1081\u108e\ua9e0-\ua9e4\ua9e7-\ua9ef\ua9fa-\ua9fe\uaa60-\uaa6f\uaa71-\uaa76"
)
_MY_DIGIT = "\u1040-\u1049\u1090-\u1099\ua9f0-\ua9f9"
# A syllable starts at: a consonant that is not stacked (after virama) and not a
# final (before asat/virama, possibly with dot below between, as NFC orders it);
# an independent vowel or symbol; the first digit of a number; Myanmar punctuation
# and whatever follows it. Follows the sylbreak convention otherwise (kinzi and
# stacked consonants stay with the syllable before).
_SYL_BREAK = re.compile(
    f"(?<!\u1039)[{_MY_CONSONANT}](?!\u1037?[\u103a\u1039])"
    "|[\u1023-\u102a\u104c-\u104f]"
    f"|(?<![{_MY_DIGIT}])[{_MY_DIGIT}]"
    "|[\u104a\u104b]"
    "|(?<=[\u104a\u104b])."
)
_MY_DIGITS = re.compile(f"[{_MY_DIGIT}]+")
_MY_PUNCT = re.compile("[\u104a\u104b]+")

_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
_WORD, _ATTACH, _SYMBOL, _IDEOGRAPH = 0, 1, 2, 3
_HYPHENS = frozenset("-\u2010\u2011")
_DIGIT_JOINERS = frozenset(".,:/")
_APOSTROPHES = frozenset("'\u2019")
_CLITICS = frozenset({"s", "t", "re", "ve", "m", "ll", "d"})


def _kind(c: str) -> int:
    cat = unicodedata.category(c)
    if cat[0] in "LN" or cat in ("Pc", "Co", "Cn"):
        return _IDEOGRAPH if _CJK.match(c) else _WORD
    if cat[0] == "M" or cat == "Cf" or "\U0001f3fb" <= c <= "\U0001f3ff":  # + emoji skin tones
        return _ATTACH
    return _SYMBOL


def _word_end(text: str, j: int, b: int) -> int:
    while j < b and _kind(text[j]) in (_WORD, _ATTACH):
        j += 1
    return j


def _other_tokens(text: str, a: int, b: int, out: list[Span]) -> None:
    """Tokens of text[a:b], which has no whitespace and no Myanmar characters."""
    i = a
    while i < b:
        c = text[i]
        k = _kind(c)
        j = i + 1
        if k in (_WORD, _ATTACH):
            while j < b:
                cj = text[j]
                kj = _kind(cj)
                if kj in (_WORD, _ATTACH):
                    j += 1
                    continue
                if j + 1 < b and _kind(text[j + 1]) == _WORD:
                    if cj in _HYPHENS or (cj in _DIGIT_JOINERS and text[j - 1].isdigit() and text[j + 1].isdigit()):
                        j += 1
                        continue
                    if cj in _APOSTROPHES:
                        clitic = text[j + 1 : _word_end(text, j + 1, b)].lower() in _CLITICS
                        if not clitic:
                            j += 1  # "l'" keeps its apostrophe; "don" leaves "'t" to the next token
                break
        else:
            if c == ".":
                while j < b and text[j] == ".":
                    j += 1
            elif c in _APOSTROPHES and i > a and j < b and _kind(text[i - 1]) == _WORD:
                end = _word_end(text, j, b)
                if text[j:end].lower() in _CLITICS:
                    j = end
            elif "\U0001f1e6" <= c <= "\U0001f1ff" and j < b and "\U0001f1e6" <= text[j] <= "\U0001f1ff":
                j += 1  # regional-indicator pair = one flag
            while j < b and _kind(text[j]) == _ATTACH:
                j += 1
        out.append((i, j))
        i = j


def _syllable_run(text: str, a: int, b: int, out: list[Span]) -> None:
    starts = sorted({a} | {m.start() for m in _SYL_BREAK.finditer(text, a, b)})
    out.extend(zip(starts, starts[1:] + [b]))


@lru_cache(maxsize=1)
def _word_segmenter() -> tuple[Any, Any] | None:
    try:
        from burmesenlp.lexicon import Lexicon
        from burmesenlp.tokenize.longest import WordSegmenter
        from burmesenlp.tokenize.syllable import Token
    except ImportError:
        return None
    return WordSegmenter(Lexicon.default()), Token


def _word_run(text: str, a: int, b: int, out: list[Span]) -> None:
    syl: list[Span] = []
    _syllable_run(text, a, b, syl)
    backend = _word_segmenter()
    if backend is None:
        out.extend(syl)
        return
    segmenter, token = backend
    tokens = []
    for s, e in syl:
        piece = text[s:e]
        kind = "digits" if _MY_DIGITS.fullmatch(piece) else "punct" if _MY_PUNCT.fullmatch(piece) else "syllable"
        tokens.append(token(piece, s, e, kind))
    words = [(w.start, w.end) for w in segmenter.segment(tokens)]
    # The segmenter only merges whole syllables; anything else means a changed
    # backend, and syllables are a safe answer.
    tiles = bool(words) and words[0][0] == a and words[-1][1] == b
    tiles = tiles and all(words[k][1] == words[k + 1][0] for k in range(len(words) - 1))
    out.extend(words if tiles and all(s < e for s, e in words) else syl)


def _spans(text: str, myanmar: Callable[[str, int, int, list[Span]], None]) -> list[Span]:
    out: list[Span] = []
    for chunk in _CHUNK.finditer(text):
        a, b = chunk.span()
        pos = a
        for run in _MY_RUN.finditer(text, a, b):
            if run.start() > pos:
                _other_tokens(text, pos, run.start(), out)
            myanmar(text, run.start(), run.end(), out)
            pos = run.end()
        if pos < b:
            _other_tokens(text, pos, b, out)
    return out


def syllables(text: str) -> list[Span]:
    """Burmese syllable spans (rule-based); non-Myanmar parts tokenised as in word_spans."""
    return _spans(text, _syllable_run)


def burmese_words(text: str) -> list[Span]:
    """Burmese word spans from burmesenlp's segmenter (syllables if it is unavailable)."""
    return _spans(text, _word_run)


def word_spans(text: str, lang: str | None = None) -> list[Span]:
    """Word spans for tagging/static vectors; `lang` in SYLLABLE_LANGS gives Myanmar syllables."""
    syllable_hint = lang is not None and lang.lower() in SYLLABLE_LANGS
    return _spans(text, _syllable_run if syllable_hint else _word_run)


def tokenize_for_model(
    text: str,
    lang: str | None = None,
    zawgyi: str = "auto",
    max_chars: int = DEFAULT_MAX_CHARS,
) -> tuple[NormalizedText, list[Span], list[str]]:
    """normalize + word_spans: (normalised text, word spans in ORIGINAL coordinates, words).

    Words are taken from the normalised text (what models see); spans point into
    what the user typed. Spans of words converted from Zawgyi can overlap when two
    words share one Zawgyi cluster.
    """
    norm = normalize(text, zawgyi=zawgyi, max_chars=max_chars)
    spans = word_spans(norm.text, lang)
    return norm, norm.to_original_spans(spans), [norm.text[s:e] for s, e in spans]
