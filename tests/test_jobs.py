"""The app's job runner: queue in the store, one worker, cancel, stale jobs, a real tiny preset."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from db.store import Store
from views.jobs import JobCancelled, JobRunner, before_after_rows, check_params, progress_of, safe_name
from xsent_core.jobs import heldout_split, train_overrides
from views.services import AppSettings
from xsent_core.types import Example, InputError, XsentError


def wait_for(store: Store, job_id: int, statuses: set[str], timeout: float = 240.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = store.get_job(job_id)
        if job.status in statuses:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {store.get_job(job_id).status} after {timeout}s")


@pytest.fixture()
def env(tmp_path):
    settings = AppSettings(db_path=tmp_path / "s.sqlite3", models_dir=tmp_path / "models", work_dir=tmp_path / "work", device="cpu")
    store = Store.open(settings.db_path)
    runners: list[JobRunner] = []

    def make(**kw) -> JobRunner:
        r = JobRunner(store, settings, poll_s=0.1, **kw)
        runners.append(r)
        return r

    yield store, settings, make
    for r in runners:
        r.stop(timeout=60)
    store.close()


# ------------------------------------------------------------------ pure helpers


def test_safe_name_confines_to_one_folder_name():
    assert safe_name("../../etc/passwd", "x") == "etc-passwd"
    assert safe_name("  my model v2 ", "x") == "my-model-v2"
    assert safe_name("...", "fallback") == "fallback"
    assert "/" not in safe_name("a/b\\c", "x")


def test_check_params_validates_steps_lr_and_preset():
    ok = check_params("train_preset", {"method": "tagger", "preset": "tagger-tiny", "steps": "3", "lr": "0.001"})
    assert ok["steps"] == 3 and ok["lr"] == pytest.approx(0.001)
    with pytest.raises(InputError, match="steps"):
        check_params("train_preset", {"method": "tagger", "preset": "tagger-tiny", "steps": 0})
    with pytest.raises(InputError, match="learning rate"):
        check_params("train_preset", {"method": "tagger", "preset": "tagger-tiny", "lr": 5})
    with pytest.raises(XsentError, match="no preset"):
        check_params("train_preset", {"method": "tagger", "preset": "nope"})
    with pytest.raises(InputError, match="unknown job kind"):
        check_params("format_disk", {})
    assert check_params("distill", {})["data"] == "corrected"
    assert check_params("rethink", {})["data"] == "unlabelled"
    with pytest.raises(InputError, match="data must be"):
        check_params("distill", {"data": "everything"})


def test_train_overrides_keep_head_ratio():
    assert train_overrides(5e-5, 1e-3, None, None) == {}
    o = train_overrides(5e-5, 1e-3, 7, 1e-4)
    assert o["max_steps"] == 7 and o["epochs"] == 0
    assert o["head_lr"] == pytest.approx(2e-3)


def test_heldout_split_is_disjoint_and_deterministic():
    rows = [Example(id=str(i), text=f"t{i}", label=("positive" if i % 2 else "negative")) for i in range(20)]
    a_train, a_held = heldout_split(rows)
    b_train, b_held = heldout_split(rows)
    assert [r.id for r in a_held] == [r.id for r in b_held]
    assert not {r.id for r in a_train} & {r.id for r in a_held}
    assert len(a_held) == 4


def test_before_after_rows_and_progress():
    rows = before_after_rows({"before": {"f1": 0.5}, "after": {"f1": 0.625, "precision": 0.7}})
    assert rows[0] == ["f1", "0.500", "0.625", "+0.125"]
    assert rows[1][0] == "precision" and rows[1][1] == "—"

    class S:
        step, total_steps = 3, 4

    assert progress_of(S()) == 0.75


# ------------------------------------------------------------------ the runner


def test_stale_running_job_marked_failed_on_start(env):
    store, _, make = env
    job = store.create_job("train_preset", {"method": "tagger", "preset": "tagger-tiny"})
    claimed = store.next_queued_job(pid=2**22 + 12345)  # no such process
    assert claimed.id == job.id and claimed.status == "running"
    make().start()
    job = store.get_job(job.id)
    assert job.status == "failed" and "interrupted" in job.message


def test_cancel_queued_job_never_runs(env):
    store, _, make = env
    runner = make()  # not started: the job stays queued
    job = runner.submit("train_preset", {"method": "tagger", "preset": "tagger-tiny"})
    runner.cancel(job.id)
    runner.start()
    time.sleep(0.5)
    assert store.get_job(job.id).status == "cancelled"


def test_cancel_running_job_and_failures_keep_worker_alive(env, monkeypatch):
    store, _, make = env
    runner = make()
    started = threading.Event()

    def fake(job, cancel):
        if job.params.get("preset") == "tagger-tiny" and job.params.get("name") == "boom":
            raise XsentError("no data for this job")
        started.set()
        while not cancel.wait(0.05):
            pass
        return {}

    monkeypatch.setattr(runner, "_dispatch", fake)
    runner.start()
    bad = runner.submit("train_preset", {"method": "tagger", "preset": "tagger-tiny", "name": "boom"})
    assert wait_for(store, bad.id, {"failed"}).message == "no data for this job"
    job = runner.submit("train_preset", {"method": "tagger", "preset": "tagger-tiny"})
    assert started.wait(10)
    runner.cancel(job.id)
    done = wait_for(store, job.id, {"cancelled"}, timeout=10)
    assert "cancelled" in done.message
    assert runner.alive


def test_tiny_preset_job_completes_registers_model_with_before_after(env):
    store, settings, make = env
    seen: list[str] = []
    runner = make(on_model=seen.append).start()
    job = runner.submit("train_preset", {"method": "tagger", "preset": "tagger-tiny", "steps": 3, "name": "tiny job"})
    done = wait_for(store, job.id, {"succeeded", "failed", "cancelled"})
    assert done.status == "succeeded", done.message
    assert done.progress == 1.0
    assert [s for s, _ in done.loss_history] == [1, 2, 3]
    model = store.get_model("tiny-job")
    assert seen == ["tiny-job"]
    assert Path(model.path).parent == settings.models_dir.resolve()
    assert (Path(model.path) / "config.json").is_file()
    assert model.method == "tagger" and not model.shipped
    assert model.metrics["heldout"]["rows"] > 0
    assert "f1" in model.metrics["after"]
    assert done.metrics["model"] == "tiny-job"


@pytest.mark.slow
def test_distill_and_rethink_jobs_on_store_sentences(env, tiny_tagger_dir, tmp_path):
    """MSMO distillation (a corrected span is a hard label) and LFD-RT rethinking from the store."""
    from db.records import ModelRecord
    from xsent_core.recipes import run_preset
    from xsent_core.types import AspectSpan

    store, _, make = env
    lfdrt_dir = tmp_path / "lfdrt"
    assert run_preset("lfdrt", "lfdrt-tiny", lfdrt_dir, progress=False, evaluate_tests=False)["status"] == "finished"
    store.register_model(ModelRecord(name="t", method="tagger", path=str(tiny_tagger_dir), is_default=True))
    store.register_model(ModelRecord(name="l", method="lfdrt", path=str(lfdrt_dir), is_default=True))
    text = "The fish was fresh but the service was slow."
    ids = store.add_documents([Example(id=str(i), text=text) for i in range(3)], source="t")
    store.save_annotation(ids[0], "alice", "negative", [AspectSpan(4, 8, "fish", "positive")], None)
    runner = make().start()
    distill = runner.submit("distill", {"data": "all", "steps": 2})
    rethink = runner.submit("rethink", {"data": "unlabelled", "steps": 1, "lang": "en"})
    d = wait_for(store, distill.id, {"succeeded", "failed"}, timeout=600)
    assert d.status == "succeeded", d.message
    assert d.metrics["train_report"]["counts"]["hard"] == 1
    assert store.get_model(d.metrics["model"]).method == "msmo"
    r = wait_for(store, rethink.id, {"succeeded", "failed"}, timeout=600)
    assert r.status == "succeeded", r.message
    assert store.get_model(r.metrics["model"]).method == "lfdrt"
    assert "heads_agree_after" in r.metrics["train_report"]


def test_cancelled_failed_and_interrupted_jobs_leave_no_model_folder(env, monkeypatch):
    from db.records import ModelRecord

    store, settings, make = env
    models = settings.models_dir
    # interrupted by a restart: marked failed and its folder removed when the runner starts
    stale = store.create_job("train_preset", {"method": "tagger", "preset": "tagger-tiny"})
    store.next_queued_job(pid=2**22 + 12345)
    (models / "stale").mkdir(parents=True)
    store.update_job(stale.id, metrics={"model_dir": str(models / "stale")})
    # a registered model's folder and a folder outside models_dir are never touched
    (models / "kept").mkdir()
    store.register_model(ModelRecord("kept", "tagger", str(models / "kept")))
    outside = settings.work_dir / "elsewhere"
    outside.mkdir(parents=True)
    runner = make()

    def fake(job, cancel):
        folder = {"cancel": models / "cancelled", "fail": models / "failed", "kept": models / "kept", "out": outside}[job.params["name"]]
        folder.mkdir(exist_ok=True)
        store.update_job(job.id, metrics={"model_dir": str(folder)})
        if job.params["name"] == "cancel":
            raise JobCancelled("cancelled")
        raise XsentError("no data for this job")

    monkeypatch.setattr(runner, "_dispatch", fake)
    runner.start()
    assert store.get_job(stale.id).status == "failed" and not (models / "stale").exists()
    for name, status in (("cancel", "cancelled"), ("fail", "failed"), ("kept", "failed"), ("out", "failed")):
        job = runner.submit("train_preset", {"method": "tagger", "preset": "tagger-tiny", "name": name})
        wait_for(store, job.id, {status}, timeout=20)
    assert not (models / "cancelled").exists() and not (models / "failed").exists()
    assert (models / "kept").is_dir() and outside.is_dir()
