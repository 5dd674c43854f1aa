"""The store: schema and migrations, append-only annotation versions, queue, jobs, models."""
from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from db import (
    ModelRecord,
    NotFoundError,
    SchemaVersionError,
    Store,
    StoreError,
)
from db.migrations import LATEST_VERSION, MIGRATIONS, Migration, migrate, schema_version
from db.validate import check_spans
from xsent_core.types import AspectSpan, Example, InputError, Prediction, XsentError

TEXT = "The food was great but the service was slow"  # food: 4-8, service: 27-34


@pytest.fixture()
def path(tmp_path):
    return tmp_path / "nested" / "xsent.sqlite3"


@pytest.fixture()
def store(path):
    s = Store.open(path)
    yield s
    s.close()


def _doc(store: Store, text: str = TEXT, ext: str = "a") -> int:
    return store.add_documents([Example(id=ext, text=text)], source="test")[0]


def _probs(conf: float) -> dict[str, float]:
    rest = (1 - conf) / 2
    return {"positive": conf, "neutral": rest, "negative": rest}


# ------------------------------------------------------------------ schema


def test_fresh_store_has_schema_wal_and_foreign_keys(store, path):
    assert path.exists()
    db = store._db()
    assert {"documents", "predictions", "annotations", "jobs", "models", "schema_version"} <= set(db.table_names())
    assert schema_version(db) == LATEST_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000


def test_reopening_is_idempotent_and_keeps_data(path):
    with Store.open(path) as s:
        doc = _doc(s)
        s.save_annotation(doc, "ann", "positive", [], None)
    with Store.open(path) as s:
        db = s._db()
        rows = list(db.query("SELECT version, name FROM schema_version ORDER BY version"))
        assert [r["version"] for r in rows] == list(range(1, LATEST_VERSION + 1))
        assert migrate(db, where=str(path)) == LATEST_VERSION
        assert list(db.query("SELECT version, name FROM schema_version ORDER BY version")) == rows
        assert s.current_annotation(doc).label == "positive"


def test_migrations_apply_in_order_once(path):
    calls = []

    def add_column(db):
        calls.append(3)
        db.execute("ALTER TABLE extra ADD COLUMN b TEXT")

    steps = (*MIGRATIONS, Migration(LATEST_VERSION + 1, "extra", "CREATE TABLE extra (a TEXT);"),
             Migration(LATEST_VERSION + 2, "extra.b", add_column))
    with Store.open(path) as s:
        db = s._db()
        assert migrate(db, where="t", migrations=steps) == LATEST_VERSION + 2
        assert migrate(db, where="t", migrations=steps) == LATEST_VERSION + 2
        assert calls == [3]
        assert [c.name for c in db["extra"].columns] == ["a", "b"]
        with pytest.raises(ValueError, match="in order"):
            migrate(db, where="t", migrations=(steps[0], steps[2]))


def test_failed_migration_rolls_back(path):
    def boom(db):
        db.execute("CREATE TABLE half (a TEXT)")
        raise RuntimeError("boom")

    with Store.open(path) as s:
        db = s._db()
        with pytest.raises(RuntimeError):
            migrate(db, where="t", migrations=(*MIGRATIONS, Migration(LATEST_VERSION + 1, "boom", boom)))
        assert "half" not in db.table_names()
        assert schema_version(db) == LATEST_VERSION


def test_newer_schema_is_refused(path):
    Store.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?, 'future', 'x')", [LATEST_VERSION + 1])
    with pytest.raises(SchemaVersionError, match=r"newer xsent") as e:
        Store.open(path)
    assert str(path) in str(e.value) and f"version {LATEST_VERSION + 1}" in str(e.value)


def test_foreign_sqlite_file_is_refused(path):
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(SchemaVersionError, match="did not create"):
        Store.open(path)


@pytest.mark.parametrize("content", [b"id,text\n1,hello\n" * 50, b"SQLite format 3\x00" + b"\xff" * 4000])
def test_non_sqlite_or_corrupt_file_gives_clear_error(path, content):
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(XsentError) as e:
        Store.open(path)
    assert str(path) in str(e.value) and "not a usable xsent database" in str(e.value)
    assert path.read_bytes() == content  # nothing was written to it


