"""`normalize`: clean, de-Zawgyi, NFC, collapse whitespace, truncate -- keeping offsets.

Steps, in order (each carries every character's source region):
1. remove lone surrogates, control characters other than whitespace, and invisible
   format characters: zero-width space/non-joiner/joiner (U+200B-U+200D), word joiner
   and invisible operators (U+2060-U+2064), BOM (U+FEFF), bidi marks/embeddings/
   isolates (U+200E, U+200F, U+202A-U+202E, U+2066-U+206F) and the soft hyphen.
   ZWNJ/ZWJ are dropped too: in Burmese data they are typing noise that splits
   syllables, while the cost elsewhere is small for sentiment (Persian/Indic words
   fall back to their common joined spelling, emoji ZWJ sequences to their parts).
   Control characters that are whitespace (\\r, \\v, \\f, U+001C-U+001F, U+0085) are
   kept for step 4, so they separate words instead of gluing them;
2. Zawgyi -> Unicode (see `zawgyi.py`), decided on the text as steps 3-4 would
   leave it without conversion, so a second pass over unconverted output decides
   the same way (normalize(n.text).text == n.text; for converted output this holds
   on real text, not on every string, as no detector is perfect);
3. Unicode NFC, mapped per starter + combining-mark segment (a segment NFC changes
   maps to all its source characters, e.g. "e\\u0301" -> "é" covers both);
4. whitespace runs -> one space, ends stripped;
5. truncation to `max_chars`, on a cluster boundary.
Long inputs are processed by prefix (doubling until enough text survives), so a
1 MB paste costs about as much as `max_chars` of text.
"""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from itertools import compress

from xsent_core.text import zawgyi as zg
from xsent_core.text._offsets import apply_edits, identity_regions

ZAWGYI_MODES: tuple[str, ...] = ("auto", "convert", "keep")
DEFAULT_MAX_CHARS = 20000
# Characters dropped past the truncation point before cutting, so that a prefix cut
# (inside a cluster, a combining sequence or a Zawgyi rule's context) never shows.
_TAIL_MARGIN = 64
# How far back truncation looks for a character boundary not shared by one cluster.
_CUT_LOOKBACK = 32

_REMOVED_SET = (
    "\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\xad"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ud800-\udfff"
)
# One character normalize() deletes (public so segmenters and tests agree on it).
REMOVED_CHAR = re.compile(f"[{_REMOVED_SET}]")
_REMOVED = re.compile(f"[{_REMOVED_SET}]+")
_WHITESPACE = re.compile(r"\s+")
_SURVIVOR = re.compile(rf"[^\s{_REMOVED_SET}]")  # a character that outlives steps 1 and 4


