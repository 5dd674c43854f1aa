"""Versioned annotations, the queue, agreement, corrected data, imports and bundles."""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

from sqlite_utils import Database
from xsent_core.types import AspectSpan, Example, InputError, Prediction

from db import codec, validate
from db.connection import StoreConnection, _check_page
from db.records import Annotation, AnnotatorLabels, Document, DocumentBundle, ImportedDocument, ImportedVersion, ImportSummary, QueueItem, StoredPrediction
from db.rows import _ANNOTATION_SELECT, _append_annotation, _example_from_row, _latest_version, _match_document, _prediction_row, _require_document, _same_output, _span_key
from db.schema import QUEUE_ORDERS


# A document, its latest prediction (columns prefixed p_) and its current annotation version.
_QUEUE_SELECT = """
SELECT d.*,
       p.id AS p_id, p.document_id AS p_document_id, p.model AS p_model,
       p.model_version AS p_model_version, p.method AS p_method, p.output_json AS p_output_json,
       p.confidence AS p_confidence, p.disagreement AS p_disagreement, p.created AS p_created,
       (SELECT max(version) FROM annotations AS a WHERE a.document_id = d.id) AS annotation_version
FROM documents AS d
LEFT JOIN predictions AS p ON p.id = (
    SELECT id FROM predictions AS q
    WHERE q.document_id = d.id AND (:model IS NULL OR q.model = :model)
    ORDER BY q.id DESC LIMIT 1
)
"""

_QUEUE_ORDER_BY = MappingProxyType({
    "newest": "d.created DESC, d.id DESC",
    # Documents never predicted have no confidence: they go last.
    "lowest_confidence": "p.confidence IS NULL, p.confidence ASC, d.id ASC",
    "disagreement": "COALESCE(p.disagreement, 0) DESC, p.confidence IS NULL, p.confidence ASC, d.id ASC",
})


