"""Reader for the SemEval-2016 restaurant files prepared for cross-lingual ABSA.

Format: ``token<TAB>tag<TAB>category`` per line, a blank line between
sentences. Tags are SemEval T-tags (``T-POS``...) or, in the tail of the
``cs_X-en`` files, BIES tags; both are accepted (even mixed: ``T-p`` is then
read as ``I-p``, which gives exactly the T-tag rule, see ``bies``).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterator, NamedTuple

from ..types import Example, InputError
from ._io import iter_lines
from .align import join_tokens, token_to_char_spans
from .bies import TAGS, TS_TAGS, tags_to_spans

_KNOWN_TAGS = frozenset(TAGS) | frozenset(TS_TAGS)
_MONO = re.compile(r"^(?:gold|smt)-([a-z]{2,3})(?:[-_.]|$)")
# cs_A-B: sentence in language B with aspect terms switched to language A
# (checked on the data: cs_en-es-train has Spanish sentences, English terms).
_CODE_SWITCHED = re.compile(r"^cs_([a-z]{2,3})-([a-z]{2,3})(?:[-_.]|$)")


class TaggedSentence(NamedTuple):
    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    categories: tuple[str, ...]
    line: int  # 1-based line number of the first token


def read_tagged(path: str | os.PathLike[str]) -> list[TaggedSentence]:
    """The file's sentences as raw tokens/tags/categories (tags as written); see :func:`iter_tagged`."""
    return list(iter_tagged(path))


def iter_tagged(path: str | os.PathLike[str]) -> Iterator[TaggedSentence]:
    """The file's sentences one at a time, read line by line.

    InputError (naming file and line) for invalid UTF-8, a line without
    exactly three tab-separated columns, an empty token or an unknown tag.
    Lines holding only whitespace count as blank.
    """
    rows: list[list[str]] = []
    first_line = 0
    for lineno, line in iter_lines(path):
        if not line.strip():
            if rows:
                yield _sentence(rows, first_line)
                rows = []
            continue
        cols = line.split("\t")
        if len(cols) != 3:
            raise InputError(
                f"{path}: line {lineno}: expected 3 tab-separated columns "
                f"(token, tag, category), got {len(cols)}: {line[:80]!r}"
            )
        token, tag, category = cols[0], cols[1].strip(), cols[2]
        if not token.strip():
            raise InputError(f"{path}: line {lineno}: empty token")
        if tag not in _KNOWN_TAGS:
            raise InputError(
                f"{path}: line {lineno}: unknown tag {tag[:40]!r}; expected O, T-POS/T-NEU/T-NEG "
                "or a BIES tag such as B-POS"
            )
        if not rows:
            first_line = lineno
        rows.append([token, tag, category])
    if rows:
        yield _sentence(rows, first_line)


def _sentence(rows: list[list[str]], first_line: int) -> TaggedSentence:
    tokens, tags, cats = zip(*rows)
    return TaggedSentence(tokens, tags, cats, first_line)


def sentence_spans(tags: tuple[str, ...] | list[str]) -> list[tuple[int, int, str]]:
    """Token spans of a sentence tagged with T-tags and/or BIES tags."""
    return tags_to_spans(["I-" + t[2:] if t.startswith("T-") else t for t in tags])


def infer_lang(path: str | os.PathLike[str]) -> tuple[str | None, dict[str, Any]]:
    """Language from the file name: gold-fr-test -> fr, smt-es-train -> es.

    For code-switched files cs_A-B the language is B (the sentence language)
    and the meta notes ``langs=(A, B)`` and ``term_lang=A``. Unknown names -> None.
    """
    stem = Path(path).stem
    m = _MONO.match(stem)
    if m:
        return m.group(1), {}
    m = _CODE_SWITCHED.match(stem)
    if m:
        return m.group(2), {"langs": (m.group(1), m.group(2)), "term_lang": m.group(1)}
    return None, {}


def read_semeval(path: str | os.PathLike[str], lang: str | None = None) -> list[Example]:
    """Every sentence of a SemEval tagged file; see :func:`iter_semeval`."""
    return list(iter_semeval(path, lang))


def iter_semeval(path: str | os.PathLike[str], lang: str | None = None) -> Iterator[Example]:
    """Examples from a SemEval tagged file, one per sentence, streamed.

    text is the tokens joined by one space, with tokens/token_offsets set and
    spans as AspectSpans in character offsets into that text. label is the
    shared polarity when every aspect has the same one, else None (mixed or
    no aspects: kept, callers filter with ``sentence_level``). lang is
    `lang` if given, else inferred from the file name (see :func:`infer_lang`).
    id is ``"{stem}:{index}"`` (0-based); meta holds source, file, line and
    the aspect category of each span (that of its first token).
    """
    inferred, lang_meta = infer_lang(path)
    lang = lang if lang is not None else inferred
    stem = Path(path).stem
    for index, sent in enumerate(iter_tagged(path)):
        text, offsets = join_tokens(sent.tokens)
        token_spans = sentence_spans(sent.tags)
        spans = token_to_char_spans(text, offsets, token_spans)
        polarities = {s.polarity for s in spans}
        label = polarities.pop() if len(polarities) == 1 else None
        meta: dict[str, Any] = {
            "source": "semeval",
            "file": Path(path).name,
            "line": sent.line,
            "categories": tuple(sent.categories[s] for s, _, _ in token_spans),
            **lang_meta,
        }
        yield Example(
            id=f"{stem}:{index}",
            text=text,
            lang=lang,
            label=label,
            spans=spans,
            tokens=sent.tokens,
            token_offsets=offsets,
            meta=meta,
        )
