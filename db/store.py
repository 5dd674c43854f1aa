"""The xsent store: documents, predictions, versioned annotations, jobs and models in one SQLite file.

Several processes (the app, training workers, the CLI) may use the same file at
once. The file runs in WAL mode, so readers never block the writer; every write
is one `BEGIN IMMEDIATE ... COMMIT` transaction, which takes the write lock up
front (a deferred transaction could fail half-way when it upgrades), waits up to
`busy_timeout_s` for it, and is retried with backoff if the lock stays taken.
A process killed inside a transaction loses only that transaction.

Each thread gets its own connection (Gradio runs handlers in a thread pool and
an sqlite3 connection must not interleave two threads' transactions).

The app keeps the database outside every folder it serves to browsers (it holds
annotator names and uploaded texts); `Store.open` does not check that.
"""
from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
import weakref
from collections import Counter
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, NoReturn, Sequence, TypeVar

from sqlite_utils import Database
from xsent_core.types import AspectSpan, Example, InputError, Prediction

from db import codec, validate
from db.errors import NotFoundError, StoreBusyError, StoreError
from db.migrations import migrate
from db.records import (
    Annotation,
    AnnotatorLabels,
    Document,
    DocumentBundle,
    ImportedDocument,
    ImportedVersion,
    ImportSummary,
    Job,
    ModelRecord,
    QueueItem,
    StoredPrediction,
)
from db.schema import FINISHED_JOB_STATUSES, INTERRUPTED_MESSAGE, JOB_STATUSES, QUEUE_ORDERS

T = TypeVar("T")

DEFAULT_BUSY_TIMEOUT_S = 10.0
DEFAULT_WRITE_ATTEMPTS = 6
# External id under which a document xsent exported (to another tool) comes back when it had none.
EXPORTED_DOCUMENT_PREFIX = "xsent-document:"

# Annotation rows joined with their parent's version number.
_ANNOTATION_SELECT = """
SELECT a.id, a.document_id, a.version, a.parent_id, p.version AS parent_version,
       a.annotator, a.label, a.spans_json, a.note, a.created
FROM annotations AS a LEFT JOIN annotations AS p ON p.id = a.parent_id
"""

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


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (on this machine); for `mark_stale_running_jobs_failed`."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return True


