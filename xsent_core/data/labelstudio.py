"""Label Studio JSON: read an export (span and choice projects), write tasks with annotations and predictions.

The format is Label Studio's standard "JSON" export: a list of tasks
``{id, data: {text, ...}, annotations: [{completed_by, created_at, result: [...]}], predictions: [...]}``.
Two result types carry sentiment here: ``labels`` (a span ``{start, end, text, labels}``)
and ``choices`` (a sentence label). Other result types are counted and skipped.

Offsets: Label Studio versions differ in what ``start``/``end`` count (UTF-16 code
units in older front ends, code points in newer ones); they differ only after an
emoji or another character outside the Basic Multilingual Plane. Each span is read
in the unit under which ``text[start:end]`` equals the result's own ``text`` and
converted to code points. Written files use code points.

Label names are the project's own: a `LabelMap` says which name means which
polarity, and which name to write back.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..types import POLARITIES, AspectSpan, Example, InputError
from ._io import atomic_writer, check_unicode, read_json

MAX_BYTES = 200 * 1024 * 1024  # a whole export is parsed at once; beyond this, split it in Label Studio
DEFAULT_NAMES: Mapping[str, str] = {"negative": "Negative", "neutral": "Neutral", "positive": "Positive"}
_SHORT = {"neg": "negative", "neu": "neutral", "pos": "positive"}
SPAN_CONTROL, CHOICE_CONTROL, TEXT_OBJECT = "aspect", "sentiment", "text"


@dataclass(frozen=True)
class LabelMap:
    """Project label name (any case) -> polarity, and polarity -> the name written back."""

    to_polarity: Mapping[str, str]
    names: Mapping[str, str]

    def polarity(self, name: Any) -> str | None:
        return self.to_polarity.get(str(name).strip().casefold()) if isinstance(name, str) else None


def parse_pairs(spec: str | None, what: str) -> list[tuple[str, str]]:
    """``"a=b, c=d"`` as pairs; InputError naming `what` for an entry without '='."""
    pairs = []
    for item in (spec or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.rpartition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError(f"{what} entry {item.strip()!r}: write NAME=VALUE, e.g. {'Pos=positive' if what == 'label map' else '2=bob'}")
        pairs.append((key.strip(), value.strip()))
    return pairs


def parse_label_map(spec: str | Mapping[str, str] | None) -> LabelMap:
    """``"Pos=positive, Bad=negative"`` (or a mapping) on top of the defaults.

    The defaults read the polarity names themselves and pos/neg/neu in any case;
    the first name given for a polarity is the one exports write.
    """
    pairs: list[tuple[str, str]] = []
    if isinstance(spec, Mapping):
        pairs = [(str(k), str(v)) for k, v in spec.items()]
    else:
        pairs = parse_pairs(spec, "label map")
    to_polarity = {p: p for p in POLARITIES} | dict(_SHORT)
    names = dict(DEFAULT_NAMES)
    given: set[str] = set()
    for name, polarity in pairs:
        pol = polarity.strip().casefold()
        pol = _SHORT.get(pol, pol)
        if pol not in POLARITIES:
            raise InputError(f"label map entry {name.strip()}={polarity.strip()}: polarity must be one of {', '.join(POLARITIES)}")
        to_polarity[name.strip().casefold()] = pol
        if pol not in given:
            names[pol] = name.strip()
            given.add(pol)
    return LabelMap(to_polarity=to_polarity, names=names)


@dataclass(frozen=True)
class LSAnnotation:
    """One annotation of a task: who, when, the sentence label and the spans (code points)."""

    annotator: str
    created: str | None  # ISO 8601 UTC, microseconds ("2024-05-01T10:00:00.000000+00:00")
    label: str | None
    spans: tuple[AspectSpan, ...]


@dataclass(frozen=True)
class LSPrediction:
    """A model's output on a task, as Label Studio keeps pre-annotations."""

    model_version: str
    score: float | None
    label: str | None
    spans: tuple[AspectSpan, ...]
    probs: Mapping[str, float] | None = None


@dataclass(frozen=True)
class LSTask:
    index: int  # position in the file, for messages
    external_id: str  # stable across exports: "labelstudio:<task id>" or the xsent id it was exported with
    text: str
    lang: str | None
    annotations: tuple[LSAnnotation, ...] = ()
    predictions: tuple[LSPrediction, ...] = ()


