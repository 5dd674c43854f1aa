"""Table layout of the xsent store, as SQL, plus the constants the store validates against.

The DDL here is what migration 1 runs; it is frozen once released. Later changes go
into new migrations in `db/migrations.py`, never into these strings, so an old
database and a fresh one end up with the same schema.
"""
from __future__ import annotations

JOB_STATUSES: tuple[str, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED_JOB_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
QUEUE_ORDERS: tuple[str, ...] = ("newest", "lowest_confidence", "disagreement")
# Message a job gets when the process running it is gone (app restart, crash, kill).
INTERRUPTED_MESSAGE = "interrupted (process ended)"

SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied TEXT NOT NULL
);
"""

# Labels and statuses are spelled out (not built from Python constants) so that
# this migration stays byte-for-byte what it was when it shipped.
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    text TEXT NOT NULL,
    lang TEXT,
    image TEXT,
    source TEXT,
    external_id TEXT,
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_source ON documents (source, external_id);
CREATE INDEX IF NOT EXISTS documents_created ON documents (created);

CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY,
    document_id INTEGER NOT NULL REFERENCES documents (id),
    model TEXT NOT NULL,
    model_version TEXT,
    method TEXT NOT NULL,
    output_json TEXT NOT NULL,
    confidence REAL,
    disagreement INTEGER CHECK (disagreement IN (0, 1)),
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS predictions_document ON predictions (document_id, id);

CREATE TABLE IF NOT EXISTS annotations (
    id INTEGER PRIMARY KEY,
    document_id INTEGER NOT NULL REFERENCES documents (id),
    version INTEGER NOT NULL CHECK (version >= 1),
    parent_id INTEGER REFERENCES annotations (id),
    annotator TEXT NOT NULL CHECK (annotator <> ''),
    label TEXT CHECK (label IS NULL OR label IN ('negative', 'neutral', 'positive')),
    spans_json TEXT NOT NULL DEFAULT '[]',
    created TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    UNIQUE (document_id, version)
);
CREATE INDEX IF NOT EXISTS annotations_annotator ON annotations (document_id, annotator, version);

-- Annotation history is append-only: corrections and reverts add versions.
CREATE TRIGGER IF NOT EXISTS annotations_no_update BEFORE UPDATE ON annotations
BEGIN
    SELECT RAISE(ABORT, 'annotations are append-only: save a new version instead');
END;
CREATE TRIGGER IF NOT EXISTS annotations_no_delete BEFORE DELETE ON annotations
BEGIN
    SELECT RAISE(ABORT, 'annotations are append-only: save a new version instead');
END;
CREATE TRIGGER IF NOT EXISTS annotations_parent_same_document BEFORE INSERT ON annotations
WHEN NEW.parent_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM annotations AS p
    WHERE p.id = NEW.parent_id AND p.document_id = NEW.document_id AND p.version < NEW.version
)
BEGIN
    SELECT RAISE(ABORT, 'annotation parent must be an earlier version of the same document');
END;

CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    params_json TEXT NOT NULL DEFAULT '{}',
    progress REAL NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
    message TEXT NOT NULL DEFAULT '',
    checkpoint TEXT,
    metrics_json TEXT NOT NULL DEFAULT '{}',
    loss_history_json TEXT NOT NULL DEFAULT '[]',
    pid INTEGER,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, id);

CREATE TABLE IF NOT EXISTS models (
    name TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    encoder TEXT,
    data TEXT,
    metrics_json TEXT NOT NULL DEFAULT '{}',
    created TEXT NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    shipped INTEGER NOT NULL DEFAULT 0 CHECK (shipped IN (0, 1))
);
-- At most one default model per method.
CREATE UNIQUE INDEX IF NOT EXISTS models_one_default ON models (method) WHERE is_default = 1;
CREATE TRIGGER IF NOT EXISTS models_keep_shipped BEFORE DELETE ON models WHEN OLD.shipped = 1
BEGIN
    SELECT RAISE(ABORT, 'models shipped with xsent cannot be deleted');
END;
"""

# A client-chosen key per save: a retried save with the same key returns the version
# the first attempt stored instead of adding another.
SCHEMA_V2 = """
ALTER TABLE annotations ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS annotations_idempotency
    ON annotations (document_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
"""
