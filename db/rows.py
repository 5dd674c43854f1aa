"""In-transaction helpers shared by the record kinds (each takes the open `Database`)."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from sqlite_utils import Database
from xsent_core.types import AspectSpan, Example, InputError, Prediction

from db import codec
from db.errors import NotFoundError
from db.records import Annotation, ImportedDocument, Job, ModelRecord


# External id under which a document xsent exported (to another tool) comes back when it had none.
EXPORTED_DOCUMENT_PREFIX = "xsent-document:"

_ANNOTATION_SELECT = """
SELECT a.id, a.document_id, a.version, a.parent_id, p.version AS parent_version,
       a.annotator, a.label, a.spans_json, a.note, a.created
FROM annotations AS a LEFT JOIN annotations AS p ON p.id = a.parent_id
"""


def _require_document(db: Database, document_id: int) -> None:
    if db.execute("SELECT 1 FROM documents WHERE id = ?", [document_id]).fetchone() is None:
        raise NotFoundError(f"document {document_id} is not in the store")


def _latest_version(db: Database, document_id: int) -> int:
    row = db.execute("SELECT max(version) FROM annotations WHERE document_id = ?", [document_id]).fetchone()
    return int(row[0] or 0)


def _insert_annotation(
    db: Database,
    document_id: int,
    version: int,
    parent_id: int | None,
    annotator: str,
    label: str | None,
    spans: tuple[AspectSpan, ...],
    note: str,
    created: str,
    idempotency_key: str | None = None,
) -> int:
    return int(
        db["annotations"]
        .insert(
            {
                "document_id": document_id,
                "version": version,
                "parent_id": parent_id,
                "annotator": annotator,
                "label": label,
                "spans_json": codec.spans_to_json(spans),
                "created": created,
                "note": note,
                "idempotency_key": idempotency_key,
            }
        )
        .last_pk
    )


def _append_annotation(
    db: Database,
    document_id: int,
    annotator: str,
    label: str | None,
    spans: tuple[AspectSpan, ...],
    parent_version: int | None,
    note: str,
    created: str | None = None,
    idempotency_key: str | None = None,
) -> Annotation:
    _require_document(db, document_id)
    # Under BEGIN IMMEDIATE nobody else can write, so max + 1 is ours.
    version = _latest_version(db, document_id) + 1
    parent_id = None
    if parent_version is not None:
        row = db.execute(
            "SELECT id FROM annotations WHERE document_id = ? AND version = ?", [document_id, parent_version]
        ).fetchone()
        if row is None:
            raise InputError(
                f"document {document_id} has no annotation version {parent_version} to start from "
                f"(latest is {version - 1})"
            )
        parent_id = int(row[0])
    created = created or codec.now_iso()
    ann_id = _insert_annotation(db, document_id, version, parent_id, annotator, label, spans, note, created, idempotency_key)
    return Annotation(
        id=ann_id,
        document_id=document_id,
        version=version,
        parent_id=parent_id,
        parent_version=parent_version,
        annotator=annotator,
        label=label,
        spans=spans,
        note=note,
        created=created,
    )


def _get_job(db: Database, job_id: int) -> Job:
    rows = list(db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))
    if not rows:
        raise NotFoundError(f"job {job_id} is not in the store")
    return codec.job_from_row(rows[0])


def _get_model(db: Database, name: str) -> ModelRecord:
    rows = list(db.query("SELECT * FROM models WHERE name = ?", [name]))
    if not rows:
        raise NotFoundError(f"model {name!r} is not registered")
    return codec.model_from_row(rows[0])


def _make_default(db: Database, method: str, name: str) -> None:
    # Clear first: the partial unique index allows one default per method.
    db.execute("UPDATE models SET is_default = 0 WHERE method = ? AND is_default = 1", [method])
    db.execute("UPDATE models SET is_default = 1 WHERE name = ?", [name])


def _example_from_row(r: Mapping[str, Any]) -> Example:
    annotated = r.get("a_version") is not None
    meta = {"document_id": r["id"], "source": r["source"], "external_id": r["external_id"]}
    if annotated:
        meta.update(annotation_version=r["a_version"], annotator=r["a_annotator"])
    return Example(
        id=str(r["id"]),
        text=r["text"],
        lang=r["lang"],
        label=r["a_label"] if annotated else None,
        spans=codec.spans_from_json(r["a_spans_json"]) if annotated else None,
        image=r["image"],
        meta=meta,
    )


def _prediction_row(
    document_id: int, model: str, model_version: str | None, method: str, prediction: Prediction
) -> dict[str, Any]:
    """A predictions row without its `created` time (the transaction stamps it)."""
    disagreement = codec.disagreement_of(prediction)
    return {
        "document_id": document_id,
        "model": model,
        "model_version": model_version,
        "method": method,
        "output_json": codec.to_json(prediction.to_dict(), "prediction"),
        "confidence": prediction.confidence,
        "disagreement": None if disagreement is None else int(disagreement),
    }


def _match_document(db: Database, item: ImportedDocument) -> int | None:
    row = db.execute(
        "SELECT id FROM documents WHERE external_id = ? AND text = ? ORDER BY id LIMIT 1", [item.external_id, item.text]
    ).fetchone()
    if row is not None:
        return int(row[0])
    prefix = EXPORTED_DOCUMENT_PREFIX
    if item.external_id.startswith(prefix) and item.external_id[len(prefix):].isdigit():
        row = db.execute(
            "SELECT id FROM documents WHERE id = ? AND text = ?", [int(item.external_id[len(prefix):]), item.text]
        ).fetchone()
        if row is not None:
            return int(row[0])
    return None


def _span_key(spans: Iterable[AspectSpan]) -> tuple[tuple[int, int, str], ...]:
    return tuple(sorted((s.start, s.end, s.polarity) for s in spans))


def _same_output(a: Prediction, b: Prediction) -> bool:
    """Same label and spans: what survives a trip through another tool (extras and warnings do not)."""
    return a.label == b.label and _span_key(a.spans or ()) == _span_key(b.spans or ())