@dataclass(frozen=True)
class LSRead:
    """What a file held, plus what was skipped or converted on the way (for the user)."""

    tasks: tuple[LSTask, ...]
    skipped: Mapping[str, int] = field(default_factory=dict)  # reason -> count
    utf16_spans: int = 0  # spans whose offsets counted UTF-16 units and were converted
    trimmed_spans: int = 0  # spans that had surrounding white space removed

    def report(self) -> list[str]:
        lines = [f"{n} × {reason}" for reason, n in sorted(self.skipped.items())]
        if self.utf16_spans:
            lines.append(f"{self.utf16_spans} span(s) counted UTF-16 units (older Label Studio); converted to characters")
        if self.trimmed_spans:
            lines.append(f"{self.trimmed_spans} span(s) trimmed of surrounding spaces")
        return lines


# ----------------------------------------------------------------------------- reading


def read_labelstudio(
    path: str | os.PathLike[str],
    label_map: LabelMap | None = None,
    *,
    text_field: str | None = None,
    max_bytes: int = MAX_BYTES,
    annotators: Mapping[str, str] | None = None,
) -> LSRead:
    """Parse a Label Studio JSON export; InputError naming the task for anything that cannot be read.

    `annotators` names Label Studio user ids (``{"2": "bob"}``); exports that give only
    an id otherwise get ``labelstudio-user-<id>``.
    """
    label_map = label_map or parse_label_map(None)
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError:
        size = 0
    if size > max_bytes:
        raise InputError(f"{p.name} is {size / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB limit; split the export")
    try:
        doc = read_json(p, p.name)
    except InputError as e:
        where = _task_at_fault(p) if "invalid JSON" in str(e) else None
        raise InputError(f"{e}{where}" if where else str(e)) from None
    if isinstance(doc, dict) and "data" in doc:
        doc = [doc]  # one task on its own
    if not isinstance(doc, list):
        raise InputError(f"{p.name}: expected a Label Studio JSON export (a list of tasks), got {type(doc).__name__}")
    state = _ReadState(label_map, {str(k).strip(): v.strip() for k, v in (annotators or {}).items() if v.strip()})
    tasks = tuple(_task(i, raw, state, text_field, p.name) for i, raw in enumerate(doc))
    return LSRead(tasks=tasks, skipped=dict(state.skipped), utf16_spans=state.utf16, trimmed_spans=state.trimmed)