class Store:
    """Repository over one SQLite file. Open with `Store.open(path)`; close with `close()`."""

    def __init__(self, path: Path, *, busy_timeout_s: float, write_attempts: int) -> None:
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        self._write_attempts = max(1, write_attempts)
        self._local = threading.local()
        self._lock = threading.Lock()
        # Weak: a connection closes by itself when its thread ends (thread-local dropped).
        self._connections: weakref.WeakSet[Database] = weakref.WeakSet()
        self._inherited: list[Database] = []
        self._pid = os.getpid()
        self._closed = False
        # Test hook: called with the operation name inside the open write
        # transaction, just before COMMIT (used to kill a writer mid-transaction).
        self._before_commit: Callable[[str], None] | None = None

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        write_attempts: int = DEFAULT_WRITE_ATTEMPTS,
    ) -> "Store":
        """Open (creating it and its folder if needed) and migrate the store at `path`.

        Raises StoreError when the file is not an SQLite database or was made by
        another program, SchemaVersionError when a newer xsent wrote it. The
        caller picks a path outside every folder the app serves (the file holds
        annotator names and uploaded texts); this method does not check.
        """
        if str(path) in ("", ":memory:"):
            raise StoreError("the xsent store needs a file path (each process and thread opens it)")
        p = Path(path).expanduser()
        if p.is_dir():
            raise StoreError(f"{p} is a folder; give a file path for the xsent database")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the folder for the xsent database {p}: {e}") from None
        store = cls(p, busy_timeout_s=busy_timeout_s, write_attempts=write_attempts)
        try:
            db = store._db()
            try:
                migrate(db, where=str(p))
            except sqlite3.DatabaseError as e:
                store._raise_translated(e, "open")
        except BaseException:
            store.close()
            raise
        return store

    @property
    def path(self) -> Path:
        return self._path

    def close(self) -> None:
        """Close every connection this store opened (in any thread)."""
        with self._lock:
            self._closed = True
            connections, self._connections = list(self._connections), weakref.WeakSet()
        for db in connections:
            try:
                db.close()
            except sqlite3.Error:
                pass

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _db(self) -> Database:
        if self._closed:
            raise StoreError(f"the store {self._path} is closed")
        if os.getpid() != self._pid:
            self._forget_inherited_connections()
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            self._local.db = db
            with self._lock:
                self._connections.add(db)
        return db

    def _forget_inherited_connections(self) -> None:
        # After fork the parent's connections must not be used (nor closed: that
        # could disturb the parent's locks); keep them referenced and start over.
        with self._lock:
            self._inherited.extend(self._connections)
            self._connections = weakref.WeakSet()
            self._local = threading.local()
            self._pid = os.getpid()

    def _connect(self) -> Database:
        where = str(self._path)
        try:
            conn = sqlite3.connect(
                where,
                timeout=self._busy_timeout_s,
                isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
                check_same_thread=False,  # only so close() can run from any thread
            )
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the xsent database {where}: {e}") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(
                    f"{where}: SQLite would not switch to WAL mode (got {mode!r}); "
                    "keep the database on a local disk"
                )
            # FULL: a committed annotation survives a power cut, not just a crash.
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            return Database(conn, execute_plugins=False)
        except sqlite3.DatabaseError as e:
            conn.close()
            self._raise_translated(e, "open")
        except BaseException:
            conn.close()
            raise

    def _translate(self, e: sqlite3.DatabaseError, op: str) -> StoreError | None:
        """A user-facing error for lock and file problems; None for anything else (our bug: re-raise)."""
        msg = str(e)
        if _is_locked(e):
            return StoreBusyError(
                f"{op}: the database {self._path} stayed locked by another process "
                f"(waited {self._busy_timeout_s:g} s, {self._write_attempts} tries); try again"
            )
        if any(s in msg for s in ("not a database", "malformed", "encrypted")):
            return StoreError(
                f"{self._path} is not a usable xsent database ({msg}). "
                "Move the file aside or choose another path; nothing was changed."
            )
        if any(s in msg for s in ("readonly", "disk I/O", "disk is full", "unable to open")):
            return StoreError(f"{op}: cannot write the xsent database {self._path}: {msg}")
        return None

    def _raise_translated(self, e: sqlite3.DatabaseError, op: str) -> NoReturn:
        translated = self._translate(e, op)
        if translated is None:
            raise e
        raise translated from None

    # -------------------------------------------------------------- transactions

    def _write(self, op: str, fn: Callable[[Database], T]) -> T:
        """Run `fn` in one BEGIN IMMEDIATE transaction, retrying while the file is locked.

        `fn` may run more than once, so it must only touch the database.
        """
        db = self._db()
        conn = db.conn
        for attempt in range(self._write_attempts):
            last = attempt == self._write_attempts - 1
            try:
                conn.execute("BEGIN IMMEDIATE")
                result = fn(db)
                if self._before_commit is not None:
                    self._before_commit(op)
                conn.execute("COMMIT")
                return result
            except sqlite3.DatabaseError as e:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if _retryable(e) and not last:
                    # Jittered exponential backoff: writers woken together don't collide again.
                    time.sleep(min(0.05 * 2**attempt, 1.0) * (0.5 + random.random()))
                    continue
                self._raise_translated(e, op)
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[dict[str, Any]]:
        try:
            return list(self._db().query(sql, params))
        except sqlite3.DatabaseError as e:
            self._raise_translated(e, "read")

    # ------------------------------------------------------------------ documents

    def add_documents(
        self,
        examples: Iterable[Example],
        source: str | None = None,
        *,
        gold_annotator: str | None = None,
        reuse_existing: bool = False,
    ) -> list[int]:
        """Store examples as documents (one transaction); returns their ids in order.

        `Example.id` is kept as `external_id`. Labels/spans on the examples are
        ignored unless `gold_annotator` is given: then each labelled example gets
        annotation version 1 by that annotator (e.g. "gold:semeval").
        With `reuse_existing`, a document of the same source, external id, text
        and image is returned instead of a new one (checked inside the write, so
        two concurrent calls still store it once).
        """
        items = list(examples)
        gold: list[tuple[str | None, tuple[AspectSpan, ...]] | None] = []
        if gold_annotator is not None:
            gold_annotator = validate.check_annotator(gold_annotator)
        for ex in items:
            if not isinstance(ex, Example):
                raise InputError(f"add_documents takes Example records, got {type(ex).__name__}")
            if not ex.text.strip() and not ex.image:
                raise InputError(f"example {ex.id!r} has neither text nor an image")
            validate.check_text(ex.text, f"example {ex.id!r}")
            if gold_annotator is not None and (ex.label is not None or ex.spans):
                where = f"example {ex.id!r}"
                label = validate.check_label(ex.label, where)
                gold.append((label, validate.check_spans(ex.spans, ex.text, where)))
            else:
                gold.append(None)

        def tx(db: Database) -> list[int]:
            now = codec.now_iso()
            ids: list[int] = []
            for ex, g in zip(items, gold):
                if reuse_existing:
                    found = db.execute(
                        "SELECT id FROM documents WHERE source IS ? AND external_id IS ? AND text = ? AND image IS ? LIMIT 1",
                        [source, ex.id, ex.text, ex.image],
                    ).fetchone()
                    if found is not None:
                        ids.append(int(found[0]))
                        continue
                doc_id = db["documents"].insert(
                    {
                        "text": ex.text,
                        "lang": ex.lang,
                        "image": ex.image,
                        "source": source,
                        "external_id": ex.id,
                        "created": now,
                    }
                ).last_pk
                ids.append(int(doc_id))
                if g is not None:
                    note = f"imported from {source}"
                    _insert_annotation(db, int(doc_id), 1, None, gold_annotator or "", g[0], g[1], note, now)
            return ids

        return self._write("add_documents", tx)

    def get_document(self, document_id: int) -> Document:
        validate.check_number(document_id, "a document id")
        rows = self._read("SELECT * FROM documents WHERE id = ?", [document_id])
        if not rows:
            raise NotFoundError(f"document {document_id} is not in the store")
        return codec.document_from_row(rows[0])

    def list_documents(
        self,
        *,
        source: str | None = None,
        lang: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Document]:
        """Documents, newest first, optionally only from one source / language."""
        _check_page(limit, offset)
        rows = self._read(
            "SELECT * FROM documents WHERE (:source IS NULL OR source = :source) "
            "AND (:lang IS NULL OR lang = :lang) ORDER BY created DESC, id DESC "
            "LIMIT :limit OFFSET :offset",
            {"source": source, "lang": lang, "limit": limit, "offset": offset},
        )
        return [codec.document_from_row(r) for r in rows]

    def count_documents(self, *, source: str | None = None, lang: str | None = None) -> int:
        rows = self._read(
            "SELECT count(*) AS n FROM documents WHERE (:source IS NULL OR source = :source) "
            "AND (:lang IS NULL OR lang = :lang)",
            {"source": source, "lang": lang},
        )
        return int(rows[0]["n"])

    # ---------------------------------------------------------------- predictions

    def record_prediction(
        self,
        document_id: int,
        model: str,
        model_version: str | None,
        method: str,
        prediction: Prediction,
    ) -> int:
        """Keep a model's output for a document; returns the prediction id."""
        return self.record_predictions([(document_id, prediction)], model, model_version, method)[0]

    def record_predictions(
        self,
        items: Iterable[tuple[int, Prediction]],
        model: str,
        model_version: str | None,
        method: str,
    ) -> list[int]:
        """Many `(document_id, prediction)` pairs of one model in one transaction (batch runs)."""
        rows = []
        for document_id, prediction in items:
            if not isinstance(prediction, Prediction):
                raise InputError(f"record_prediction takes a Prediction, got {type(prediction).__name__}")
            rows.append(_prediction_row(document_id, model, model_version, method, prediction))

        def tx(db: Database) -> list[int]:
            now = codec.now_iso()
            ids = []
            for row in rows:
                _require_document(db, row["document_id"])
                ids.append(int(db["predictions"].insert({**row, "created": now}).last_pk))
            return ids

        return self._write("record_prediction", tx)

    def latest_prediction(self, document_id: int, model: str | None = None) -> StoredPrediction | None:
        rows = self._read(
            "SELECT * FROM predictions WHERE document_id = :doc AND (:model IS NULL OR model = :model) "
            "ORDER BY id DESC LIMIT 1",
            {"doc": document_id, "model": model},
        )
        return codec.prediction_from_row(rows[0]) if rows else None

    # ---------------------------------------------------------------- annotations

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

    # ----------------------------------------------------------------------- jobs

    def create_job(self, kind: str, params: Mapping[str, Any] | None = None) -> Job:
        """Queue a job; a worker picks it up with `next_queued_job`."""
        if not kind:
            raise InputError("a job needs a kind")
        params_json = codec.to_json(dict(params or {}), f"{kind} job parameters")

        def tx(db: Database) -> Job:
            now = codec.now_iso()
            job_id = db["jobs"].insert(
                {"kind": kind, "status": "queued", "params_json": params_json, "created": now, "updated": now}
            ).last_pk
            return _get_job(db, int(job_id))

        return self._write("create_job", tx)

    def update_job(
        self,
        job_id: int,
        *,
        status: str | None = None,
        progress: float | None = None,
        message: str | None = None,
        checkpoint: str | None = None,
        metrics: Mapping[str, Any] | None = None,
        append_loss: tuple[int, float] | None = None,
    ) -> Job:
        """Change what is given; `metrics` are merged into the stored ones, `append_loss` appended.

        A finished job (succeeded, failed, cancelled) cannot change status again:
        StoreError (a worker finishing a job the user cancelled sees this).
        """
        if status is not None and status not in JOB_STATUSES:
            raise InputError(f"unknown job status {status!r}; expected one of {JOB_STATUSES}")
        if progress is not None:
            progress = float(progress)
            if not 0.0 <= progress <= 1.0:
                raise InputError(f"job progress must be between 0 and 1, got {progress}")
        if metrics is not None:
            codec.to_json(dict(metrics), "job metrics")  # fail before taking the lock
        loss_point: tuple[int, float] | None = None
        if append_loss is not None:
            step, loss = append_loss
            loss_point = (int(step), float(loss))

        def tx(db: Database) -> Job:
            job = _get_job(db, job_id)
            changes: dict[str, Any] = {"updated": codec.now_iso()}
            if status is not None and status != job.status:
                if job.status in FINISHED_JOB_STATUSES:
                    raise StoreError(f"job {job_id} is already {job.status}; it cannot become {status}")
                changes["status"] = status
            if progress is not None:
                changes["progress"] = progress
            if message is not None:
                changes["message"] = message
            if checkpoint is not None:
                changes["checkpoint"] = checkpoint
            if metrics is not None:
                changes["metrics_json"] = codec.to_json({**job.metrics, **metrics}, "job metrics")
            if loss_point is not None:
                history = [*map(list, job.loss_history), list(loss_point)]
                changes["loss_history_json"] = codec.to_json(history, "loss history")
            sets = ", ".join(f"{k} = :{k}" for k in changes)
            db.execute(f"UPDATE jobs SET {sets} WHERE id = :id", {**changes, "id": job_id})
            return _get_job(db, job_id)

        return self._write("update_job", tx)

    def cancel_job(self, job_id: int, message: str = "cancelled") -> Job:
        """Mark a queued or running job cancelled; a finished job is returned unchanged.

        The worker running it notices by checking `get_job(id).status`.
        """

        def tx(db: Database) -> Job:
            db.execute(
                "UPDATE jobs SET status = 'cancelled', message = ?, updated = ? "
                "WHERE id = ? AND status IN ('queued', 'running')",
                [message, codec.now_iso(), job_id],
            )
            return _get_job(db, job_id)

        return self._write("cancel_job", tx)

    def get_job(self, job_id: int) -> Job:
        rows = self._read("SELECT * FROM jobs WHERE id = ?", [job_id])
        if not rows:
            raise NotFoundError(f"job {job_id} is not in the store")
        return codec.job_from_row(rows[0])

    def list_jobs(
        self, *, status: str | None = None, kind: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Job]:
        """Jobs, newest first."""
        if status is not None and status not in JOB_STATUSES:
            raise InputError(f"unknown job status {status!r}; expected one of {JOB_STATUSES}")
        _check_page(limit, offset)
        rows = self._read(
            "SELECT * FROM jobs WHERE (:status IS NULL OR status = :status) "
            "AND (:kind IS NULL OR kind = :kind) ORDER BY id DESC LIMIT :limit OFFSET :offset",
            {"status": status, "kind": kind, "limit": limit, "offset": offset},
        )
        return [codec.job_from_row(r) for r in rows]

    def next_queued_job(self, *, pid: int | None = None, kind: str | None = None) -> Job | None:
        """Claim the oldest queued job (of `kind`, if given): it becomes running with `pid` (default: ours).

        Atomic: two workers never claim the same job. None when nothing is queued.
        """
        owner = os.getpid() if pid is None else int(pid)

        def tx(db: Database) -> Job | None:
            row = db.execute(
                "SELECT id FROM jobs WHERE status = 'queued' AND (:kind IS NULL OR kind = :kind) "
                "ORDER BY id LIMIT 1",
                {"kind": kind},
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET status = 'running', pid = ?, updated = ? WHERE id = ?",
                [owner, codec.now_iso(), row[0]],
            )
            return _get_job(db, row[0])

        return self._write("next_queued_job", tx)

    def mark_stale_running_jobs_failed(self, alive: Callable[[int], bool] = process_alive) -> list[Job]:
        """At start-up: running jobs whose process is gone become failed, "interrupted (process ended)".

        Returns the jobs changed. `alive(pid)` is asked outside the transaction.
        """
        running = self._read("SELECT id, pid FROM jobs WHERE status = 'running'")
        dead = [(r["id"], r["pid"]) for r in running if r["pid"] is None or not alive(int(r["pid"]))]
        if not dead:
            return []

        def tx(db: Database) -> list[Job]:
            now = codec.now_iso()
            changed = []
            for job_id, pid in dead:
                cur = db.execute(
                    "UPDATE jobs SET status = 'failed', message = ?, updated = ? "
                    "WHERE id = ? AND status = 'running' AND pid IS ?",
                    [INTERRUPTED_MESSAGE, now, job_id, pid],
                )
                if cur.rowcount == 1:
                    changed.append(_get_job(db, job_id))
            return changed

        return self._write("mark_stale_running_jobs_failed", tx)

    # --------------------------------------------------------------------- models

    def register_model(self, record: ModelRecord, *, replace: bool = False) -> ModelRecord:
        """Add a model; with replace=True overwrite one of the same name (keeping its creation time).

        `record.is_default=True` makes it the default for its method. A replaced
        model stays default if it was. Shipped models cannot be replaced by
        non-shipped ones (that would make them deletable).
        """
        if not record.name or not record.method or not record.path:
            raise InputError("a model needs a name, a method and a path")
        metrics_json = codec.to_json(dict(record.metrics), f"metrics of model {record.name!r}")

        def tx(db: Database) -> ModelRecord:
            old = db.execute(
                "SELECT created, is_default, shipped FROM models WHERE name = ?", [record.name]
            ).fetchone()
            if old is not None and not replace:
                raise StoreError(f"a model named {record.name!r} is already registered; pick another name")
            if old is not None and old[2] and not record.shipped:
                raise StoreError(f"model {record.name!r} ships with xsent; it cannot be replaced by a local one")
            is_default = bool(record.is_default or (old is not None and old[1]))
            row = {
                "name": record.name,
                "method": record.method,
                "path": str(record.path),
                "encoder": record.encoder,
                "data": record.data,
                "metrics_json": metrics_json,
                "created": old[0] if old is not None else (record.created or codec.now_iso()),
                "is_default": 0,
                "shipped": int(record.shipped),
            }
            if old is None:
                db["models"].insert(row)
            else:
                sets = ", ".join(f"{k} = :{k}" for k in row if k != "name")
                db.execute(f"UPDATE models SET {sets} WHERE name = :name", row)
            if is_default:
                _make_default(db, record.method, record.name)
            return _get_model(db, record.name)

        return self._write("register_model", tx)

    def get_model(self, name: str) -> ModelRecord:
        rows = self._read("SELECT * FROM models WHERE name = ?", [name])
        if not rows:
            raise NotFoundError(f"model {name!r} is not registered")
        return codec.model_from_row(rows[0])

    def list_models(self, method: str | None = None) -> list[ModelRecord]:
        rows = self._read(
            "SELECT * FROM models WHERE (:method IS NULL OR method = :method) ORDER BY method, name",
            {"method": method},
        )
        return [codec.model_from_row(r) for r in rows]

    def default_model(self, method: str) -> ModelRecord | None:
        rows = self._read("SELECT * FROM models WHERE method = ? AND is_default = 1", [method])
        return codec.model_from_row(rows[0]) if rows else None

    def set_default_model(self, method: str, name: str) -> ModelRecord:
        def tx(db: Database) -> ModelRecord:
            model = _get_model(db, name)
            if model.method != method:
                raise StoreError(f"model {name!r} is a {model.method} model, not {method}")
            _make_default(db, method, name)
            return _get_model(db, name)

        return self._write("set_default_model", tx)

    def delete_model(self, name: str) -> ModelRecord:
        """Forget a registered model (its folder is left alone); shipped models are refused.

        Deleting a method's default makes its shipped model the default again.
        """

        def tx(db: Database) -> ModelRecord:
            model = _get_model(db, name)
            if model.shipped:
                raise StoreError(f"model {name!r} ships with xsent and cannot be deleted")
            db.execute("DELETE FROM models WHERE name = ?", [name])
            if model.is_default:  # the method keeps a default: its shipped model, when there is one
                row = db.execute(
                    "SELECT name FROM models WHERE method = ? AND shipped = 1 ORDER BY name LIMIT 1", [model.method]
                ).fetchone()
                if row is not None:
                    _make_default(db, model.method, row[0])
            return model

        return self._write("delete_model", tx)


# ------------------------------------------------------------------ helpers (in-transaction)


def _is_locked(e: sqlite3.DatabaseError) -> bool:
    msg = str(e).lower()
    return isinstance(e, sqlite3.OperationalError) and ("locked" in msg or "busy" in msg)


def _retryable(e: sqlite3.DatabaseError) -> bool:
    if _is_locked(e):
        return True
    # Two writers can't both pick the same version under BEGIN IMMEDIATE, but
    # retrying is the safe answer if it ever happens.
    return isinstance(e, sqlite3.IntegrityError) and "annotations.document_id, annotations.version" in str(e)


def _check_page(limit: int, offset: int) -> None:
    if not isinstance(limit, int) or not isinstance(offset, int) or limit < 0 or offset < 0:
        raise InputError(f"limit and offset must be whole numbers >= 0, got {limit!r} and {offset!r}")


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
