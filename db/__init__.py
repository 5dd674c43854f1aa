"""xsent's store: one SQLite file (WAL) with documents, predictions, versioned annotations, jobs, models.

Open it with `Store.open(path)`; everything it returns is a frozen record from
`db.records`. Imports only `xsent_core.types` from the core, never UI code.
"""
from db.errors import NotFoundError, SchemaVersionError, StoreBusyError, StoreError
from db.records import (
    Annotation,
    AnnotatorLabels,
    Document,
    DocumentBundle,
    ImportedDocument,
    ImportedPrediction,
    ImportedVersion,
    ImportSummary,
    Job,
    ModelRecord,
    QueueItem,
    StoredPrediction,
)
from db.store import Store, process_alive

__all__ = [
    "Annotation",
    "AnnotatorLabels",
    "Document",
    "DocumentBundle",
    "ImportSummary",
    "ImportedDocument",
    "ImportedPrediction",
    "ImportedVersion",
    "Job",
    "ModelRecord",
    "NotFoundError",
    "QueueItem",
    "SchemaVersionError",
    "Store",
    "StoreBusyError",
    "StoreError",
    "StoredPrediction",
    "process_alive",
]