def _task_at_fault(path: Path) -> str | None:
    """" in task N" for a JSON syntax error inside the list of tasks: the tasks before it decode one by one."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    decoder = json.JSONDecoder()
    pos = len(text) - len(text.lstrip())
    if not text.startswith("[", pos):
        return None
    pos += 1
    for index in itertools.count():
        while pos < len(text) and (text[pos].isspace() or text[pos] == ","):
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return None
        try:
            _, pos = decoder.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError):
            return f" (in task {index})"
    return None


@dataclass
class _ReadState:
    label_map: LabelMap
    annotators: Mapping[str, str]
    skipped: Counter = field(default_factory=Counter)
    utf16: int = 0
    trimmed: int = 0


def _task(index: int, raw: Any, state: _ReadState, text_field: str | None, file: str) -> LSTask:
    if not isinstance(raw, dict):
        raise InputError(f"{file}: task {index}: expected an object, got {type(raw).__name__}")
    task_id = raw.get("id")
    where = f"{file}: task {index}" + (f" (id {task_id})" if task_id is not None else "")
    data = raw.get("data")
    if not isinstance(data, dict):
        raise InputError(f"{where}: no 'data' object")
    text = data.get(_text_key(data, text_field, where))
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{where}: the text is empty or not a string")
    check_unicode(text, where)
    lang = data.get("lang") if isinstance(data.get("lang"), str) and data.get("lang") else None
    given_id = data.get("xsent_external_id")
    if isinstance(given_id, str) and given_id:
        external_id = given_id
    elif isinstance(task_id, (int, str)) and not isinstance(task_id, bool) and str(task_id):
        external_id = f"labelstudio:{task_id}"
    else:  # no id: the text itself identifies the task across re-imports
        external_id = "labelstudio:text-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    names = {**_annotator_names(raw.get("meta")), **state.annotators}
    annotations = []
    for k, ann in enumerate(_list(raw, ("annotations", "completions"), where)):
        w = f"{where}: annotation {k}"
        if not isinstance(ann, dict):
            raise InputError(f"{w}: expected an object, got {type(ann).__name__}")
        if ann.get("was_cancelled"):
            state.skipped["cancelled (skipped) annotation"] += 1
            continue
        label, spans = _results(ann.get("result"), text, w, state)
        if label is None and not spans:
            state.skipped["annotation without a sentiment label or span (skipped)"] += 1
            continue
        annotations.append(LSAnnotation(_annotator(ann.get("completed_by"), names), _time(ann.get("created_at"), w), label, spans))
    predictions = []
    for k, pred in enumerate(_list(raw, ("predictions",), where)):
        w = f"{where}: prediction {k}"
        if not isinstance(pred, dict):
            raise InputError(f"{w}: expected an object, got {type(pred).__name__}")
        label, spans = _results(pred.get("result"), text, w, state)
        if label is None and not spans:
            state.skipped["prediction without a sentiment label or span (skipped)"] += 1
            continue
        score = pred.get("score")
        score = float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None
        version = pred.get("model_version")
        predictions.append(LSPrediction(str(version) if version not in (None, "") else "label-studio", score, label, spans))
    # versions are stored in time order; undated ones keep file order, after dated ones
    annotations.sort(key=lambda a: (a.created is None, a.created or ""))
    return LSTask(index, external_id, text, lang, tuple(annotations), tuple(predictions))


def _text_key(data: Mapping[str, Any], text_field: str | None, where: str) -> str:
    if text_field:
        if text_field not in data:
            raise InputError(f"{where}: no data field {text_field!r} (fields: {', '.join(map(str, data)) or 'none'})")
        return text_field
    if "text" in data:
        return "text"
    strings = [k for k, v in data.items() if isinstance(v, str) and k not in ("lang", "xsent_external_id")]
    if len(strings) == 1:
        return strings[0]
    raise InputError(
        f"{where}: cannot tell which data field holds the text (fields: {', '.join(map(str, data)) or 'none'}); "
        "name it with the text-field option"
    )


def _list(raw: Mapping[str, Any], keys: Sequence[str], where: str) -> list[Any]:
    for key in keys:
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            raise InputError(f"{where}: '{key}' must be a list, got {type(value).__name__}")
        return value
    return []


def _annotator_names(meta: Any) -> Mapping[str, str]:
    names = meta.get("xsent_annotators") if isinstance(meta, dict) else None
    return {str(k): v for k, v in names.items() if isinstance(v, str) and v.strip()} if isinstance(names, dict) else {}


def _annotator(completed_by: Any, names: Mapping[str, str]) -> str:
    """Label Studio writes a user id (newer) or a user object (older exports)."""
    if isinstance(completed_by, dict):
        for key in ("email", "username"):
            if isinstance(completed_by.get(key), str) and completed_by[key].strip():
                return completed_by[key].strip()
        completed_by = completed_by.get("id")
    if isinstance(completed_by, str) and completed_by.strip() and not completed_by.strip().isdigit():
        return completed_by.strip()
    if completed_by is None or isinstance(completed_by, bool):
        return "labelstudio"
    return names.get(str(completed_by).strip()) or f"labelstudio-user-{completed_by}"


def _time(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(value, tz=timezone.utc)  # legacy "completions" used epoch seconds
        elif isinstance(value, str):
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        else:
            raise ValueError(type(value).__name__)
    except (ValueError, OverflowError, OSError):
        raise InputError(f"{where}: created_at {value!r:.40} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # Label Studio writes UTC
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _results(results: Any, text: str, where: str, state: _ReadState) -> tuple[str | None, tuple[AspectSpan, ...]]:
    if results is None:
        return None, ()
    if not isinstance(results, list):
        raise InputError(f"{where}: 'result' must be a list, got {type(results).__name__}")
    labels: set[str] = set()
    spans: dict[tuple[int, int], str] = {}
    scores: dict[tuple[int, int], float] = {}
    for j, r in enumerate(results):
        w = f"{where}: result {j}"
        if not isinstance(r, dict):
            raise InputError(f"{w}: expected an object, got {type(r).__name__}")
        kind, value = r.get("type"), r.get("value")
        if kind not in ("labels", "choices"):
            state.skipped[f"result of type {kind!r} (skipped: only 'labels' and 'choices' carry sentiment)"] += 1
            continue
        if not isinstance(value, dict):
            raise InputError(f"{w}: 'value' must be an object")
        names = value.get(kind)
        if not isinstance(names, list) or not names:
            raise InputError(f"{w}: value.{kind} must be a non-empty list of label names")
        polarities = {_polarity(name, state.label_map, w) for name in names}
        if len(polarities) > 1:
            raise InputError(f"{w}: labels {names} mean different polarities ({', '.join(sorted(polarities))})")
        polarity = polarities.pop()
        if kind == "choices":
            labels.add(polarity)
            continue
        start, end = _code_points(value, text, w, state)
        if spans.get((start, end), polarity) != polarity:
            raise InputError(f"{w}: {text[start:end]!r} ({start}–{end}) is labelled both {spans[(start, end)]} and {polarity}")
        spans[(start, end)] = polarity
        if isinstance(r.get("score"), (int, float)) and not isinstance(r["score"], bool):
            scores[(start, end)] = min(max(float(r["score"]), 0.0), 1.0)  # a prediction's per-span confidence
    if len(labels) > 1:
        raise InputError(f"{where}: several sentence labels ({', '.join(sorted(labels))}); keep one choice per annotation")
    ordered = sorted(spans.items())
    for ((s1, e1), _), ((s2, e2), _) in zip(ordered, ordered[1:]):
        if s2 < e1:
            raise InputError(f"{where}: spans {text[s1:e1]!r} ({s1}–{e1}) and {text[s2:e2]!r} ({s2}–{e2}) overlap")
    out = tuple(AspectSpan(s, e, text[s:e], pol, scores.get((s, e), 1.0)) for (s, e), pol in ordered)
    return (labels.pop() if labels else None), out


def _polarity(name: Any, label_map: LabelMap, where: str) -> str:
    polarity = label_map.polarity(name)
    if polarity is None:
        shown = name if isinstance(name, str) else repr(name)
        raise InputError(
            f"{where}: label {shown!r} does not map to negative, neutral or positive; add it to the label map "
            f"as '{shown}=negative', '{shown}=neutral' or '{shown}=positive'"
        )
    return polarity


def _code_points(value: Mapping[str, Any], text: str, where: str, state: _ReadState) -> tuple[int, int]:
    start, end, given = value.get("start"), value.get("end"), value.get("text")
    if any(isinstance(x, bool) or not isinstance(x, int) for x in (start, end)):
        raise InputError(f"{where}: span start/end must be integers, got {start!r:.20}, {end!r:.20}")
    given = given if isinstance(given, str) else None
    if 0 <= start < end <= len(text) and (given is None or text[start:end] == given):
        s, e = start, end
    else:
        converted = _from_utf16(text, start, end)
        if converted is None or (given is not None and text[converted[0] : converted[1]] != given):
            shown = f"; its text {given!r:.60} is not at those offsets" if given is not None else ""
            raise InputError(
                f"{where}: span offsets {start}–{end} do not fit the task text ({len(text)} characters){shown}"
            )
        s, e = converted
        state.utf16 += 1
    ts, te = s, e
    while ts < te and text[ts].isspace():
        ts += 1
    while te > ts and text[te - 1].isspace():
        te -= 1
    if ts == te:
        raise InputError(f"{where}: span {s}–{e} covers only white space")
    if (ts, te) != (s, e):
        state.trimmed += 1
    return ts, te


def _from_utf16(text: str, start: int, end: int) -> tuple[int, int] | None:
    units = text.encode("utf-16-le")
    if not 0 <= start < end <= len(units) // 2:
        return None
    try:
        before = units[: 2 * start].decode("utf-16-le")
        inside = units[2 * start : 2 * end].decode("utf-16-le")
    except UnicodeDecodeError:  # an offset in the middle of a surrogate pair
        return None
    return len(before), len(before) + len(inside)


def examples_from_labelstudio(path: str | os.PathLike[str], label_map: LabelMap | None = None) -> list[Example]:
    """Each task as an Example carrying its latest annotation (for training and evaluation)."""
    read = read_labelstudio(path, label_map)
    out = []
    for t in read.tasks:
        latest = t.annotations[-1] if t.annotations else None
        out.append(
            Example(
                id=t.external_id,
                text=t.text,
                lang=t.lang,
                label=latest.label if latest else None,
                spans=latest.spans if latest else None,
                meta={"source": "labelstudio", "annotator": latest.annotator} if latest else {"source": "labelstudio"},
            )
        )
    return out


# ----------------------------------------------------------------------------- writing


def task_dict(task: LSTask, label_map: LabelMap, task_id: int) -> dict[str, Any]:
    """One task in Label Studio's import format (code-point offsets)."""
    annotators = sorted({a.annotator for a in task.annotations})
    ids = {name: i for i, name in enumerate(annotators, start=1)}
    data: dict[str, Any] = {"text": task.text, "xsent_external_id": task.external_id}
    if task.lang:
        data["lang"] = task.lang
    out: dict[str, Any] = {"id": task_id, "data": data}
    if annotators:
        # Label Studio keeps task meta through import and export; user ids alone would lose the names
        out["meta"] = {"xsent_annotators": {str(i): name for name, i in ids.items()}}
    out["annotations"] = [
        {
            "id": k,
            "completed_by": ids[a.annotator],
            "created_at": _ls_time(a.created),
            "updated_at": _ls_time(a.created),
            "was_cancelled": False,
            "ground_truth": False,
            "result": _result_items(task.text, a.label, a.spans, label_map, None),
        }
        for k, a in enumerate(task.annotations, start=1)
    ]
    out["predictions"] = [
        {
            "model_version": p.model_version,
            **({"score": round(p.score, 6)} if p.score is not None else {}),
            "result": _result_items(task.text, p.label, p.spans, label_map, p),
        }
        for p in task.predictions
    ]
    return out


