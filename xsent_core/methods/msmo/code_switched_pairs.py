"""MSMO's training views and the aspect alignment between a sentence and its
code-switched counterpart.

Files (SemEval-2016 restaurants as prepared by Zhang et al. 2021):
- source  = gold-en-train           (English, source domain)
- cs_src  = cs_X-en-train           (English sentence with X aspect terms; source domain)
- smt     = smt-X-train             (English train machine-translated into X; target domain)
- cs_tgt  = cs_en-X-train           (X sentence with English aspect terms; target domain)
cs_src pairs with source and cs_tgt with smt. The files are not index-aligned
(cs_X-en skips sentences and ends with extra ones; smt-fr has one more
sentence than cs_en-fr), so a pair is made only when the two sentences are
identical outside their aspect terms and have the same number, order and
polarities of aspects (`alignment_key`). Everything else is dropped from the
consistency loss and counted.

The paper's cross-lingual pair, an English sentence and its translation, is
found through the code-switched files (smt-X is shuffled against gold-en):
cs_X-en carries the X terms of a source sentence and cs_en-X the English terms
of a translated one, so a source sentence and a translation whose English
terms, X terms and polarities all agree are one sentence in two languages
(`translation_pairs`); keys held by several sentences are left out.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ...data.span_cleanup import strip_all
from ...types import Example

# view -> (partner view, domain); domain 0 = source language, 1 = target language
PAIRING: Mapping[str, tuple[str, int]] = {"source": ("cs_src", 0), "smt": ("cs_tgt", 1)}
# views whose X aspect terms come from label projection (articles included)
PROJECTED = frozenset({"smt", "cs_src"})
FILES: Mapping[str, str] = {
    "source": "gold-en-train.txt",
    "cs_src": "cs_{lang}-en-train.txt",
    "smt": "smt-{lang}-train.txt",
    "cs_tgt": "cs_en-{lang}-train.txt",
}


@dataclass(frozen=True)
class ViewPair:
    """Two sentences of one domain whose aspect spans correspond one to one.

    `b` is None for a sentence with no usable partner (it still trains the
    tagger and the critic). `word_pairs` are (start_a, end_a, start_b, end_b)
    word spans.
    """

    a: Example
    b: Example | None
    domain: int
    lang: str
    word_pairs: tuple[tuple[int, int, int, int], ...] = ()
    domain_b: int | None = None  # the partner's domain when it differs (translation pairs)


def _token_spans(ex: Example) -> list[tuple[int, int, str]]:
    offsets = ex.token_offsets or ()
    out = []
    for span in ex.spans or ():
        inside = [i for i, (s, e) in enumerate(offsets) if s >= span.start and e <= span.end]
        if inside:
            out.append((inside[0], inside[-1] + 1, span.polarity))
    return out


def span_pairs(a: Example, b: Example | None) -> tuple[tuple[int, int, int, int], ...]:
    """Word spans of a and b paired in order (the files give aspects in sentence order)."""
    if b is None:
        return ()
    return tuple((sa, ea, sb, eb) for (sa, ea, _), (sb, eb, _) in zip(_token_spans(a), _token_spans(b)))


def alignment_key(ex: Example) -> tuple[str, ...]:
    """The tokens with each aspect term replaced by one placeholder naming its polarity."""
    tokens = list(ex.tokens or ())
    out: list[str] = []
    pos = 0
    for start, end, polarity in _token_spans(ex):
        out.extend(tokens[pos:start])
        out.append(f"\x00ASPECT:{polarity}")
        pos = end
    out.extend(tokens[pos:])
    return tuple(out)


def align(
    first: Sequence[Example], second: Sequence[Example]
) -> tuple[list[tuple[int, int | None, tuple[tuple[int, int, int, int], ...]]], dict[str, int]]:
    """Pair each sentence of `first` with its counterpart in `second`.

    Among sentences of `second` with the same `alignment_key`, the unused one
    nearest in position wins (files are in nearly the same order). Returns
    [(index_first, index_second or None, word span pairs)] and counts.
    """
    by_key: dict[tuple[str, ...], list[int]] = {}
    for j, ex in enumerate(second):
        by_key.setdefault(alignment_key(ex), []).append(j)
    used: set[int] = set()
    out = []
    paired = aspect_pairs = 0
    for i, ex in enumerate(first):
        candidates = [j for j in by_key.get(alignment_key(ex), ()) if j not in used]
        if not candidates:
            out.append((i, None, ()))
            continue
        j = min(candidates, key=lambda c: abs(c - i))
        used.add(j)
        pairs = span_pairs(ex, second[j])
        out.append((i, j, pairs))
        paired += 1
        aspect_pairs += len(pairs)
    counts = {
        "sentences": len(first),
        "partner_sentences": len(second),
        "paired": paired,
        "unpaired": len(first) - paired,
        "aspect_pairs": aspect_pairs,
        "aspects_unpaired": sum(len(_token_spans(ex)) for ex in first) - aspect_pairs,
    }
    return out, counts


def _terms(ex: Example) -> tuple[str, ...]:
    return tuple(ex.text[s.start : s.end].lower() for s in ex.spans or ())


def translation_pairs(
    source: Sequence[Example], cs_src: Sequence[Example], smt: Sequence[Example], cs_tgt: Sequence[Example]
) -> tuple[list[tuple[int, int, tuple[tuple[int, int, int, int], ...]]], dict[str, int]]:
    """(index in source, index in smt, aligned word spans) for sentences with aspects.

    Only keys (English terms, X terms, polarities) held by exactly one sentence
    on each side are paired: a shared key ("food"/"nourriture", positive) would
    pair different sentences, and a wrong pair teaches the wrong polarity.
    """
    def keyed(rows: Sequence[Example], partners: Sequence[Example], english_first: bool) -> dict[Any, list[int]]:
        out: dict[Any, list[int]] = {}
        for i, i2, _ in align(rows, partners)[0]:
            if i2 is None or not rows[i].spans:
                continue
            terms = (_terms(rows[i]), _terms(partners[i2]))
            pols = tuple(s.polarity for s in rows[i].spans or ())
            out.setdefault((terms if english_first else terms[::-1], pols), []).append(i)
        return out

    by_source = keyed(source, cs_src, english_first=True)
    by_smt = keyed(smt, cs_tgt, english_first=False)
    out = []
    shared = 0
    for key, js in by_smt.items():
        is_ = by_source.get(key, [])
        if not is_:
            continue
        if len(is_) > 1 or len(js) > 1:
            shared += 1
            continue
        i, j = is_[0], js[0]
        out.append((i, j, span_pairs(source[i], smt[j])))
    out.sort()
    counts = {
        "translated_sentences_with_aspects": sum(1 for ex in smt if ex.spans),
        "paired": len(out),
        "keys_left_ambiguous": shared,
        "aspect_pairs": sum(len(p) for _, _, p in out),
    }
    return out, counts


def build_pairs(
    views: Mapping[str, Sequence[Example]],
    lang: str,
    *,
    max_pairs: int | None = None,
    seed: int = 0,
    translations: bool = False,
    clean_projected: bool = False,
) -> tuple[list[ViewPair], dict[str, dict[str, int]]]:
    """ViewPairs for one target language from whichever views are given.

    A primary view (source, smt) given with its code-switched partner is aligned;
    a view given alone becomes unpaired items. With all four views and
    `translations`, each English sentence is also paired with its translation
    (domain 0 with domain 1: the paper's cross-lingual consistency pair).
    `max_pairs` keeps a random subset (seeded by seed, language and view) of
    each kind of item. `clean_projected` strips leading articles off the
    projected X terms (views smt and cs_src, `data.span_cleanup`) after the
    files are aligned on their raw spans.
    """
    raw = views
    if clean_projected:
        views = {v: strip_all(rows, lang) if v in PROJECTED and rows is not None else rows for v, rows in raw.items()}
    items: list[ViewPair] = []
    report: dict[str, dict[str, int]] = {}
    for primary, (partner, domain) in PAIRING.items():
        # seeded per language and view: languages sub-sample different source sentences
        rng = random.Random(f"{seed}:{lang}:{primary}")
        a_rows, b_rows = views.get(primary), views.get(partner)
        chunk: list[ViewPair] = []
        if a_rows is not None and b_rows is not None:
            aligned, counts = align(raw[primary], raw[partner])
            report[f"{primary}~{partner}"] = counts
            used_b = set()
            for i, j, _ in aligned:
                b = b_rows[j] if j is not None else None
                chunk.append(ViewPair(a_rows[i], b, domain, lang, span_pairs(a_rows[i], b)))
                if j is not None:
                    used_b.add(j)
            # partner sentences with no counterpart still train the tagger
            chunk += [ViewPair(b, None, domain, lang) for j, b in enumerate(b_rows) if j not in used_b]
        else:
            for rows in (a_rows, b_rows):
                chunk += [ViewPair(ex, None, domain, lang) for ex in rows or ()]
        if max_pairs is not None and len(chunk) > max_pairs:
            chunk = rng.sample(chunk, max_pairs)
        items += chunk
    if translations and all(views.get(v) is not None for v in FILES):
        found, counts = translation_pairs(raw["source"], raw["cs_src"], raw["smt"], raw["cs_tgt"])
        report["source~smt"] = counts
        chunk = [
            ViewPair(views["source"][i], views["smt"][j], 0, lang, span_pairs(views["source"][i], views["smt"][j]), domain_b=1)
            for i, j, _ in found
        ]
        if max_pairs is not None and len(chunk) > max_pairs:
            chunk = random.Random(f"{seed}:{lang}:translation").sample(chunk, max_pairs)
        items += chunk
    return items, report
