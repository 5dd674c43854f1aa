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

from db.annotations import AnnotationRecords
from db.connection import DEFAULT_BUSY_TIMEOUT_S, DEFAULT_WRITE_ATTEMPTS, process_alive
from db.documents import DocumentRecords
from db.jobs_table import JobRecords
from db.models_table import ModelRecords
from db.predictions import PredictionRecords
from db.rows import EXPORTED_DOCUMENT_PREFIX

__all__ = ["DEFAULT_BUSY_TIMEOUT_S", "DEFAULT_WRITE_ATTEMPTS", "EXPORTED_DOCUMENT_PREFIX", "Store", "process_alive"]


class Store(DocumentRecords, PredictionRecords, AnnotationRecords, JobRecords, ModelRecords):
    """Repository over one SQLite file. Open with `Store.open(path)`; close with `close()`.

    One class per record kind (db.documents, db.predictions, db.annotations,
    db.jobs_table, db.models_table) over one connection layer (db.connection).
    """
