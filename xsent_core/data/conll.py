"""CoNLL-style BIES files: ``token<TAB>tag`` per line, blank line between sentences."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

from ..types import Example, InputError
from ._io import atomic_writer, iter_lines
from .align import char_to_token_spans, join_tokens, token_to_char_spans, whitespace_tokens
from .bies import TAG2ID, repaired_spans, spans_to_tags, tags_to_spans


def example_tags(example: Example, *, snap: bool = False) -> tuple[tuple[str, ...], list[str]]:
    """(tokens, BIES tags) for an example.

    Tokens are ``example.tokens`` when set, else the text split on whitespace.
    Gold spans (character offsets) must start and end on token boundaries;
    otherwise InputError, unless ``snap=True``, which widens a span to the
    whole tokens it overlaps. Overlapping spans, or a span over no token,
    raise InputError.
    """
    if example.tokens is not None and example.token_offsets is not None:
        tokens, offsets = example.tokens, example.token_offsets
    else:
        tokens, offsets = whitespace_tokens(example.text)
    try:
        token_spans = char_to_token_spans(offsets, example.spans or (), snap=snap)
        tags = spans_to_tags(len(tokens), token_spans)
    except ValueError as e:
        raise InputError(f"example {example.id!r}: {e}") from None
    return tuple(tokens), tags


def write_conll(path: str | os.PathLike[str], examples: Iterable[Example], *, snap: bool = False) -> int:
    """Write examples as ``token\\tTAG`` lines (BIES tags, see ``example_tags``).

    Sentences are separated by one blank line. Written atomically; returns
    the number of sentences. InputError for an example without tokens or a
    token that is blank or holds a tab/newline (it could not be read back).
    """
    n = 0
    with atomic_writer(path) as f:
        for ex in examples:
            tokens, tags = example_tags(ex, snap=snap)
            if not tokens:
                raise InputError(f"example {ex.id!r}: no tokens to write")
            for tok in tokens:
                if not tok.strip() or any(c in tok for c in "\t\n\r"):
                    raise InputError(f"example {ex.id!r}: token {tok!r} cannot be written to CoNLL")
            f.write("".join(f"{tok}\t{tag}\n" for tok, tag in zip(tokens, tags)))
            f.write("\n")
            n += 1
    return n


def read_conll(path: str | os.PathLike[str], *, repair: bool = False) -> list[Example]:
    """Every sentence of a BIES CoNLL file; see :func:`iter_conll`."""
    return list(iter_conll(path, repair=repair))


def iter_conll(path: str | os.PathLike[str], *, repair: bool = False) -> Iterator[Example]:
    """Examples from a BIES CoNLL file (the inverse of :func:`write_conll`), streamed.

    Columns are tab-separated (whitespace-separated if a line has no tab);
    exactly two: token and one of the 13 BIES tags, else InputError naming
    the line. text is the tokens joined by one space; spans are decoded with
    ``bies.tags_to_spans``. A broken sequence (``E-POS`` without ``B``, an
    unclosed ``B-NEG``) is not gold as written: its span is dropped unless
    `repair` keeps the rule's repair; either way the sentence gets
    meta["bies_repaired"] and meta["bies_warnings"] naming the file lines.
    id ``"{stem}:{index}"``, no label.
    """
    stem = Path(path).stem
    tokens: list[str] = []
    tags: list[str] = []
    first_line = index = 0
    for lineno, line in iter_lines(path):
        if not line.strip():
            if tokens:
                yield _sentence(path, f"{stem}:{index}", tokens, tags, first_line, repair)
                tokens, tags, index = [], [], index + 1
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        if len(cols) != 2:
            raise InputError(f"{path}: line {lineno}: expected 2 columns (token, tag), got {len(cols)}")
        token, tag = cols[0], cols[1].strip()
        if not token.strip():
            raise InputError(f"{path}: line {lineno}: empty token")
        if tag not in TAG2ID:
            raise InputError(
                f"{path}: line {lineno}: unknown tag {tag[:40]!r}; expected O or B/I/E/S-POS/NEU/NEG"
            )
        if not tokens:
            first_line = lineno
        tokens.append(token)
        tags.append(tag)
    if tokens:
        yield _sentence(path, f"{stem}:{index}", tokens, tags, first_line, repair)


def _sentence(
    path: str | os.PathLike[str], example_id: str, tokens: list[str], tags: list[str], first_line: int, repair: bool
) -> Example:
    sent, offsets = join_tokens(tokens)
    meta: dict = {"source": "conll", "line": first_line}
    token_spans = tags_to_spans(tags)
    made_up = repaired_spans(tags)  # empty exactly when the tags are valid BIES
    if made_up:
        meta["bies_repaired"] = True
        meta["bies_warnings"] = [
            f"{Path(path).name}: line {first_line + a}"
            + (f"-{first_line + b - 1}" if b - a > 1 else "")
            + f": tags {' '.join(tags[a:b])} are not a BIES span; "
            + ("kept as the repaired span" if repair else "span dropped (ask for repair to keep it)")
            for a, b, _ in made_up
        ]
        if not repair:
            token_spans = [s for s in token_spans if s not in made_up]
    return Example(
        id=example_id,
        text=sent,
        spans=token_to_char_spans(sent, offsets, token_spans),
        tokens=tuple(tokens),
        token_offsets=offsets,
        meta=meta,
    )
