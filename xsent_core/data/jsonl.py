"""Streaming JSONL / CSV readers and an atomic JSONL writer.

A row is ``{id?, text, image?, lang?, label?, spans?}``; other keys go to
``Example.meta`` as they are. Rules shared by both readers:

* ``id`` missing/empty -> ``"{file stem}:{line}"`` (1-based line of the row).
* ``text`` is required and must be a string; it may be empty only when the
  row has an image.
* ``image`` is resolved relative to the data file's folder (URLs and absolute
  paths are kept); whether the file exists is checked by whoever opens it.
* ``label`` is one of SENTIMENT_LABELS (case and surrounding spaces ignored)
  or missing/empty/null.
* ``spans`` (JSONL only): a list of ``{start, end, polarity, text?, score?}``
  objects or ``[start, end, polarity]`` lists, character offsets into text,
  end exclusive; a given ``text`` must equal ``text[start:end]``.
* Lone surrogates (``"\\ud800"`` in JSON) are refused: they cannot be stored.

Every problem raises InputError naming the file and line.
"""
from __future__ import annotations

import codecs
import csv
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from ..types import POLARITIES, SENTIMENT_LABELS, AspectSpan, Example, InputError
from ._io import atomic_writer, check_unicode, iter_lines

_KNOWN = ("id", "text", "image", "lang", "label", "spans")
_URL_PREFIXES = ("http://", "https://", "data:", "file://")


def _check_all_strings(value: Any, where: str) -> None:
    if isinstance(value, str):
        check_unicode(value, where)
    elif isinstance(value, dict):
        for k, v in value.items():
            check_unicode(k, where)
            _check_all_strings(v, where)
    elif isinstance(value, list):
        for v in value:
            _check_all_strings(v, where)


def _opt_str(row: Mapping[str, Any], key: str, where: str) -> str | None:
    value = row.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InputError(f"{where}: '{key}' must be a string, got {type(value).__name__}")
    return value