def test_folder_or_memory_path_is_refused(tmp_path):
    with pytest.raises(StoreError, match="folder"):
        Store.open(tmp_path)
    with pytest.raises(StoreError, match="file path"):
        Store.open(":memory:")


# --------------------------------------------------------------- documents


def test_documents_and_predictions(store):
    ids = store.add_documents(
        [Example(id="r1", text="ကောင်းတယ်", lang="my"), Example(id="r2", text="bad", image="img/2.png")], "upload"
    )
    assert store.get_document(ids[0]).text == "ကောင်းတယ်"
    assert store.get_document(ids[1]).external_id == "r2"
    assert [d.id for d in store.list_documents()] == ids[::-1]
    assert [d.id for d in store.list_documents(lang="my")] == [ids[0]]
    assert store.count_documents(source="upload") == 2
    with pytest.raises(NotFoundError):
        store.get_document(999)
    with pytest.raises(InputError, match="neither text nor an image"):
        store.add_documents([Example(id="e", text="  ")])

    p_id = store.record_prediction(ids[0], "m", "v1", "lfd_rt", Prediction(label="positive", probs=_probs(0.7)))
    p2 = store.record_prediction(
        ids[0], "m2", None, "lfd_rt", Prediction(label="negative", probs=_probs(0.5), extras={"heads_agree": True})
    )
    latest = store.latest_prediction(ids[0])
    assert latest.id == p2 and latest.disagreement is False and latest.prediction.label == "negative"
    first = store.latest_prediction(ids[0], model="m")
    assert first.id == p_id and first.confidence == pytest.approx(0.7) and first.disagreement is None
    assert store.latest_prediction(ids[1]) is None
    with pytest.raises(NotFoundError):
        store.record_prediction(999, "m", None, "x", Prediction(label="neutral"))


# ------------------------------------------------------------- annotations


def test_versions_are_append_only_with_parents(store):
    doc = _doc(store)
    food = AspectSpan(4, 8, "food", "positive")
    a1 = store.save_annotation(doc, "ann1", "positive", [food], None)
    a2 = store.save_annotation(doc, "ann2", "neutral", [food, {"start": 27, "end": 34, "polarity": "negative"}], 1)
    assert (a1.version, a1.parent_id, a1.stale_parent) == (1, None, False)
    assert (a2.version, a2.parent_id, a2.parent_version, a2.stale_parent) == (2, a1.id, 1, False)
    assert a2.spans[1].text == "service"  # filled in from the document

    # ann1 started from version 1 while ann2 saved version 2: both kept, the later is current.
    a3 = store.save_annotation(doc, "ann1", "negative", [], 1, note="second look")
    assert (a3.version, a3.parent_version, a3.stale_parent, a3.conflicting_version) == (3, 1, True, 2)
    assert store.current_annotation(doc) == a3
    history = store.annotation_history(doc)
    assert [(a.version, a.parent_version, a.label) for a in history] == [
        (1, None, "positive"), (2, 1, "neutral"), (3, 1, "negative")]
    assert history[2].stale_parent and history[2].note == "second look"

    with pytest.raises(InputError, match="no annotation version 7"):
        store.save_annotation(doc, "ann1", "negative", [], 7)
    with pytest.raises(InputError, match="annotator"):
        store.save_annotation(doc, "  ", "negative", [], 3)
    with pytest.raises(NotFoundError):
        store.save_annotation(999, "ann1", "negative", [], None)
    db = store._db()
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE annotations SET label = 'positive' WHERE id = ?", [a3.id])
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM annotations WHERE id = ?", [a1.id])
    assert store.current_annotation(_doc(store, ext="b")) is None


def test_revert_creates_a_new_version(store):
    doc = _doc(store)
    store.save_annotation(doc, "ann1", "positive", [{"start": 4, "end": 8, "polarity": "positive"}], None)
    store.save_annotation(doc, "ann2", "negative", [], 1)
    r = store.revert_annotation(doc, 1, "ann3", note="typo")
    assert (r.version, r.parent_version, r.label, r.annotator) == (3, 2, "positive", "ann3")
    assert r.spans == store.annotation_history(doc)[0].spans and r.note == "reverted to version 1: typo"
    assert [a.version for a in store.annotation_history(doc)] == [1, 2, 3]
    with pytest.raises(InputError, match="already the current"):
        store.revert_annotation(doc, 3, "ann3")
    with pytest.raises(InputError, match="no annotation version 9"):
        store.revert_annotation(doc, 9, "ann3")


