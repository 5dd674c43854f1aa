"""Several processes writing one store file: no lost or duplicated versions, crash-safe writes.

`db` is imported inside the functions: spawned workers import this module, and
they skip pandas/numpy (see `_open_in_worker`) before sqlite-utils is loaded.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time
from collections import Counter

from xsent_core.types import Example

WORKERS = 8
PER_WORKER = 25
JOBS = 12
LABELS = ("negative", "neutral", "positive")


def _open_in_worker(path):
    # sqlite-utils imports pandas and numpy eagerly (about 1 s of CPU per process
    # here) though the store never uses them; these throwaway workers skip them.
    for name in ("pandas", "numpy"):
        sys.modules.setdefault(name, None)
    from db import Store

    return Store.open(path)


def _annotating_worker(path, worker, shared_doc, own_doc, start, claimed):
    """Each write starts from the version it just read, as an annotator would."""
    with _open_in_worker(path) as store:
        start.wait(60)
        for i in range(PER_WORKER):
            for doc in (shared_doc, own_doc) if i % 5 == 0 else (shared_doc,):
                current = store.current_annotation(doc)
                store.save_annotation(
                    doc, f"w{worker}", LABELS[i % 3], [{"start": 0, "end": 4, "polarity": LABELS[(i + worker) % 3]}],
                    current.version if current else None, note=f"w{worker}-{i}",
                )
        while (job := store.next_queued_job()) is not None:
            claimed.put((job.id, job.pid, os.getpid()))


def test_eight_processes_append_versions_without_gaps_or_duplicates(tmp_path):
    from db import Store

    path = tmp_path / "xsent.sqlite3"
    with Store.open(path) as store:
        shared = store.add_documents([Example(id="shared", text="food was great")], "c")[0]
        own = store.add_documents([Example(id=f"own{w}", text="film was long") for w in range(WORKERS)], "c")
        jobs = [store.create_job("predict", {"n": n}).id for n in range(JOBS)]

    ctx = mp.get_context("spawn")
    start, claimed = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_annotating_worker, args=(str(path), w, shared, own[w], start, claimed))
             for w in range(WORKERS)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * WORKERS

    with Store.open(path) as store:
        history = store.annotation_history(shared)
        assert [a.version for a in history] == list(range(1, WORKERS * PER_WORKER + 1))
        assert Counter(a.note for a in history) == Counter(f"w{w}-{i}" for w in range(WORKERS) for i in range(PER_WORKER))
        by_id = {a.id: a for a in history}
        assert history[0].parent_id is None
        for a in history:
            # None when the worker read "no annotation yet" before anyone had saved.
            if a.parent_id is not None:
                assert by_id[a.parent_id].version == a.parent_version < a.version
        for w, doc in enumerate(own):
            own_history = store.annotation_history(doc)
            assert [a.version for a in own_history] == list(range(1, PER_WORKER // 5 + 1))
            assert all(a.annotator == f"w{w}" and not a.stale_parent for a in own_history)

        # Every queued job was claimed exactly once, by the process recorded on it.
        results = [claimed.get(timeout=10) for _ in range(JOBS)]
        assert sorted(r[0] for r in results) == jobs
        assert all(job_pid == worker_pid for _, job_pid, worker_pid in results)
        assert all(store.get_job(j).status == "running" for j in jobs)


def _stuck_writer(path, doc, in_transaction):
    """Saves an annotation but hangs inside the open transaction, holding the write lock."""
    store = _open_in_worker(path)

    def hang(op):
        in_transaction.set()
        time.sleep(120)

    store._before_commit = hang
    store.save_annotation(doc, "doomed", "negative", [], None, note="doomed")


def _waiting_writer(path, doc, about_to_write):
    with _open_in_worker(path) as store:
        about_to_write.set()
        store.save_annotation(doc, "patient", "positive", [], None, note="after the kill")


def test_writer_killed_inside_a_transaction_loses_only_its_write(tmp_path):
    from db import Store

    path = tmp_path / "xsent.sqlite3"
    with Store.open(path) as store:
        doc = store.add_documents([Example(id="d", text="food was great")], "c")[0]
        for v in range(3):
            store.save_annotation(doc, "early", "neutral", [], v or None, note=f"early{v}")

    ctx = mp.get_context("spawn")
    in_transaction, about_to_write = ctx.Event(), ctx.Event()
    stuck = ctx.Process(target=_stuck_writer, args=(str(path), doc, in_transaction))
    stuck.start()
    try:
        assert in_transaction.wait(30), "the writer never reached its transaction"
        waiting = ctx.Process(target=_waiting_writer, args=(str(path), doc, about_to_write))
        waiting.start()
        assert about_to_write.wait(30)
        time.sleep(0.3)  # let it block on the write lock
        os.kill(stuck.pid, signal.SIGKILL)
        stuck.join(10)
        waiting.join(30)
    finally:
        if stuck.is_alive():
            stuck.kill()
    assert stuck.exitcode == -signal.SIGKILL
    assert waiting.exitcode == 0

    with Store.open(path) as store:
        assert store._db().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        history = store.annotation_history(doc)
        assert [(a.version, a.note) for a in history] == [
            (1, "early0"), (2, "early1"), (3, "early2"), (4, "after the kill")]
        saved = store.save_annotation(doc, "later", "positive", [], 4)
        assert saved.version == 5 and not saved.stale_parent