def parse_label(value: Any, where: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and value.strip().lower() in SENTIMENT_LABELS:
        return value.strip().lower()
    raise InputError(f"{where}: label must be one of {', '.join(SENTIMENT_LABELS)}, got {value!r:.60}")


def _int(value: Any, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{where}: span {name} must be an integer, got {value!r:.40}")
    return value


def parse_spans(value: Any, text: str, where: str) -> tuple[AspectSpan, ...] | None:
    """Character spans from JSON (list of objects or [start, end, polarity] lists)."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise InputError(f"{where}: 'spans' must be a list, got {type(value).__name__}")
    spans = []
    for k, item in enumerate(value):
        w = f"{where}: spans[{k}]"
        if isinstance(item, list) and len(item) == 3:
            item = {"start": item[0], "end": item[1], "polarity": item[2]}
        if not isinstance(item, dict):
            raise InputError(f"{w}: expected an object {{start, end, polarity}} or [start, end, polarity]")
        if not {"start", "end", "polarity"} <= item.keys():
            raise InputError(f"{w}: needs 'start', 'end' and 'polarity'")
        start, end = _int(item["start"], "start", w), _int(item["end"], "end", w)
        if not 0 <= start < end <= len(text):
            raise InputError(f"{w}: offsets [{start}, {end}) outside the text (length {len(text)}) or empty")
        pol = item["polarity"]
        if not isinstance(pol, str) or pol.strip().lower() not in POLARITIES:
            raise InputError(f"{w}: polarity must be one of {', '.join(POLARITIES)}, got {pol!r:.40}")
        given = item.get("text")
        if given is not None and given != text[start:end]:
            raise InputError(
                f"{w}: span text {given!r:.60} does not match text[{start}:{end}] = {text[start:end]!r:.60}"
            )
        score = item.get("score", 1.0)
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise InputError(f"{w}: score must be a finite number, got {score!r:.40}")
        spans.append(AspectSpan(start, end, text[start:end], pol.strip().lower(), float(score)))
    return tuple(spans)


def _resolve_image(image: str | None, base_dir: Path) -> str | None:
    if image is None or image.startswith(_URL_PREFIXES) or os.path.isabs(image):
        return image
    return os.path.normpath(base_dir / image)


def build_example(
    row: Mapping[str, Any],
    where: str,
    default_id: str,
    base_dir: Path,
    line: int,
    allow_spans: bool = True,
) -> Example:
    """Example from one parsed row (JSON object or CSV record); see module doc."""
    if "text" not in row or row["text"] is None:
        raise InputError(f"{where}: missing 'text'")
    text = row["text"]
    if not isinstance(text, str):
        raise InputError(f"{where}: 'text' must be a string, got {type(text).__name__}")
    raw_id = row.get("id")
    if raw_id is None or raw_id == "":
        ex_id = default_id
    elif isinstance(raw_id, str) or (isinstance(raw_id, int) and not isinstance(raw_id, bool)):
        ex_id = str(raw_id)
    else:
        raise InputError(f"{where}: 'id' must be a string or integer, got {type(raw_id).__name__}")
    image = _resolve_image(_opt_str(row, "image", where), base_dir)
    if not text.strip() and image is None:
        raise InputError(f"{where}: empty 'text' (and no image)")
    spans = parse_spans(row.get("spans"), text, where) if allow_spans else None
    known = _KNOWN if allow_spans else _KNOWN[:-1]
    meta: dict[str, Any] = {k: v for k, v in row.items() if k not in known}
    meta["line"] = line
    return Example(
        id=ex_id,
        text=text,
        lang=_opt_str(row, "lang", where),
        label=parse_label(row.get("label"), where),
        spans=spans,
        image=image,
        meta=meta,
    )


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[Example]:
    """Stream Examples from a JSONL file, one object per non-blank line."""
    stem = Path(path).stem
    base_dir = Path(path).resolve().parent
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        where = f"{path}: line {lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{where}: invalid JSON at column {e.colno} ({e.msg})") from None
        except RecursionError:
            raise InputError(f"{where}: JSON nested too deeply") from None
        if not isinstance(row, dict):
            raise InputError(f"{where}: expected a JSON object, got {type(row).__name__}")
        if "\\u" in line:  # only escapes can smuggle in lone surrogates
            _check_all_strings(row, where)
        yield build_example(row, where, f"{stem}:{lineno}", base_dir, lineno)


def read_jsonl(path: str | os.PathLike[str]) -> list[Example]:
    return list(iter_jsonl(path))


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any] | Example]) -> int:
    """Write rows (dicts or Examples) as UTF-8 JSONL atomically; returns the row count.

    The file appears complete or not at all (temp file beside it, then rename).
    """
    n = 0
    with atomic_writer(path) as f:
        for row in rows:
            d = row.to_dict() if isinstance(row, Example) else dict(row)
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
            n += 1
    return n


def _locate_utf8_error(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(byte offset, 1-based line) of the first invalid UTF-8 byte, streaming."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    pos = newlines = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 16)
            # Bytes of an unfinished character held back from the previous chunk
            # (never a newline, so line counting can ignore them).
            held = decoder.getstate()[0]
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as e:
                data = held + chunk
                return pos - len(held) + e.start, newlines + data.count(b"\n", 0, e.start) + 1
            if not chunk:
                return pos, newlines + 1
            pos += len(chunk)
            newlines += chunk.count(b"\n")


def iter_csv(path: str | os.PathLike[str]) -> Iterator[Example]:
    """Stream Examples from a CSV with a header row (for batch upload).

    Column ``text`` is required; ``id``, ``lang``, ``label``, ``image`` are
    optional (header names are matched case-insensitively); other columns go
    to meta. Empty cells count as missing; rows with every cell empty are
    skipped. A UTF-8 BOM (Excel) is accepted.
    """
    stem = Path(path).stem
    base_dir = Path(path).resolve().parent
    try:
        f = open(path, newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if header is None:
                raise InputError(f"{path}: empty file, expected a header row with a 'text' column")
            names = [h.strip().lower() for h in header]
            if "text" not in names:
                raise InputError(f"{path}: line 1: no 'text' column in header {header[:10]!r}")
            dupes = sorted({n for n in names if names.count(n) > 1 and n})
            if dupes:
                raise InputError(f"{path}: line 1: duplicate columns {dupes}")
            start = reader.line_num + 1
            for cells in reader:
                where = f"{path}: line {start}"
                if len(cells) > len(names):
                    raise InputError(f"{where}: {len(cells)} cells but the header has {len(names)} columns")
                if any(c.strip() for c in cells):
                    row = {n: c for n, c in zip(names, cells) if n and c != ""}
                    row.setdefault("text", "")
                    for value in row.values():
                        check_unicode(value, where)
                    yield build_example(row, where, f"{stem}:{start}", base_dir, start, allow_spans=False)
                start = reader.line_num + 1
        except UnicodeDecodeError:
            byte, line = _locate_utf8_error(path)
            raise InputError(f"{path}: line {line}: invalid UTF-8 at byte {byte}; save the file as UTF-8") from None
        except csv.Error as e:
            raise InputError(f"{path}: line {reader.line_num}: malformed CSV ({e})") from None