@pytest.mark.parametrize(
    "spans, label, message",
    [
        ([{"start": 4, "end": 8, "polarity": "positive"}, {"start": 6, "end": 12, "polarity": "negative"}],
         "positive", "overlap"),
        ([{"start": 5, "end": 5, "polarity": "positive"}], "positive", "empty"),
        ([{"start": 3, "end": 4, "polarity": "positive"}], "positive", "covers no text"),
        ([{"start": 40, "end": 50, "polarity": "positive"}], "positive", "past the end of the text"),
        ([{"start": 4, "end": 8, "polarity": "great"}], "positive", "unknown polarity"),
        ([{"start": 4, "end": 8, "text": "fool", "polarity": "positive"}], "positive", "the text there is 'food'"),
        ([{"end": 8, "polarity": "positive"}], "positive", "missing 'start'"),
        ([], None, "needs a sentence label or at least one aspect span"),
        ([], "great", "unknown label"),
    ],
)
def test_span_validation_errors(store, spans, label, message):
    doc = _doc(store)
    with pytest.raises(InputError, match=message) as e:
        store.save_annotation(doc, "ann", label, spans, None)
    assert f"document {doc}" in str(e.value)
    assert store.annotation_history(doc) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 8)), max_size=5))
def test_check_spans_accepts_only_disjoint_in_bounds_spans(raw):
    spans = [{"start": s, "end": s + n, "polarity": "neutral"} for s, n in raw]
    try:
        out = check_spans(spans, TEXT, "t")
    except InputError:
        return
    assert len(out) == len(spans)
    assert all(0 <= a.start < a.end <= len(TEXT) and a.text == TEXT[a.start:a.end] for a in out)
    assert all(a.end <= b.start for a, b in zip(out, out[1:]))


def test_queue_orders(store):
    texts = ["one", "two", "three", "four"]
    d1, d2, d3, d4 = (store.add_documents([Example(id=t, text=t)], "q")[0] for t in texts)
    store.record_prediction(d1, "m", None, "lfd_rt", Prediction(label="positive", probs=_probs(0.9),
                                                               extras={"heads_agree": False}))
    store.record_prediction(d2, "m", None, "lfd_rt", Prediction(label="positive", probs=_probs(0.4),
                                                               extras={"heads_agree": True}))
    store.record_prediction(d3, "m", None, "lfd_rt", Prediction(label="positive", probs=_probs(0.6)))
    # d3's latest prediction (another model) is the one that counts unless a model is named.
    store.record_prediction(d3, "m2", None, "lfd_rt", Prediction(label="positive", probs=_probs(0.35)))
    store.save_annotation(d2, "ann", "negative", [], None)

    def ids(order, **kw):
        return [q.document.id for q in store.annotation_queue(order, 10, 0, **kw)]

    assert ids("newest") == [d4, d3, d2, d1]
    assert ids("lowest_confidence") == [d3, d2, d1, d4]  # never predicted last
    assert ids("lowest_confidence", model="m") == [d2, d3, d1, d4]
    assert ids("disagreement") == [d1, d3, d2, d4]
    assert ids("disagreement", unannotated_only=True) == [d1, d3, d4]
    # the queue's disagreement rate: d1 splits, d2 agrees, d3's latest prediction and d4 have no heads
    assert store.head_disagreement() == (1, 2)
    assert store.head_disagreement(model="m2") == (0, 0)
    assert [q.document.id for q in store.annotation_queue("newest", 2, 1)] == [d3, d2]
    items = {q.document.id: q for q in store.annotation_queue("newest", 10, 0)}
    assert items[d2].annotation_version == 1 and items[d2].confidence == pytest.approx(0.4)
    assert items[d1].disagreement is True and items[d4].prediction is None and not items[d4].annotated
    with pytest.raises(InputError, match="unknown queue order"):
        store.annotation_queue("random")