def _result_items(
    text: str, label: str | None, spans: Iterable[AspectSpan], label_map: LabelMap, pred: LSPrediction | None
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for k, s in enumerate(spans, start=1):
        item = {
            "id": f"x{k}",
            "from_name": SPAN_CONTROL,
            "to_name": TEXT_OBJECT,
            "type": "labels",
            "value": {"start": s.start, "end": s.end, "text": text[s.start : s.end], "labels": [label_map.names[s.polarity]]},
        }
        if pred is not None:
            item["score"] = round(s.score, 6)
        items.append(item)
    if label is not None:
        item = {"id": "x0", "from_name": CHOICE_CONTROL, "to_name": TEXT_OBJECT, "type": "choices", "value": {"choices": [label_map.names[label]]}}
        if pred is not None and pred.probs and label in pred.probs:
            item["score"] = round(float(pred.probs[label]), 6)
        items.append(item)
    return items


def _ls_time(created: str | None) -> str | None:
    if created is None:
        return None
    moment = datetime.fromisoformat(created).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_labelstudio(path: str | os.PathLike[str], tasks: Sequence[LSTask], label_map: LabelMap | None = None) -> int:
    """Write tasks as one Label Studio JSON file (atomically); returns the task count."""
    label_map = label_map or parse_label_map(None)
    with atomic_writer(path) as f:
        json.dump([task_dict(t, label_map, i) for i, t in enumerate(tasks, start=1)], f, ensure_ascii=False, indent=1)
        f.write("\n")
    return len(tasks)


def labeling_config(label_map: LabelMap | None = None) -> str:
    """The Label Studio project configuration that matches what `write_labelstudio` writes."""
    names = (label_map or parse_label_map(None)).names
    colours = {"negative": "#d62728", "neutral": "#7f7f7f", "positive": "#2ca02c"}
    esc = lambda s: s.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")  # noqa: E731
    labels = "\n".join(f'    <Label value="{esc(names[p])}" background="{colours[p]}"/>' for p in POLARITIES)
    choices = "\n".join(f'    <Choice value="{esc(names[p])}"/>' for p in POLARITIES)
    return (
        "<View>\n"
        f'  <Text name="{TEXT_OBJECT}" value="$text"/>\n'
        f'  <Labels name="{SPAN_CONTROL}" toName="{TEXT_OBJECT}">\n{labels}\n  </Labels>\n'
        f'  <Choices name="{CHOICE_CONTROL}" toName="{TEXT_OBJECT}" choice="single" showInline="true">\n{choices}\n  </Choices>\n'
        "</View>\n"
    )


def examples_to_tasks(examples: Sequence[Example], annotator: str = "gold") -> list[LSTask]:
    """Dataset rows as tasks; a row's gold label/spans become one annotation by `annotator`."""
    tasks = []
    for i, ex in enumerate(examples):
        has_gold = ex.label is not None or bool(ex.spans)
        ann = (LSAnnotation(annotator, None, ex.label, tuple(ex.spans or ())),) if has_gold else ()
        tasks.append(LSTask(i, ex.id, ex.text, ex.lang, ann))
    return tasks
