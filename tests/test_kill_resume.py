"""Processes die by SIGKILL: training resumes from its last checkpoint, a job left
"running" is marked failed by the next runner, and nothing half-written is trusted.

A writer killed inside an open SQLite transaction is covered by
tests/test_db_concurrency.py::test_writer_killed_inside_a_transaction_loses_only_its_write.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest
import torch

from tests.kill_resume import EPOCHS, ROOT, STEPS_PER_EPOCH, check_checkpoint, child_env, kill_after_first_checkpoint, resume
from tests.tiny_encoder import make_tiny_bert
from tests.toy_method import ToyConfig, ToyMethod, toy_examples
from xsent_core.methods.base import TrainConfig
from xsent_core.training import find_checkpoint, fit


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("encoders") / "tiny-bert")


# ------------------------------------------------------------------ training


def test_sigkilled_training_resumes_from_its_last_checkpoint(tmp_path, tiny_bert):
    out = tmp_path / "model"
    code = kill_after_first_checkpoint(out, tiny_bert)
    assert code == -signal.SIGKILL, f"training ended by itself (exit {code}) before the kill"
    found = find_checkpoint(out)
    assert found == out / "checkpoints" / "last"
    step = check_checkpoint(found)  # safetensors weights, weights-only optimiser state
    assert 0 < step < EPOCHS * STEPS_PER_EPOCH and step % STEPS_PER_EPOCH == 0

    proc, resumed_from = resume(out, tiny_bert)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert resumed_from == step  # the loop started at the checkpoint's step, not at 0
    report = json.loads(proc.stdout)
    assert report["status"] == "finished" and report["steps"] == EPOCHS * STEPS_PER_EPOCH
    assert not (out / "checkpoints").exists()  # a finished model folder drops its optimiser state
    from xsent_core.registry import load_model

    assert load_model(out, expected_method="tagger").card.training["steps"] == EPOCHS * STEPS_PER_EPOCH


def _toy_run(out, *, epochs=4, stop_at=None, resume=False, eval_every=None):
    """Toy training into `out`; returns (result, step the loop started at, checkpoint seen at each eval)."""
    torch.manual_seed(0)
    model = ToyMethod(ToyConfig())
    rows = toy_examples(64)  # 8 steps per epoch
    cancel = threading.Event()
    started, at_eval = [], []

    def watch(event, state, payload):
        if event == "start":
            started.append(state.step)
        elif event == "eval":
            at_eval.append(find_checkpoint(out) is not None)
        elif event == "step" and stop_at is not None and state.step == stop_at:
            cancel.set()

    scores = iter(range(1000))  # every evaluation is a new best: each one saves the model folder
    train = TrainConfig(epochs=epochs, batch_size=8, device="cpu", select_metric="score", eval_every=eval_every)
    result = fit(model, model.prepare(rows), train, evaluate=lambda: {"score": float(next(scores))}, out_dir=out,
                 cancel=cancel, resume=resume, progress=False, callbacks=[watch])
    return result, started[0], at_eval


def test_best_model_saves_keep_the_resumable_checkpoint(tmp_path):
    # the model folder is replaced at every new best; the checkpoint inside it must survive that
    _, _, at_eval = _toy_run(tmp_path / "m", eval_every=3)
    assert at_eval[3:] and all(at_eval[3:])  # from the first epoch's checkpoint (step 8) on


@pytest.mark.parametrize("window", ["checkpoint swap", "model folder swap"])
def test_resume_finds_the_checkpoint_a_kill_between_two_renames_left_aside(tmp_path, window):
    out = tmp_path / "m"
    result, _, _ = _toy_run(out, stop_at=18)  # cancelled in epoch 3: the checkpoint holds step 16
    assert result.status == "cancelled"
    if window == "checkpoint swap":  # save_checkpoint: `last` renamed aside, the new one not yet in place
        os.replace(out / "checkpoints" / "last", out / "checkpoints" / ".last.old-99999")
    else:  # registry.save_model: the whole model folder renamed aside, the new one not yet in place
        os.replace(out, tmp_path / ".m.old-99999-1")
    result, started, _ = _toy_run(out, resume=True)
    assert started == 16 and result.status == "finished" and result.steps == 32


# ---------------------------------------------------------------------- jobs

_CLAIM_AND_HANG = """
import sys, time
from db import Store
store = Store.open(sys.argv[1])
job = store.create_job("train_preset", {"method": "tagger", "preset": "tagger-tiny"})
claimed = store.next_queued_job()
print(claimed.id, claimed.pid, flush=True)
time.sleep(600)
"""


def test_job_of_a_sigkilled_process_is_marked_failed_by_the_next_runner(tmp_path):
    from db.store import Store
    from views.jobs import JobRunner
    from views.services import AppSettings

    settings = AppSettings(db_path=tmp_path / "s.sqlite3", models_dir=tmp_path / "models", work_dir=tmp_path / "work",
                           device="cpu")
    proc = subprocess.Popen([sys.executable, "-c", _CLAIM_AND_HANG, str(settings.db_path)], cwd=ROOT, env=child_env(),
                            stdout=subprocess.PIPE, text=True)
    try:
        job_id, pid = map(int, proc.stdout.readline().split())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()  # reaped: the pid is gone, not a zombie
    assert pid == proc.pid
    with Store.open(settings.db_path) as store:
        assert store.get_job(job_id).status == "running"  # what the dead process left behind
        alive = store.create_job("train_preset", {"method": "tagger", "preset": "tagger-tiny"})
        assert store.next_queued_job(pid=os.getpid()).id == alive.id  # held by a live process
        runner = JobRunner(store, settings, poll_s=0.1).start()
        try:
            job = store.get_job(job_id)
            assert job.status == "failed" and "interrupted" in job.message
            assert store.get_job(alive.id).status == "running"
        finally:
            runner.stop(timeout=30)