def test_training_views_and_agreement(store):
    d1, d2, d3 = store.add_documents(
        [Example(id="x", text=TEXT, lang="en"), Example(id="y", text="fine"),
         Example(id="z", text="gold one", label="positive")], "s", gold_annotator="gold")
    store.save_annotation(d1, "ann1", "positive", [{"start": 4, "end": 8, "polarity": "positive"}], None)
    store.save_annotation(d1, "ann2", "negative", [], 1)
    store.save_annotation(d1, "ann1", "neutral", [], 2)  # ann1's latest on d1 is version 3

    examples = store.corrected_examples()
    assert [(e.id, e.label) for e in examples] == [(str(d1), "neutral"), (str(d3), "positive")]
    assert examples[0].lang == "en" and examples[0].spans == () and examples[0].meta["annotation_version"] == 3
    everything = store.corrected_examples(only_annotated=False)
    assert [(e.id, e.label, e.spans) for e in everything][1] == (str(d2), None, None)
    assert [e.id for e in store.unlabelled_texts()] == [str(d2)]

    (pair,) = store.annotator_pairs_agreement()
    assert pair.document.id == d1 and sorted(pair.by_annotator) == ["ann1", "ann2"]
    assert pair.by_annotator["ann1"].label == "neutral" and pair.by_annotator["ann2"].label == "negative"


# -------------------------------------------------------------------- jobs


def test_job_lifecycle(store):
    j1 = store.create_job("train", {"method": "lfd_rt", "epochs": 2})
    j2 = store.create_job("predict", {})
    assert (j1.status, j1.progress, j1.params["epochs"]) == ("queued", 0.0, 2)

    claimed = store.next_queued_job(pid=4321)
    assert (claimed.id, claimed.status, claimed.pid) == (j1.id, "running", 4321)
    store.update_job(j1.id, progress=0.5, append_loss=(1, 0.9), metrics={"epoch": 1})
    job = store.update_job(j1.id, append_loss=(2, 0.7), metrics={"f1": 0.6}, checkpoint="runs/1/ckpt", message="epoch 2")
    assert job.loss_history == ((1, 0.9), (2, 0.7)) and job.metrics == {"epoch": 1, "f1": 0.6}
    assert (job.checkpoint, job.message, job.progress) == ("runs/1/ckpt", "epoch 2", 0.5)
    done = store.update_job(j1.id, status="succeeded", progress=1.0)
    assert done.finished and done.updated >= done.created
    with pytest.raises(StoreError, match="already succeeded"):
        store.update_job(j1.id, status="running")
    with pytest.raises(InputError):
        store.update_job(j1.id, progress=1.5)
    with pytest.raises(InputError):
        store.update_job(j1.id, status="paused")
    with pytest.raises(NotFoundError):
        store.get_job(999)

    assert store.next_queued_job(kind="train") is None
    assert store.cancel_job(j2.id).status == "cancelled"
    assert store.next_queued_job() is None
    assert [j.id for j in store.list_jobs()] == [j2.id, j1.id]
    assert [j.id for j in store.list_jobs(status="succeeded")] == [j1.id]


def test_stale_running_jobs_become_failed(store):
    dead = store.create_job("train")
    live = store.create_job("train")
    queued = store.create_job("train")
    assert store.next_queued_job(pid=111).id == dead.id
    assert store.next_queued_job(pid=222).id == live.id
    changed = store.mark_stale_running_jobs_failed(alive=lambda pid: pid == 222)
    assert [j.id for j in changed] == [dead.id]
    assert store.get_job(dead.id).status == "failed"
    assert store.get_job(dead.id).message == "interrupted (process ended)"
    assert store.get_job(live.id).status == "running"
    assert store.get_job(queued.id).status == "queued"
    assert store.mark_stale_running_jobs_failed(alive=lambda pid: pid == 222) == []


# ------------------------------------------------------------------ models


