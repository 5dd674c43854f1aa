"""Ordered schema migrations and the runner that brings a database up to date.

Each migration has the next version number, runs in its own `BEGIN IMMEDIATE`
transaction together with the `schema_version` row that records it, and is
skipped when that version is already recorded, so re-opening an up-to-date
database changes nothing. A database whose version is newer than the newest
migration here was written by a newer xsent and is refused rather than guessed at.

To change the schema, append `Migration(N + 1, "what it does", SQL or function)`;
never edit a released one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, Union

from sqlite_utils import Database

from db import schema
from db.codec import now_iso
from db.errors import SchemaVersionError

MigrationStep = Union[str, Callable[[Database], None]]


@dataclass(frozen=True)
class Migration:
    """One step: `apply` is SQL (one or more statements) or a function of the database."""

    version: int
    name: str
    apply: MigrationStep


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "documents, predictions, annotations, jobs, models", schema.SCHEMA_V1),
    Migration(2, "annotations.idempotency_key (retry-safe saves)", schema.SCHEMA_V2),
)

LATEST_VERSION: int = MIGRATIONS[-1].version


def schema_version(db: Database) -> int:
    """Version recorded in the database; 0 for a database without xsent tables."""
    if not db["schema_version"].exists():
        return 0
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(db: Database, *, where: str, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply pending migrations in order; returns the version the database is at.

    `db` must be in driver autocommit mode (isolation_level None): this function
    issues BEGIN/COMMIT itself. `where` names the file in error messages.
    """
    _check_sequence(migrations)
    latest = migrations[-1].version if migrations else 0
    current = schema_version(db)
    _refuse_newer(current, latest, where)
    if current == latest:
        return current
    if current == 0:
        _refuse_foreign_tables(db, where)
    conn = db.conn
    for migration in migrations:
        if migration.version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            db.executescript(schema.SCHEMA_VERSION_TABLE)
            # Re-read under the write lock: another process may have migrated meanwhile.
            current = schema_version(db)
            _refuse_newer(current, latest, where)
            if current < migration.version:
                _run(db, migration.apply)
                db.execute(
                    "INSERT INTO schema_version (version, name, applied) VALUES (?, ?, ?)",
                    [migration.version, migration.name, now_iso()],
                )
                current = migration.version
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return current


def _run(db: Database, step: MigrationStep) -> None:
    if isinstance(step, str):
        db.executescript(step)  # inside a transaction sqlite-utils runs it statement by statement
    else:
        step(db)


def _check_sequence(migrations: Sequence[Migration]) -> None:
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migrations must be numbered 1, 2, 3... in order; got {versions}")


def _refuse_newer(current: int, latest: int, where: str) -> None:
    if current > latest:
        raise SchemaVersionError(
            f"{where} uses database schema version {current}, but this xsent only knows "
            f"versions up to {latest}: it was written by a newer xsent. Upgrade xsent, "
            f"or open a different database file."
        )


def _refuse_foreign_tables(db: Database, where: str) -> None:
    names = [n for n in db.table_names() if not n.startswith("sqlite_")]
    if names:
        raise SchemaVersionError(
            f"{where} is an SQLite database that xsent did not create (tables: "
            f"{', '.join(sorted(names)[:5])}); choose another path for the xsent store."
        )