@dataclass(frozen=True)
class NormalizedText:
    """Normalised text plus the map back to what the user typed.

    offsets[i] is the index in `original` of the first source character of text[i];
    offsets[len(text)] is len(original), or the truncation point. ends[i] is the
    end (exclusive) of text[i]'s source region; empty means "derive from offsets".
    Both are non-decreasing. Regions of characters converted from Zawgyi are whole
    Zawgyi clusters, so neighbours can share one.
    """

    original: str
    text: str
    offsets: tuple[int, ...]
    zawgyi_probability: float = 0.0
    converted_from_zawgyi: bool = False
    truncated: bool = False
    warnings: tuple[str, ...] = ()
    ends: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(self.offsets) != len(self.text) + 1:
            raise ValueError(f"offsets has {len(self.offsets)} entries for {len(self.text)} characters")
        if self.ends and len(self.ends) != len(self.text):
            raise ValueError(f"ends has {len(self.ends)} entries for {len(self.text)} characters")

    def _end(self, i: int) -> int:
        if self.ends:
            return self.ends[i]
        j = bisect_right(self.offsets, self.offsets[i], i + 1)
        end = self.offsets[min(j, len(self.text))]
        return min(max(end, self.offsets[i] + 1), len(self.original))

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Half-open span of `text` -> smallest half-open span of `original` covering its sources."""
        n = len(self.text)
        if not 0 <= start <= end <= n:
            raise ValueError(f"span [{start}, {end}) is outside the normalised text (length {n})")
        if start == end:
            return self.offsets[start], self.offsets[start]
        return self.offsets[start], self._end(end - 1)

    def to_original_spans(self, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        return [self.to_original(s, e) for s, e in spans]


_Mapped = tuple[str, list[int], list[int]]


def _clean(text: str, starts: list[int], ends: list[int]) -> _Mapped:
    if _REMOVED.search(text) is None:
        return text, starts, ends
    # Pure deletions: a keep-mask and C-level compress stay fast on junk-heavy pastes.
    keep = bytearray(b"\x01") * len(text)
    for m in _REMOVED.finditer(text):
        keep[m.start() : m.end()] = bytes(m.end() - m.start())
    return _REMOVED.sub("", text), list(compress(starts, keep)), list(compress(ends, keep))


def _nfc_edits(text: str, segments: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    edits = []
    for a, b in segments:
        piece = text[a:b]
        normal = unicodedata.normalize("NFC", piece)
        if normal != piece:
            edits.append((a, b, normal))
    return edits


def _assemble(text: str, edits: list[tuple[int, int, str]]) -> str:
    parts, last = [], 0
    for a, b, rep in edits:
        parts += [text[last:a], rep]
        last = b
    parts.append(text[last:])
    return "".join(parts)


def _nfc(text: str, starts: list[int], ends: list[int]) -> _Mapped:
    if unicodedata.is_normalized("NFC", text):
        return text, starts, ends
    target = unicodedata.normalize("NFC", text)
    # Segments start at every combining-class-0 character ...
    bounds = [i for i, c in enumerate(text) if i == 0 or unicodedata.combining(c) == 0]
    segments = list(zip(bounds, bounds[1:] + [len(text)]))
    edits = _nfc_edits(text, segments)
    if _assemble(text, edits) != target:
        # ... except before the few starters that compose backwards (U+102E after
        # U+1025, Hangul jamo, U+0F73...): merge neighbours until NFC agrees.
        merged: list[tuple[int, int]] = []
        cur_a, cur_b = segments[0]
        for a, b in segments[1:]:
            joined = unicodedata.normalize("NFC", text[cur_a:b])
            split = unicodedata.normalize("NFC", text[cur_a:cur_b]) + unicodedata.normalize("NFC", text[a:b])
            if joined == split:
                merged.append((cur_a, cur_b))
                cur_a, cur_b = a, b
            else:
                cur_b = b
        merged.append((cur_a, cur_b))
        edits = _nfc_edits(text, merged)
        if _assemble(text, edits) != target:
            # Whitespace never takes part in composition, so this always agrees.
            chunks = [m.span() for m in re.finditer(r"\S+", text)]
            edits = _nfc_edits(text, chunks)
    return apply_edits(text, starts, ends, edits)


def _collapse(text: str, starts: list[int], ends: list[int]) -> _Mapped:
    n = len(text)
    edits = []
    for m in _WHITESPACE.finditer(text):
        a, b = m.span()
        if a == 0 or b == n:
            edits.append((a, b, ""))
        elif m.group() != " ":
            edits.append((a, b, " "))
    return apply_edits(text, starts, ends, edits) if edits else (text, starts, ends)


def _normalize_all(text: str, mode: str) -> tuple[_Mapped, float, bool, list[str]]:
    cleaned = _clean(text, *identity_regions(len(text)))
    result = _collapse(*_nfc(*cleaned))
    warnings: list[str] = []
    probability = zg.zawgyi_probability(result[0])
    convert = zg.has_myanmar(result[0]) and (
        mode == "convert" or (mode == "auto" and probability >= zg.ZAWGYI_THRESHOLD)
    )
    if convert:
        converted = _collapse(*_nfc(*zg.convert_with_offsets(*cleaned)))
        # same code points in both encodings (ငါး): nothing was converted, nothing to report
        convert = converted[0] != result[0]
        result = converted
        if convert:
            warnings.append(f"converted from Zawgyi to Unicode (Zawgyi probability {probability:.2f})")
    elif mode == "keep" and probability >= zg.ZAWGYI_THRESHOLD:
        warnings.append(f"text looks like Zawgyi (probability {probability:.2f}) but was kept as is")
    return result, probability, convert, warnings


def _prefix_needed(text: str, wanted: int) -> int:
    """Length of the shortest prefix with `wanted` characters that survive cleaning and
    whitespace collapsing (plus slack for NFC/Zawgyi shrinkage); len(text) if none."""
    for k, m in enumerate(_SURVIVOR.finditer(text)):
        if k == wanted:
            return m.start() + wanted // 4 + 256
    return len(text)


def normalize(text: str, *, zawgyi: str = "auto", max_chars: int = DEFAULT_MAX_CHARS) -> NormalizedText:
    """Normalise `text` for models; see the module docstring for the steps.

    zawgyi: "auto" converts when the detector is >= 0.95 sure, "convert" always
    converts Myanmar text, "keep" never does. Empty or blank input gives text "".
    """
    if not isinstance(text, str):
        raise TypeError(f"normalize expects str, got {type(text).__name__}")
    if zawgyi not in ZAWGYI_MODES:
        raise ValueError(f"zawgyi must be one of {ZAWGYI_MODES}, got {zawgyi!r}")
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    n = len(text)
    limit = _prefix_needed(text, max_chars + _TAIL_MARGIN)
    while True:
        limit = min(limit, n)
        (out, starts, ends), probability, converted, warnings = _normalize_all(text[:limit], zawgyi)
        if limit == n or len(out) > max_chars + _TAIL_MARGIN:
            break
        limit *= 2
    end_point = n
    truncated = len(out) > max_chars
    if truncated:
        k = max_chars
        # Prefer not to cut between two characters that share a source cluster.
        while k > max_chars - _CUT_LOOKBACK and k > 1 and starts[k] < ends[k - 1]:
            k -= 1
        if starts[k] < ends[k - 1]:
            k = max_chars
        if out[k - 1] == " ":
            k -= 1
        out, starts, ends = out[:k], starts[:k], ends[:k]
        end_point = ends[-1] if ends else 0
        warnings.append(f"text truncated from {n} to {end_point} characters")
    return NormalizedText(
        original=text,
        text=out,
        offsets=tuple(starts) + (end_point,),
        zawgyi_probability=probability,
        converted_from_zawgyi=converted,
        truncated=truncated,
        warnings=tuple(warnings),
        ends=tuple(ends),
    )
