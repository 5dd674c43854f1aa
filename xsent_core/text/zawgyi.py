"""Zawgyi detection and offset-tracking Zawgyi -> Unicode conversion.

Detection: Google's bigram model (`myanmartools.ZawgyiDetector`), created once,
lazily. Conversion: burmesenlp's 118-rule zg2uni cascade (adapted from the Rabbit
converter; 40 of 41 hand-checked word pairs come out right, the miss being the
inherently ambiguous digit-zero-for-wa "၀ယ္" with no context). We run the same
rules on the same string, so the output equals `burmesenlp.zg2uni`, but we also
carry source regions through every rule (see `_offsets.apply_edits`).

Offset granularity: after the cascade each converted character's region is
widened to whole source *Zawgyi clusters* (pre-base ေ / medial-ra glyphs, a base
letter, its marks, and a following final consonant with asat ္). So a span in
converted text maps back to complete Zawgyi syllables, never to half of one,
whatever the rules did inside the syllable. Non-Myanmar characters keep
character granularity.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Pattern

from xsent_core.text._offsets import apply_edits, identity_regions

# "auto" converts when the detector is at least this sure (a false positive
# mangles genuine Unicode text, so the bar is high).
ZAWGYI_THRESHOLD = 0.95

_MYANMAR_CHAR = re.compile("[\u1000-\u109f\ua9e0-\ua9ff\uaa60-\uaa7f]")

# Zawgyi glyph classes (visual order: ေ and medial-ra glyphs come before the base).
_ZG_PRE_BASE = frozenset("\u1031\u103b\u107e\u107f\u1080\u1081\u1082\u1083\u1084")
_ZG_BASE = frozenset(
    [chr(c) for c in range(0x1000, 0x102B)]  # consonants, independent vowels
    + [chr(c) for c in range(0x1040, 0x1050)]  # digits (၀/၇ double as wa/ra), punctuation, symbols
    + list("\u106a\u106b\u106e\u106f\u1086\u108f\u1090\u1091\u1092\u1097")  # Zawgyi-only bases
)
_ZG_ASAT = "\u1039"  # Zawgyi stores asat at the virama code point
_ZG_DOT_BELOW = frozenset("\u1037\u1094\u1095")
_MY_PUNCT = frozenset("\u104a\u104b")


def has_myanmar(text: str) -> bool:
    """True when `text` has a character from the Myanmar block or its extensions."""
    return _MYANMAR_CHAR.search(text) is not None


@lru_cache(maxsize=1)
def _detector() -> Any:
    from myanmartools import ZawgyiDetector

    return ZawgyiDetector()


def zawgyi_probability(text: str) -> float:
    """Probability in [0, 1] that `text` is Zawgyi-encoded; 0.0 without Myanmar characters."""
    if not has_myanmar(text):
        return 0.0
    p = float(_detector().get_zawgyi_probability(text))
    return p if p > 0.0 else 0.0  # the detector says -inf when it has no opinion


def looks_like_zawgyi(text: str) -> bool:
    """True when the detector puts `text` at or above ZAWGYI_THRESHOLD and converting it
    would change it.

    A short word can be spelled with the same code points in both encodings (ငါး,
    "fish"): the bigram detector may still lean to Zawgyi, but there is nothing to
    convert, so calling it Zawgyi would only be a false alarm.
    """
    return zawgyi_probability(text) >= ZAWGYI_THRESHOLD and zawgyi_to_unicode(text) != text


@lru_cache(maxsize=1)
def _zg2uni_rules() -> tuple[tuple[Pattern[str], str], ...]:
    # burmesenlp's own rule file, read through its package data (no private API);
    # tests check our cascade still equals burmesenlp.zg2uni.
    from importlib.resources import files

    raw = files("burmesenlp.zawgyi").joinpath("zg2uni_rules.json").read_text(encoding="utf-8")
    return tuple((re.compile(r["from"]), r["to"]) for r in json.loads(raw))


def zawgyi_clusters(text: str) -> list[tuple[int, int]]:
    """Split `text` (Zawgyi) into clusters that tile it: Myanmar syllable clusters, other chars singly."""
    n = len(text)
    bounds: list[int] = []
    for i, c in enumerate(text):
        if i == 0 or not ("\u1000" <= c <= "\u109f"):
            bounds.append(i)
            continue
        prev = text[i - 1]
        if not ("\u1000" <= prev <= "\u109f") or prev in _MY_PUNCT or c in _MY_PUNCT:
            bounds.append(i)
        elif c in _ZG_PRE_BASE:
            if prev not in _ZG_PRE_BASE:
                bounds.append(i)
        elif c in _ZG_BASE and prev not in _ZG_PRE_BASE:
            nxt = text[i + 1 : i + 3]
            final = nxt[:1] == _ZG_ASAT or (nxt[:1] in _ZG_DOT_BELOW and nxt[1:2] == _ZG_ASAT)
            if not final:  # a final consonant (with asat) belongs to the syllable before it
                bounds.append(i)
    bounds.append(n)
    return [(bounds[k], bounds[k + 1]) for k in range(len(bounds) - 1)]


def convert_with_offsets(
    text: str, starts: list[int], ends: list[int]
) -> tuple[str, list[int], list[int]]:
    """Zawgyi -> Unicode for `text`, carrying its source regions (see module docstring)."""
    buf = text
    origin_starts, origin_ends = identity_regions(len(text))
    for pattern, template in _zg2uni_rules():
        edits = []
        for m in pattern.finditer(buf):
            a, b = m.span()
            rep = m.expand(template)
            if a < b and rep != m.group():
                edits.append((a, b, rep))
        if edits:
            buf, origin_starts, origin_ends = apply_edits(buf, origin_starts, origin_ends, edits)
    cluster_start = [0] * len(text)
    cluster_end = [0] * len(text)
    for a, b in zawgyi_clusters(text):
        cluster_start[a:b] = [a] * (b - a)
        cluster_end[a:b] = [b] * (b - a)
    new_starts = [starts[cluster_start[i]] for i in origin_starts]
    new_ends = [ends[cluster_end[j - 1] - 1] for j in origin_ends]
    return buf, new_starts, new_ends


def zawgyi_to_unicode(text: str) -> str:
    """Plain conversion (same rules as normalize uses), without detection or offsets."""
    out, _, _ = convert_with_offsets(text, *identity_regions(len(text)))
    return out
