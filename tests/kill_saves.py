"""Retry-safe saves through the app while it is killed: gradio_client clients save
annotations, the server gets SIGKILL mid-burst and is started again on the same store.

Each save has its own idempotency key and a unique note. A save that got no
acknowledgment (an exception, a timeout, a reply other than "✓ Saved vN") is retried
with the same key until one comes: after a restart the client reconnects and opens
the document again (the session, and with it the parent version, died with the
server). Afterwards the store must hold every attempted save exactly once, with
versions 1..n per document and an intact database file.

Clients alternate between their own document and one all of them share, so saves
race on a document as well (a save from a stale parent is kept, with a notice).

Shared by tests/test_reliability_bench.py and benchmarks/reliability.py.
"""
from __future__ import annotations

import re
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from tests.app_server import AppServer

LABELS = ("negative", "neutral", "positive")
CALL_TIMEOUT_S = 30.0  # one request; a longer one is treated as lost and retried
GIVE_UP_S = 600.0  # a client still without an acknowledgment after this stops (and its save counts as lost)
_SAVED = re.compile(r"✓ Saved \*\*v(\d+)\*\*")


def seed_store(db: Path, clients: int) -> tuple[int, list[int]]:
    """(shared document id, one document id per client), written before the app starts."""
    from db import Store
    from xsent_core.types import Example

    with Store.open(db) as store:
        shared = store.add_documents([Example(id="shared", text="The soup was cold but the staff were kind.")], "bench")[0]
        own = store.add_documents(
            [Example(id=f"own{c}", text=f"Room {c} was small and the view lovely.") for c in range(clients)], "bench"
        )
    return shared, own


def saved_version(outputs: Any) -> int | None:
    """The version in the "✓ Saved **vN**" message among an endpoint's outputs, if any."""
    for value in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
        if isinstance(value, str) and (m := _SAVED.search(value)):
            return int(m.group(1))
    return None


def refused(outputs: Any) -> bool:
    return any(isinstance(v, str) and v.startswith("✗") for v in outputs)


class SaveClient:
    """One annotator's client: `saves` saves in order, each retried until acknowledged."""

    def __init__(self, url: str, number: int, documents: tuple[int, ...], saves: int) -> None:
        self.url = url
        self.number = number
        self.documents = documents
        self.saves = saves
        self.client: Any = None
        self.acked: dict[str, int] = {}  # note -> version the app said it stored
        self.attempts = 0
        self.retries = 0
        self.errors: list[str] = []

    def run(self) -> None:
        for i in range(self.saves):
            self.save_until_acknowledged(i)
        self.disconnect()

    def save_until_acknowledged(self, i: int) -> None:
        doc = self.documents[i % len(self.documents)]
        note = f"client{self.number}-save{i}"
        key = f"{note}-{uuid.uuid4().hex}"  # fresh per save, as the browser makes one per click
        deadline = time.time() + GIVE_UP_S
        pause = 0.2
        while time.time() < deadline:
            self.attempts += 1
            try:
                version = self.try_save(doc, LABELS[i % len(LABELS)], note, key)
            except Exception as e:  # connection refused/reset, timeout, server gone mid-request
                self.errors.append(f"{type(e).__name__}: {e}"[:200])
                self.disconnect()
                version = None
            if version is not None:
                self.acked[note] = version
                return
            self.retries += 1
            time.sleep(pause)
            pause = min(pause * 2, 2.0)  # back off while the server is down, as a polite client does

    def try_save(self, doc: int, label: str, note: str, key: str) -> int | None:
        client = self.connect()
        # the session holds the open document and its parent version: open it before every save
        if refused(self.call(client, "/annotate_open", doc)):
            return None
        return saved_version(self.call(client, "/annotate_save", label, f"client{self.number}", note, key))

    def call(self, client: Any, api: str, *args: Any) -> Any:
        # on a timeout the client is dropped (see save_until_acknowledged), its request with it
        return client.submit(*args, api_name=api).result(timeout=CALL_TIMEOUT_S)

    def connect(self) -> Any:
        from gradio_client import Client

        if self.client is None:
            self.client = Client(self.url, verbose=False, download_files=False, analytics_enabled=False)
        return self.client

    def disconnect(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


def wait_for_acks(workers: list[SaveClient], threads: list[threading.Thread], count: int) -> None:
    while sum(len(w.acked) for w in workers) < count and any(t.is_alive() for t in threads):
        time.sleep(0.05)


def store_check(db: Path, documents: list[int]) -> dict[str, Any]:
    """Every stored annotation's note, per document version lists, and SQLite's own check."""
    from db import Store

    with Store.open(db) as store:
        histories = [store.annotation_history(doc) for doc in documents]
    with sqlite3.connect(db) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    return {
        "notes": [(a.note, a.version, a.document_id) for h in histories for a in h],
        "version_gaps": sum([a.version for a in h] != list(range(1, len(h) + 1)) for h in histories),
        "integrity_check": integrity,
    }


def run_kill_retry_saves(server: AppServer, shared: int, own: list[int], saves: int = 25, kills: int = 1) -> dict[str, Any]:
    """One client per document in `own` (from `seed_store`, the app already serving), each also saving
    on `shared`; SIGKILL and restart the app `kills` times spread over the burst (same store and port),
    then count what the store kept. The app is left running."""
    clients = len(own)
    started = time.time()
    workers = [SaveClient(server.url, c, (own[c], shared), saves) for c in range(clients)]
    threads = [threading.Thread(target=w.run, name=f"save-client-{c}", daemon=True) for c, w in enumerate(workers)]
    for t in threads:
        t.start()
    total = clients * saves
    kill_log = []
    for k in range(kills):
        wait_for_acks(workers, threads, total * (k + 1) // (kills + 1))
        acked_before = sum(len(w.acked) for w in workers)
        server.kill()
        t = time.time()
        server.start()
        kill_log.append({"after_acks": acked_before, "restart_s": round(time.time() - t, 1)})
    for t in threads:
        t.join(GIVE_UP_S * saves)
    seconds = time.time() - started
    checked = store_check(server.db, [shared, *own])
    stored_notes = [n for n, _, _ in checked["notes"]]
    attempted = {f"client{c}-save{i}" for c in range(clients) for i in range(saves)}
    acked = {note: v for w in workers for note, v in w.acked.items()}
    stored_version = {note: v for note, v, _ in checked["notes"]}
    return {
        "clients": clients,
        "saves_per_client": saves,
        "attempted": len(attempted),
        "acknowledged": len(acked),
        "stored": len(stored_notes),
        "lost": len(attempted - set(stored_notes)),
        "duplicated": len(stored_notes) - len(set(stored_notes)),
        "unexpected": len(set(stored_notes) - attempted),
        "ack_version_mismatches": sum(stored_version.get(note) != v for note, v in acked.items()),
        "retries": sum(w.retries for w in workers),
        "attempts": sum(w.attempts for w in workers),
        "kills": len(kill_log),
        "kill_points": kill_log,
        "server_starts": server.starts,
        "version_gaps": checked["version_gaps"],
        "integrity_check": checked["integrity_check"],
        "client_errors_sample": sorted({e for w in workers for e in w.errors})[:8],
        "seconds": round(seconds, 1),
    }
