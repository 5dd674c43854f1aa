"""Pure helpers behind the Annotate tab (no Gradio): span editing rules, rendering,
agreement tables, history rows and confined export paths. Unit-tested directly."""
from __future__ import annotations

import html
import itertools
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from xsent_core.types import POLARITIES, SENTIMENT_LABELS, AspectSpan, InputError

POLARITY_KEYS = {"negative": "1", "neutral": "2", "positive": "3"}
SHORT = {"negative": "neg", "neutral": "neu", "positive": "pos"}
EXPORT_FORMATS = {"conll": ".conll", "jsonl": ".jsonl", "hf": "", "labelstudio": ".json"}
IMPORT_FORMATS = ("auto", "jsonl", "csv", "conll", "semeval", "gklmip", "labelstudio")
_SUFFIX_FORMAT = {".jsonl": "jsonl", ".csv": "csv", ".conll": "conll", ".json": "gklmip", ".txt": "semeval"}
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class SpanEdit:
    start: int
    end: int
    polarity: str

    def to_dict(self, text: str) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "text": text[self.start : self.end], "polarity": self.polarity}


def span_dicts(spans: Iterable[Any] | None, text: str) -> list[dict[str, Any]]:
    """AspectSpans or dicts -> plain sorted dicts {start, end, text, polarity}."""
    out = []
    for s in spans or ():
        d = s.to_dict() if hasattr(s, "to_dict") else dict(s)
        start, end = int(d["start"]), int(d["end"])
        out.append({"start": start, "end": end, "text": text[start:end], "polarity": str(d["polarity"])})
    return sorted(out, key=lambda d: (d["start"], d["end"]))