class AnnotationRecords(StoreConnection):
    """Versioned annotations, the queue, agreement, corrected data, imports and bundles."""

    def save_annotation(
        self,
        document_id: int,
        annotator: str,
        label: str | None,
        spans: Iterable[AspectSpan | Mapping[str, Any]] | None,
        parent_version: int | None,
        note: str = "",
        *,
        idempotency_key: str | None = None,
    ) -> Annotation:
        """Append a new annotation version (never overwrites).

        `idempotency_key` (any string the client picks per save, e.g. a UUID) makes
        the save retry-safe: a second save of the document with the same key stores
        nothing and returns the version the first one stored.

        `parent_version` is the version the annotator started from (None: from
        nothing). If someone saved a newer version meanwhile this one is still
        kept and becomes current; the returned record then has
        `stale_parent=True` and `conflicting_version` set, for the UI to say so.
        Raises InputError for bad spans (empty, out of the text, overlapping,
        unknown polarity), an unknown label, or a parent version that does not exist.
        """
        annotator = validate.check_annotator(annotator)
        where = f"document {document_id}"
        label = validate.check_label(label, where)
        validate.check_text(note or "", f"{where}: the note")
        if parent_version is not None and (
            isinstance(parent_version, bool) or not isinstance(parent_version, int)
        ):
            raise InputError(
                f"{where}: parent_version must be a version number or None, got {parent_version!r}"
            )
        # Documents never change, so the spans can be checked before taking the lock.
        checked = validate.check_spans(spans, self.get_document(document_id).text, where)
        if label is None and not checked:
            raise InputError(
                f"{where}: an annotation needs a sentence label or at least one aspect span"
            )

        if idempotency_key is not None and (not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= 200):
            raise InputError(f"{where}: an idempotency key is a string of 1-200 characters")
        if idempotency_key is not None:
            validate.check_text(idempotency_key, f"{where}: the idempotency key")

        def tx(db: Database) -> Annotation:
            if idempotency_key is not None:
                rows = list(
                    db.query(
                        _ANNOTATION_SELECT + " WHERE a.document_id = ? AND a.idempotency_key = ?",
                        [document_id, idempotency_key],
                    )
                )
                if rows:  # a retry of a save that was stored: answer as the first time
                    return codec.annotation_from_row(rows[0])
            return _append_annotation(
                db, document_id, annotator, label, checked, parent_version, note or "", idempotency_key=idempotency_key
            )

        return self._write("save_annotation", tx)

    def revert_annotation(self, document_id: int, to_version: int, annotator: str, note: str = "") -> Annotation:
        """Make `to_version`'s label and spans current again, as a NEW version on top of the latest."""
        annotator = validate.check_annotator(annotator)
        validate.check_number(document_id, "a document id")
        validate.check_number(to_version, "a version")
        validate.check_text(note or "", "the note")

        def tx(db: Database) -> Annotation:
            _require_document(db, document_id)
            rows = list(
                db.query(
                    _ANNOTATION_SELECT + " WHERE a.document_id = ? AND a.version = ?",
                    [document_id, to_version],
                )
            )
            latest = _latest_version(db, document_id)
            if not rows:
                raise InputError(
                    f"document {document_id} has no annotation version {to_version} (latest is {latest})"
                )
            if to_version == latest:
                raise InputError(
                    f"document {document_id}: version {to_version} is already the current annotation"
                )
            target = codec.annotation_from_row(rows[0])
            text = f"reverted to version {to_version}" + (f": {note}" if note else "")
            return _append_annotation(db, document_id, annotator, target.label, target.spans, latest, text)

        return self._write("revert_annotation", tx)

    def annotation_history(self, document_id: int) -> list[Annotation]:
        """Every version of a document's annotation, oldest first."""
        rows = self._read(_ANNOTATION_SELECT + " WHERE a.document_id = ? ORDER BY a.version", [document_id])
        return [codec.annotation_from_row(r) for r in rows]

    def current_annotation(self, document_id: int) -> Annotation | None:
        rows = self._read(
            _ANNOTATION_SELECT + " WHERE a.document_id = ? ORDER BY a.version DESC LIMIT 1", [document_id]
        )
        return codec.annotation_from_row(rows[0]) if rows else None

    def annotation_queue(
        self,
        order: str = "newest",
        limit: int = 50,
        offset: int = 0,
        *,
        model: str | None = None,
        unannotated_only: bool = False,
    ) -> list[QueueItem]:
        """Documents to annotate with their latest prediction (of `model`, or any) and current version.

        order: "newest" (documents added last first), "lowest_confidence"
        (least confident prediction first; never-predicted last), or
        "disagreement" (latest prediction's heads disagree first, then by
        lower confidence).
        """
        if order not in QUEUE_ORDERS:
            raise InputError(f"unknown queue order {order!r}; expected one of {QUEUE_ORDERS}")
        _check_page(limit, offset)
        where = ""
        if unannotated_only:
            where = " WHERE NOT EXISTS (SELECT 1 FROM annotations AS x WHERE x.document_id = d.id)"
        rows = self._read(
            _QUEUE_SELECT + where + f" ORDER BY {_QUEUE_ORDER_BY[order]} LIMIT :limit OFFSET :offset",
            {"model": model, "limit": limit, "offset": offset},
        )
        return [
            QueueItem(
                document=codec.document_from_row(r),
                prediction=codec.prediction_from_row(r, "p_") if r["p_id"] is not None else None,
                annotation_version=r["annotation_version"],
            )
            for r in rows
        ]

    def head_disagreement(self, model: str | None = None) -> tuple[int, int]:
        """(documents whose latest prediction's two heads disagree, documents whose latest
        prediction has two heads at all), over the latest prediction of `model`, or of any."""
        rows = self._read(
            "SELECT count(q.p_disagreement) AS n, COALESCE(sum(q.p_disagreement), 0) AS d FROM ("
            + _QUEUE_SELECT + ") AS q",
            {"model": model},
        )
        return int(rows[0]["d"]), int(rows[0]["n"])

    def annotator_pairs_agreement(self) -> list[AnnotatorLabels]:
        """For each document annotated by two or more annotators, each one's latest annotation.

        Input for inter-annotator agreement (kappa on labels, F1 on spans),
        which the metrics code computes.
        """
        rows = self._read(
            _ANNOTATION_SELECT
            + """
            JOIN (SELECT document_id, annotator, max(version) AS v FROM annotations
                  GROUP BY document_id, annotator) AS l
              ON l.document_id = a.document_id AND l.annotator = a.annotator AND l.v = a.version
            WHERE a.document_id IN (SELECT document_id FROM annotations GROUP BY document_id
                                    HAVING count(DISTINCT annotator) >= 2)
            ORDER BY a.document_id, a.annotator
            """
        )
        by_doc: dict[int, dict[str, Annotation]] = {}
        for r in rows:
            ann = codec.annotation_from_row(r)
            by_doc.setdefault(ann.document_id, {})[ann.annotator] = ann
        docs = self._documents_by_id(list(by_doc))
        return [AnnotatorLabels(document=docs[i], by_annotator=by_doc[i]) for i in sorted(by_doc)]

    def corrected_examples(self, only_annotated: bool = True) -> list[Example]:
        """Documents as Examples carrying their current annotation (label, spans), by id.

        `Example.id` is the document id as text; `meta` has document_id, source,
        external_id, annotation_version and annotator. With only_annotated=False
        never-annotated documents come too, with label and spans None.
        """
        rows = self._read(
            """
            SELECT d.*, a.version AS a_version, a.annotator AS a_annotator,
                   a.label AS a_label, a.spans_json AS a_spans_json
            FROM documents AS d
            LEFT JOIN annotations AS a ON a.document_id = d.id
                AND a.version = (SELECT max(version) FROM annotations AS m WHERE m.document_id = d.id)
            """
            + (" WHERE a.id IS NOT NULL" if only_annotated else "")
            + " ORDER BY d.id"
        )
        return [_example_from_row(r) for r in rows]

    def unlabelled_texts(self) -> list[Example]:
        """Documents nobody has annotated yet, as Examples (id = document id as text), by id."""
        rows = self._read(
            "SELECT d.*, NULL AS a_version FROM documents AS d WHERE NOT EXISTS "
            "(SELECT 1 FROM annotations AS a WHERE a.document_id = d.id) ORDER BY d.id"
        )
        return [_example_from_row(r) for r in rows]

    def import_documents(self, items: Sequence[ImportedDocument], source: str | None) -> ImportSummary:
        """Documents with annotation versions and predictions made elsewhere, in one transaction.

        A document is matched to a stored one with the same external id and text
        (or, for an id ``xsent-document:N`` that xsent exported, document N when its
        text is the same); otherwise it is added under `source`. Versions are
        appended in the given order with their own annotator and time; one the
        document already has (same annotator, time, label and spans; time ignored
        when none is given) is skipped, as is a prediction equal to one stored for
        the same model. So importing a file twice, or a file xsent exported back
        into its own store, adds nothing. Any bad record fails the whole import.
        """
        checked: list[tuple[ImportedDocument, list[tuple[ImportedVersion, tuple[AspectSpan, ...]]]]] = []
        for n, item in enumerate(items):
            if not isinstance(item, ImportedDocument):
                raise InputError(f"import_documents takes ImportedDocument records, got {type(item).__name__}")
            where = f"imported document {n} ({item.external_id})"
            if not item.text.strip():
                raise InputError(f"{where}: empty text")
            validate.check_text(item.text, where)
            versions = []
            for v in item.versions:
                annotator = validate.check_annotator(v.annotator)
                label = validate.check_label(v.label, where)
                spans = validate.check_spans(v.spans, item.text, where)
                if label is None and not spans:
                    raise InputError(f"{where}: a version by {annotator} has neither a label nor spans")
                versions.append((replace(v, annotator=annotator, label=label), spans))
            for pred in item.predictions:
                if not isinstance(pred.prediction, Prediction):
                    raise InputError(f"{where}: prediction of {pred.model!r} is not a Prediction")
                validate.check_spans(pred.prediction.spans, item.text, where)
            checked.append((item, versions))

        def tx(db: Database) -> ImportSummary:
            now = codec.now_iso()
            ids: list[int] = []
            counts = Counter()
            for item, versions in checked:
                doc_id = _match_document(db, item)
                if doc_id is None:
                    doc_id = int(
                        db["documents"].insert(
                            {"text": item.text, "lang": item.lang, "image": None, "source": source,
                             "external_id": item.external_id, "created": now}
                        ).last_pk
                    )
                    counts["documents_added"] += 1
                else:
                    counts["documents_matched"] += 1
                ids.append(doc_id)
                have = [codec.annotation_from_row(r) for r in db.query(_ANNOTATION_SELECT + " WHERE a.document_id = ?", [doc_id])]
                for v, spans in versions:
                    mine = (v.annotator, v.label, _span_key(spans))
                    if any(
                        (a.annotator, a.label, _span_key(a.spans)) == mine and (v.created is None or a.created == v.created)
                        for a in have
                    ):
                        counts["versions_skipped"] += 1
                        continue
                    latest = _latest_version(db, doc_id)
                    have.append(
                        _append_annotation(db, doc_id, v.annotator, v.label, spans, latest or None, v.note, created=v.created)
                    )
                    counts["versions_added"] += 1
                stored = [
                    (r["model"], codec.prediction_from_row(r).prediction)
                    for r in db.query("SELECT * FROM predictions WHERE document_id = ?", [doc_id])
                ]
                for pred in item.predictions:
                    if any(model == pred.model and _same_output(old, pred.prediction) for model, old in stored):
                        counts["predictions_skipped"] += 1
                        continue
                    row = _prediction_row(doc_id, pred.model, pred.model_version, pred.method, pred.prediction)
                    db["predictions"].insert({**row, "created": now})
                    stored.append((pred.model, pred.prediction))
                    counts["predictions_added"] += 1
            return ImportSummary(
                document_ids=tuple(ids),
                **{k: counts[k] for k in ("documents_added", "documents_matched", "versions_added", "versions_skipped",
                                          "predictions_added", "predictions_skipped")},
            )

        return self._write("import_documents", tx)

    def document_bundles(self, *, only_annotated: bool = False) -> list[DocumentBundle]:
        """Every document (or only annotated ones) with all its versions and each model's latest prediction, by id."""
        docs = self._read(
            "SELECT * FROM documents AS d"
            + (" WHERE EXISTS (SELECT 1 FROM annotations AS a WHERE a.document_id = d.id)" if only_annotated else "")
            + " ORDER BY d.id"
        )
        versions: dict[int, list[Annotation]] = {}
        for r in self._read(_ANNOTATION_SELECT + " ORDER BY a.document_id, a.version"):
            ann = codec.annotation_from_row(r)
            versions.setdefault(ann.document_id, []).append(ann)
        predictions: dict[int, list[StoredPrediction]] = {}
        latest = (
            "SELECT * FROM predictions WHERE id IN (SELECT max(id) FROM predictions GROUP BY document_id, model) "
            "ORDER BY document_id, model"
        )
        for r in self._read(latest):
            predictions.setdefault(r["document_id"], []).append(codec.prediction_from_row(r))
        return [
            DocumentBundle(
                document=codec.document_from_row(d),
                versions=tuple(versions.get(d["id"], ())),
                predictions=tuple(predictions.get(d["id"], ())),
            )
            for d in docs
        ]

    def _documents_by_id(self, ids: list[int]) -> dict[int, Document]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._read(f"SELECT * FROM documents WHERE id IN ({marks})", ids)
        return {r["id"]: codec.document_from_row(r) for r in rows}
