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
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Mapping, Sequence

from ...types import Example

# view -> (partner view, domain); domain 0 = source language, 1 = target language
PAIRING: Mapping[str, tuple[str, int]] = {"source": ("cs_src", 0), "smt": ("cs_tgt", 1)}
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


def _token_spans(ex: Example) -> list[tuple[int, int, str]]:
    offsets = ex.token_offsets or ()
    out = []
    for span in ex.spans or ():
        inside = [i for i, (s, e) in enumerate(offsets) if s >= span.start and e <= span.end]
        if inside:
            out.append((inside[0], inside[-1] + 1, span.polarity))
    return out


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
        spans_a, spans_b = _token_spans(ex), _token_spans(second[j])
        pairs = tuple((sa, ea, sb, eb) for (sa, ea, _), (sb, eb, _) in zip(spans_a, spans_b))
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


def build_pairs(
    views: Mapping[str, Sequence[Example]],
    lang: str,
    *,
    max_pairs: int | None = None,
    seed: int = 0,
) -> tuple[list[ViewPair], dict[str, dict[str, int]]]:
    """ViewPairs for one target language from whichever views are given.

    A primary view (source, smt) given with its code-switched partner is aligned;
    a view given alone becomes unpaired items. `max_pairs` keeps a random subset
    (seeded by seed, language and view) of each primary view's items.
    """
    items: list[ViewPair] = []
    report: dict[str, dict[str, int]] = {}
    for primary, (partner, domain) in PAIRING.items():
        # seeded per language and view: languages sub-sample different source sentences
        rng = random.Random(f"{seed}:{lang}:{primary}")
        a_rows, b_rows = views.get(primary), views.get(partner)
        chunk: list[ViewPair] = []
        if a_rows is not None and b_rows is not None:
            aligned, counts = align(a_rows, b_rows)
            report[f"{primary}~{partner}"] = counts
            used_b = set()
            for i, j, pairs in aligned:
                chunk.append(ViewPair(a_rows[i], b_rows[j] if j is not None else None, domain, lang, pairs))
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
    return items, report