def trim_range(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop white space a mouse selection caught at either end."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def check_new_span(text: str, spans: Sequence[Mapping[str, Any]], start: Any, end: Any, polarity: str) -> tuple[int, int]:
    """Validate a span to add; returns its (trimmed) range or raises InputError saying why."""
    if polarity not in POLARITIES:
        raise InputError(f"choose a polarity ({', '.join(POLARITIES)}) for the span")
    try:
        s, e = int(start), int(end)
    except (TypeError, ValueError, OverflowError):
        raise InputError("select some text first (or type a start and end character)") from None
    if not 0 <= s <= len(text) or not 0 <= e <= len(text):
        raise InputError(f"span {s}–{e} is outside the text (0–{len(text)})")
    s, e = trim_range(text, s, e)
    if s >= e:
        raise InputError("empty span: select at least one non-space character")
    for other in spans:
        os_, oe = int(other["start"]), int(other["end"])
        if (os_, oe) == (s, e):
            continue  # same range: the caller changes its polarity
        if s < oe and os_ < e:
            raise InputError(
                f"“{text[s:e]}” ({s}–{e}) overlaps the span “{text[os_:oe]}” ({os_}–{oe}); "
                "remove that one first or select a range next to it"
            )
    return s, e


def add_span(text: str, spans: Sequence[Mapping[str, Any]], start: Any, end: Any, polarity: str) -> list[dict[str, Any]]:
    """A new span list with the span added (or its polarity changed when the range exists)."""
    s, e = check_new_span(text, spans, start, end, polarity)
    kept = [dict(d) for d in spans if (int(d["start"]), int(d["end"])) != (s, e)]
    kept.append({"start": s, "end": e, "text": text[s:e], "polarity": polarity})
    return sorted(kept, key=lambda d: (d["start"], d["end"]))


def remove_span(spans: Sequence[Mapping[str, Any]], start: int, end: int) -> list[dict[str, Any]]:
    return [dict(d) for d in spans if (int(d["start"]), int(d["end"])) != (int(start), int(end))]


@dataclass(frozen=True)
class SpanAction:
    """What a click in the document view asks for, and what comes of it."""

    spans: list[dict[str, Any]]
    message: str = ""
    part: int | None | str = "same"  # the part of the document to show next: a start, None (all) or "same"


def span_action(text: str, spans: Sequence[Mapping[str, Any]], data: Any) -> SpanAction:
    """Apply the event data of a click in the document view (add, remove, part, show_all).

    The data comes from the browser, or from anyone calling the API: any JSON at all.
    Whatever it is, the answer is a span list and a message, never an exception.
    """
    data = data if isinstance(data, dict) else {}
    action = data.get("action")
    try:
        if action == "show_all":
            if len(text) > SHOW_ALL_MAX:
                raise InputError(f"{len(text):,} characters are too many to show at once; move through the parts")
            return SpanAction(list(spans), f"Showing all {len(text):,} characters.", part=None)
        if action == "part":
            lo, hi = part_range(len(text), int(data["start"]))
            return SpanAction(list(spans), f"Showing characters {lo:,}–{hi:,} of {len(text):,}.", part=lo)
        if action == "add":
            return SpanAction(add_span(text, spans, data.get("start"), data.get("end"), str(data.get("polarity"))))
        if action == "remove":
            return SpanAction(remove_span(spans, int(data["start"]), int(data["end"])))
        raise InputError("select some text in the document first (or click a span to pick it)")
    except (InputError, KeyError, ValueError, TypeError, OverflowError) as e:
        message = str(e) if isinstance(e, InputError) else "that click did not name a span (start and end character)"
        return SpanAction(list(spans), f"✗ {message}")


def validate_all(text: str, spans: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every problem of a span list (empty, out of range, overlapping, bad polarity): messages."""
    problems = []
    ordered = sorted(spans, key=lambda d: (int(d["start"]), int(d["end"])))
    for d in ordered:
        s, e = int(d["start"]), int(d["end"])
        if d.get("polarity") not in POLARITIES:
            problems.append(f"span {s}–{e} has no valid polarity")
        if not 0 <= s < e <= len(text) or not text[s:e].strip():
            problems.append(f"span {s}–{e} is empty or outside the text")
    for a, b in zip(ordered, ordered[1:]):
        if int(b["start"]) < int(a["end"]):
            problems.append(f"spans {a['start']}–{a['end']} and {b['start']}–{b['end']} overlap")
    return problems


def to_aspect_spans(text: str, spans: Sequence[Mapping[str, Any]]) -> tuple[AspectSpan, ...]:
    return tuple(
        AspectSpan(start=int(d["start"]), end=int(d["end"]), text=text[int(d["start"]) : int(d["end"])], polarity=str(d["polarity"]))
        for d in spans
    )


def same_annotation(label: str | None, spans: Sequence[Mapping[str, Any]], current: Any | None) -> bool:
    if current is None:
        return False
    mine = {(int(d["start"]), int(d["end"]), d["polarity"]) for d in spans}
    theirs = {(s.start, s.end, s.polarity) for s in current.spans}
    return (label or None) == (current.label or None) and mine == theirs


PART_CHARS = 20_000  # a longer document opens in parts of this many characters
SHOW_ALL_MAX = 60_000  # "Show all" up to here: Gradio's HTML view slows down sharply beyond (570k chars froze it)
CELL_CHARS = 200  # span text in tables


def annotator_html(text: str | None, spans: Sequence[Mapping[str, Any]], header: str = "", part: int | None = None) -> str:
    """The document with its spans as coloured marks, plus the polarity toolbar.

    Offsets in the page are counted over the text nodes of `.ann-text` only,
    from its `data-base`: the polarity tag of a mark is CSS `::after` content,
    which a DOM Range does not count, so a selection maps back to code points
    of `text`. A document longer than PART_CHARS is sent one part at a time,
    starting at character `part` (None: all of it), with buttons for the
    other parts and, when it is not too long, "Show all".
    """
    if text is None:
        return "<div class='ann-empty'>No document open: pick one from the queue, or import a file below.</div>"
    lo, hi = part_range(len(text), part)
    parts: list[str] = []
    pos = lo
    for d in sorted(spans, key=lambda d: (int(d["start"]), int(d["end"]))):
        s, e = int(d["start"]), int(d["end"])
        if max(s, lo) < pos or e > len(text) or s >= e or s >= hi or e <= lo:
            continue  # overlapping, out of range, or in another part
        parts.append(html.escape(text[pos:max(s, lo)]))
        pol = html.escape(str(d["polarity"]))
        parts.append(  # a mark crossing a part's edge shows its visible piece and keeps its own offsets
            f"<mark class='xs-span pol-{pol}' data-start='{s}' data-end='{e}' data-pol='{pol}' "
            f"data-label='{SHORT.get(str(d['polarity']), pol)}' title='{pol} ({s}–{e})'>{html.escape(text[max(s, lo):min(e, hi)])}</mark>"
        )
        pos = min(e, hi)
    parts.append(html.escape(text[pos:hi]))
    more = part_controls(text, spans, lo, hi) if (lo, hi) != (0, len(text)) else ""
    buttons = "".join(
        f"<button type='button' class='ann-add pol-{p}' data-pol='{p}' id='annotate-mark-{p}'>{p.capitalize()} <kbd>{k}</kbd></button>"
        for p, k in POLARITY_KEYS.items()
    )
    return (
        f"<div class='ann-head'>{html.escape(header)}</div>"
        f"<div class='ann-text' lang='und' data-base='{lo}'>{''.join(parts)}</div>{more}"
        f"<div class='ann-toolbar'>Select text, then: {buttons}"
        "<button type='button' class='ann-remove' data-pol='' id='annotate-mark-remove'>Remove picked <kbd>x</kbd></button></div>"
    )


def part_range(length: int, part: int | None) -> tuple[int, int]:
    """[lo, hi) of the text the page gets: all of it, or the part of PART_CHARS holding `part`."""
    if part is None or length <= PART_CHARS:
        return 0, length
    lo = min(max(0, int(part)), length - 1) // PART_CHARS * PART_CHARS
    return lo, min(length, lo + PART_CHARS)


def part_controls(text: str, spans: Sequence[Mapping[str, Any]], lo: int, hi: int) -> str:
    elsewhere = sum(1 for d in spans if int(d["end"]) <= lo or int(d["start"]) >= hi)
    buttons = []
    if lo > 0:
        buttons.append(f"<button type='button' class='ann-part' data-part='{lo - PART_CHARS}' id='annotate-part-prev'>◀ Previous part</button>")
    if hi < len(text):
        buttons.append(f"<button type='button' class='ann-part' data-part='{hi}' id='annotate-part-next'>Next part ▶</button>")
    if len(text) <= SHOW_ALL_MAX:
        buttons.append(f"<button type='button' class='ann-show-all' id='annotate-show-all'>Show all {len(text):,} characters</button>")
    return (
        f"<div class='ann-more'>Characters {lo:,}–{hi:,} of {len(text):,}"
        + (f" ({elsewhere} span(s) in other parts are in the table)" if elsewhere else "")
        + ". " + " ".join(buttons) + "</div>"
    )


def span_rows(spans: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    return [[i + 1, d["start"], d["end"], clip(d["text"]), d["polarity"]] for i, d in enumerate(spans)]


def clip(text: str, limit: int = CELL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def history_rows(history: Sequence[Any]) -> list[list[Any]]:
    """Newest first: version, parent, annotator, saved, label, spans, note."""
    rows = []
    latest = max((a.version for a in history), default=None)
    for a in sorted(history, key=lambda a: -a.version):
        spans = "; ".join(f"{clip(s.text)}:{SHORT.get(s.polarity, s.polarity)}" for s in a.spans)
        flag = " (current)" if a.version == latest else ""
        rows.append([f"v{a.version}{flag}", f"v{a.parent_version}" if a.parent_version else "—", a.annotator, a.created[:19].replace("T", " "), a.label or "", spans, a.note])
    return rows


def conflict_notice(saved: Any, history: Sequence[Any]) -> str:
    """What to tell an annotator whose save was based on an outdated version ('' when not)."""
    if not getattr(saved, "stale_parent", False):
        return ""
    missed = set(saved.missed_versions)
    who = sorted({a.annotator for a in history if a.version in missed})
    versions = ", ".join(f"v{v}" for v in sorted(missed))
    base = f"v{saved.parent_version}" if saved.parent_version else "an empty annotation"
    return (
        f"⚠ While you edited (from {base}), {', '.join(who) or 'another annotator'} saved {versions}. "
        f"Nothing was overwritten: both versions are kept and yours, v{saved.version}, is now current. "
        "Compare them in History and revert if needed."
    )


def agreement_rows(groups: Sequence[Any]) -> list[list[Any]]:
    """Per annotator pair: shared documents, Cohen's kappa on labels, span F1 (first as reference)."""
    from xsent_core.metrics import cohen_kappa, span_micro_f1

    pairs: dict[tuple[str, str], list[tuple[Any, Any]]] = {}
    for g in groups:
        for a, b in itertools.combinations(sorted(g.by_annotator), 2):
            pairs.setdefault((a, b), []).append((g.by_annotator[a], g.by_annotator[b]))
    rows = []
    for (a, b), items in sorted(pairs.items()):
        labels = [(x.label, y.label) for x, y in items if x.label and y.label]
        kappa = cohen_kappa([p for p, _ in labels], [q for _, q in labels]) if labels else None
        with_spans = [(x, y) for x, y in items if x.spans or y.spans]
        f1 = span_micro_f1([x.spans for x, _ in with_spans], [y.spans for _, y in with_spans])["f1"] if with_spans else None
        rows.append([a, b, len(items), len(labels), "—" if kappa is None else round(kappa, 3), len(with_spans), "—" if f1 is None else round(f1, 3)])
    return rows


_LABEL_STUDIO_KEYS = re.compile(rb'"(annotations|predictions|completions)"\s*:|"data"\s*:\s*\{')


def guess_format(filename: str, chosen: str, path: Path | None = None) -> str:
    """The chosen format, else one told by the extension; a `.json` file is sniffed
    (Label Studio tasks have "data"/"annotations" keys, GKLMIP rows do not)."""
    if chosen and chosen != "auto":
        return chosen
    if path is not None and Path(filename).suffix.lower() == ".json":
        with open(path, "rb") as f:
            head = f.read(1 << 16)
        if _LABEL_STUDIO_KEYS.search(head):
            return "labelstudio"
    fmt = _SUFFIX_FORMAT.get(Path(filename).suffix.lower())
    if fmt is None:
        raise InputError(
            f"{Path(filename).name}: cannot tell the format from the extension; choose one of "
            f"{', '.join(IMPORT_FORMATS[1:])}"
        )
    return fmt


def inside(path: str | Path, folder: Path) -> Path | None:
    """`path` (relative to `folder`, or absolute) resolved, if it lies inside `folder`; else None.

    Resolving follows symlinks and `..`, so one check catches a `../` climb, an
    absolute path elsewhere and a link pointing out of the folder alike.
    """
    base = Path(folder).resolve()
    target = (base / path).resolve()
    return target if target == base or base in target.parents else None


def confined(path: str | Path, folder: Path, what: str) -> Path:
    """`inside(path, folder)`, or InputError saying the path was refused."""
    target = inside(path, folder)
    if target is None:
        raise InputError(f"refused: {what} {str(path)!r} leads outside the {Path(folder).resolve().name} folder")
    return target


def check_upload(path: str | Path, max_mb: int, roots: Sequence[Path] = ()) -> Path:
    """The uploaded file, checked for size; with `roots`, it must lie inside one of them.

    Gradio already refuses files a user did not upload; `roots` repeats that
    check here, so a Gradio change cannot open the server's own files to import.
    """
    if roots:
        found = next((t for t in (inside(path, root) for root in roots) if t is not None), None)
        if found is None:
            raise InputError(f"refused: {Path(path).name} was not uploaded (it lies outside the upload folders)")
        path = found
    p = Path(path)
    if not p.is_file():
        raise InputError("the upload did not arrive; try again")
    size = p.stat().st_size
    if size > max_mb * 1024 * 1024:
        raise InputError(f"{p.name} is {size / 2**20:.1f} MB, over the {max_mb} MB upload limit; use the CLI for big files")
    if size == 0:
        raise InputError(f"{p.name} is empty")
    return p


def take_rows(rows: Iterable[Any], limit: int, name: str) -> list[Any]:
    """At most `limit` rows of a streamed file, read no further than one past it.

    A file over the limit is refused before the rest of it is parsed: the
    reader is a generator, so the sentences after `limit + 1` are never built.
    """
    taken = list(itertools.islice(rows, limit + 1))
    if len(taken) > limit:
        raise InputError(f"{name} has more than {limit:,} rows, the most one upload may hold; use the CLI for big files")
    return taken


IMAGE_REFUSED = "image not used: a row may only name an image uploaded with it or in the app's work folder"


def confine_image(image: str | None, roots: Sequence[Path]) -> tuple[str | None, bool]:
    """(the image path to use or None, whether a path was refused).

    A path in an uploaded row is the uploader's word: only files inside `roots` are
    used, and every other path (missing, elsewhere, a URL) gets the same answer, so
    the reply does not tell which server files exist.
    """
    if not image:
        return None, False
    for root in roots:
        target = inside(image, root)
        if target is not None and target.is_file():
            return str(target), False
    return None, True


def bies_notes(examples: Sequence[Any], shown: int = 5) -> str:
    """Markdown lines for the broken-BIES warnings of imported CoNLL rows ('' when none)."""
    warnings = [w for ex in examples for w in ex.meta.get("bies_warnings", ())]
    if not warnings:
        return ""
    more = f"\n- … and {len(warnings) - shown} more" if len(warnings) > shown else ""
    return f"\n\n⚠ {len(warnings)} span(s) with broken BIES tags:" + "".join(f"\n- {w}" for w in warnings[:shown]) + more


def upload_error(error: Exception, path: str | Path) -> str:
    """An error about an upload, naming the file as the user knows it (not the server's upload folder)."""
    message = str(error)
    for folder in {str(Path(path).parent), str(Path(path).resolve().parent)}:
        message = message.replace(folder + "/", "").replace(folder, "")
    return message


def export_target(exports: Path, fmt: str, name: str | None = None, now: float | None = None) -> Path:
    """Where an export goes: always a plain file/folder name directly inside `exports`."""
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    stem = _SAFE.sub("-", (name or "").strip()).strip(".-_")[:60] or f"annotations-{stamp}"
    # the name is sanitised to one plain file name; only a planted symlink could still lead out
    return confined(f"{stem}{EXPORT_FORMATS[fmt]}", exports, "export")


def label_choices() -> list[tuple[str, str]]:
    return [("none", "")] + [(label, label) for label in SENTIMENT_LABELS]