def test_model_registry(store):
    shipped = store.register_model(ModelRecord("lfd-my", "lfd_rt", "assets/models/lfd-my", encoder="e5",
                                               metrics={"f1": 0.7}, is_default=True, shipped=True))
    assert shipped.created and shipped.is_default and store.default_model("lfd_rt").name == "lfd-my"
    mine = store.register_model(ModelRecord("mine", "lfd_rt", "runs/3", data="my corrections"))
    assert not mine.is_default and store.default_model("m2sa") is None
    with pytest.raises(StoreError, match="already registered"):
        store.register_model(ModelRecord("mine", "lfd_rt", "runs/4"))
    again = store.register_model(ModelRecord("mine", "lfd_rt", "runs/4"), replace=True)
    assert again.path == "runs/4" and again.created == mine.created

    assert store.set_default_model("lfd_rt", "mine").is_default
    assert store.default_model("lfd_rt").name == "mine" and not store.get_model("lfd-my").is_default
    with pytest.raises(StoreError, match="not m2sa"):
        store.set_default_model("m2sa", "mine")
    assert [m.name for m in store.list_models()] == ["lfd-my", "mine"]

    with pytest.raises(StoreError, match="ships with xsent and cannot be deleted"):
        store.delete_model("lfd-my")
    with pytest.raises(StoreError, match="cannot be replaced"):
        store.register_model(ModelRecord("lfd-my", "lfd_rt", "elsewhere"), replace=True)
    assert store.delete_model("mine").name == "mine"
    # the deleted model was the default: the shipped one takes over, so Predict keeps working
    assert store.default_model("lfd_rt").name == "lfd-my" and [m.name for m in store.list_models("lfd_rt")] == ["lfd-my"]
    store.register_model(ModelRecord("other", "m2sa", "runs/5", is_default=True))
    store.delete_model("other")
    assert store.default_model("m2sa") is None  # no shipped model to fall back on
    with pytest.raises(NotFoundError):
        store.delete_model("mine")


# ------------------------------------------------------------------ locking


def test_locked_writes_retry_then_fail_clearly(path):
    import threading

    with Store.open(path, busy_timeout_s=0.05, write_attempts=4) as store:
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        threading.Timer(0.2, other.execute, ["COMMIT"]).start()
        assert store.create_job("train").status == "queued"  # succeeded on a retry

        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError, match="stayed locked by another process"):
                store.create_job("train")
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert len(store.list_jobs()) == 1


def test_one_store_shared_by_threads(store):
    from concurrent.futures import ThreadPoolExecutor

    doc = _doc(store)

    def save(i):
        return store.save_annotation(doc, f"t{i % 4}", "neutral", [], None, note=str(i)).version

    with ThreadPoolExecutor(4) as pool:
        versions = sorted(pool.map(save, range(20)))
    assert versions == list(range(1, 21))


def test_a_retried_save_with_the_same_key_is_stored_once(store):
    from xsent_core.types import Example

    a, b = store.add_documents([Example(id="a", text="Nice tea"), Example(id="b", text="Cold soup")])
    first = store.save_annotation(a, "alice", "positive", [], None, idempotency_key="k-1")
    # the client never saw the answer (killed app, lost connection) and sends the same save again
    again = store.save_annotation(a, "alice", "positive", [], None, idempotency_key="k-1")
    assert (again.id, again.version) == (first.id, first.version)
    assert [v.version for v in store.annotation_history(a)] == [1]
    # a new key is a new save; keys belong to their document
    assert store.save_annotation(a, "alice", "neutral", [], 1, idempotency_key="k-2").version == 2
    assert store.save_annotation(b, "bob", "negative", [], None, idempotency_key="k-1").version == 1
    assert store.save_annotation(a, "alice", "negative", [], 2).version == 3  # no key: always a new version
    with pytest.raises(InputError, match="idempotency key"):
        store.save_annotation(a, "alice", "negative", [], 3, idempotency_key="")


def test_add_documents_can_reuse_an_identical_document(tmp_path):
    from db.store import Store
    from xsent_core.types import Example

    with Store.open(tmp_path / "s.sqlite3") as store:
        a = Example(id="k1", text="good soup")
        (first,) = store.add_documents([a], source="predict", reuse_existing=True)
        again = store.add_documents([a, a], source="predict", reuse_existing=True)
        assert again == [first, first]
        assert store.add_documents([a], source="predict") != [first]  # without the flag: a new document
        assert store.add_documents([a], source="import", reuse_existing=True) != [first]  # another source
        assert store.add_documents([Example(id="k1", text="good soup", image="x.png")], source="predict", reuse_existing=True) != [first]
        assert store.count_documents() == 4
