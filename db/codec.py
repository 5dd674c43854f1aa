"""Rows to records and back: JSON columns, timestamps, booleans."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Mapping

from xsent_core.types import AspectSpan, InputError, Prediction

from db.records import Annotation, Document, Job, ModelRecord, StoredPrediction


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def to_json(value: Any, what: str) -> str:
    try:
        # ensure_ascii=False keeps Burmese readable when someone opens the file.
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError) as e:
        raise InputError(f"{what} must be JSON-serialisable: {e}") from None


def spans_to_json(spans: tuple[AspectSpan, ...]) -> str:
    return to_json([s.to_dict() for s in spans], "spans")


def spans_from_json(text: str) -> tuple[AspectSpan, ...]:
    return tuple(AspectSpan.from_dict(d) for d in json.loads(text or "[]"))


def prediction_from_dict(d: Mapping[str, Any]) -> Prediction:
    spans = d.get("spans")
    return Prediction(
        label=d.get("label"),
        probs=dict(d["probs"]) if d.get("probs") is not None else None,
        spans=tuple(AspectSpan.from_dict(s) for s in spans) if spans is not None else None,
        extras=dict(d.get("extras") or {}),
        warnings=tuple(d.get("warnings") or ()),
        error=d.get("error"),
        notes=tuple(d.get("notes") or ()),
    )


def disagreement_of(prediction: Prediction) -> bool | None:
    """Heads disagree = not `extras["heads_agree"]`; None when the method does not report it."""
    agree = prediction.extras.get("heads_agree") if prediction.extras else None
    if agree is None:
        return None
    return not bool(agree)


def _opt_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def document_from_row(row: Mapping[str, Any], prefix: str = "") -> Document:
    return Document(
        id=row[prefix + "id"],
        text=row[prefix + "text"],
        lang=row[prefix + "lang"],
        image=row[prefix + "image"],
        source=row[prefix + "source"],
        external_id=row[prefix + "external_id"],
        created=row[prefix + "created"],
    )


def prediction_from_row(row: Mapping[str, Any], prefix: str = "") -> StoredPrediction:
    return StoredPrediction(
        id=row[prefix + "id"],
        document_id=row[prefix + "document_id"],
        model=row[prefix + "model"],
        model_version=row[prefix + "model_version"],
        method=row[prefix + "method"],
        prediction=prediction_from_dict(json.loads(row[prefix + "output_json"])),
        confidence=row[prefix + "confidence"],
        disagreement=_opt_bool(row[prefix + "disagreement"]),
        created=row[prefix + "created"],
    )


def annotation_from_row(row: Mapping[str, Any]) -> Annotation:
    return Annotation(
        id=row["id"],
        document_id=row["document_id"],
        version=row["version"],
        parent_id=row["parent_id"],
        parent_version=row["parent_version"],
        annotator=row["annotator"],
        label=row["label"],
        spans=spans_from_json(row["spans_json"]),
        note=row["note"],
        created=row["created"],
    )


def job_from_row(row: Mapping[str, Any]) -> Job:
    return Job(
        id=row["id"],
        kind=row["kind"],
        status=row["status"],
        params=json.loads(row["params_json"]),
        progress=float(row["progress"]),
        message=row["message"],
        checkpoint=row["checkpoint"],
        metrics=json.loads(row["metrics_json"]),
        loss_history=tuple((int(s), float(v)) for s, v in json.loads(row["loss_history_json"])),
        pid=row["pid"],
        created=row["created"],
        updated=row["updated"],
    )


def model_from_row(row: Mapping[str, Any]) -> ModelRecord:
    return ModelRecord(
        name=row["name"],
        method=row["method"],
        path=row["path"],
        encoder=row["encoder"],
        data=row["data"],
        metrics=json.loads(row["metrics_json"]),
        created=row["created"],
        is_default=bool(row["is_default"]),
        shipped=bool(row["shipped"]),
    )
