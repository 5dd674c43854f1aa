"""The store's connection layer: one SQLite file, a connection per thread, WAL, and
write transactions that take the lock up front and retry with backoff (see db.store).
"""
from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Callable, Mapping, NoReturn, Self, Sequence, TypeVar

from sqlite_utils import Database
from xsent_core.types import InputError

from db.errors import StoreBusyError, StoreError
from db.migrations import migrate


T = TypeVar("T")

DEFAULT_BUSY_TIMEOUT_S = 10.0
DEFAULT_WRITE_ATTEMPTS = 6


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


class StoreConnection:
    """Opening, closing, per-thread connections and transactions; the record kinds build on it."""
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
    ) -> Self:
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

    def __enter__(self) -> Self:
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
