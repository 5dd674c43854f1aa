"""Small runs of benchmarks/reliability.py's app parts, so CI checks their logic:
retried saves through an app killed with SIGKILL, and the app fuzz (issue 19's named
cases plus a few generated calls); the fuzz judge on hand-made replies.

One app serves the module: the saves run first (their documents must see no other
writes), the fuzz then runs on the restarted app.
"""
from __future__ import annotations

import json

import pytest

from tests.app_fuzz import NO_EVENT, Case, Endpoint, Judge, Outcome, fuzz_app
from tests.app_server import AppServer
from tests.kill_saves import run_kill_retry_saves, seed_store


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reliability-app")
    server = AppServer(tmp)
    shared, own = seed_store(server.db, 2)
    server.start()
    yield server, shared, own
    server.stop()


def test_saves_are_stored_once_through_a_kill_9_and_retries(app):
    server, shared, own = app
    r = run_kill_retry_saves(server, shared, own, saves=5, kills=1)
    assert r["kills"] == 1 and server.alive(), r
    assert r["retries"] > 0, "the kill landed after the burst: nothing was retried"
    assert r["attempted"] == r["acknowledged"] == r["stored"] == 10, r
    assert r["lost"] == r["duplicated"] == r["unexpected"] == r["ack_version_mismatches"] == 0, r
    assert r["version_gaps"] == 0 and r["integrity_check"] == "ok", r


@pytest.fixture(scope="module")
def fuzzed(app, tmp_path_factory):
    """Issue 19's named cases and 12 generated calls, on the app the saves left running."""
    server, _, _ = app
    return fuzz_app(server, cases=12, seed=5, folder=tmp_path_factory.mktemp("fuzz-inputs"))


def test_app_fuzz_runs_every_case_and_says_what_failed(app, fuzzed):
    server, _, _ = app
    assert server.alive() and fuzzed["endpoints"] > 30, fuzzed  # the endpoints were read from the app
    assert fuzzed["cases"] == 12 + len(fuzzed["issue_cases"]), fuzzed
    assert {c["case"] for c in fuzzed["issue_cases"]} >= {"lone surrogate to /predict: prediction shown, 'not saved' note",
                                                         "batch JSONL (m2sa) naming server paths as images"}
    assert fuzzed["failures"] == sum(k["failures"] for k in fuzzed["failure_kinds"].values())
    for row in fuzzed["per_endpoint"].values():
        assert row["cases"] == row["replied"] + row["refused_with_message"] + row["failures"]
        assert all(k["first_input"] and k["problems"] for k in row["failure_kinds"])


def failures_of(result: dict) -> str:
    named = [c for c in result["issue_cases"] if not c["passed"]]
    rows = {api: row["failure_kinds"] for api, row in result["per_endpoint"].items() if row["failures"]}
    return json.dumps({"issue_cases": named, "per_endpoint": rows}, indent=1, ensure_ascii=True)[:6000]


def test_app_fuzz_finds_no_failures(fuzzed):
    assert fuzzed["failures"] == 0, failures_of(fuzzed)


# ------------------------------------------------------------ the judge on hand-made replies


@pytest.fixture
def judge(tmp_path):
    return Judge(AppServer(tmp_path))


PLAIN = Endpoint("/x", 0, [], file_outputs=False, event_data=False)
WITH_FILE = Endpoint("/x", 0, [], file_outputs=True, event_data=False)


def test_judge_accepts_replies_and_clear_messages(judge, tmp_path):
    case = Case("/x", ["see /etc/passwd"])
    assert judge.problems(case, Outcome(value=["✗ document 5 is not in the store", "echo: /etc/passwd"]), PLAIN) == []
    assert judge.problems(case, Outcome(error_type="AppError", error="notes.jpg is not an image"), PLAIN) == []
    export = str(tmp_path / "work" / "exports" / "a.jsonl")
    assert judge.problems(case, Outcome(value=[f"✓ Exported: `{export}`", {"path": export, "meta": {}}]), WITH_FILE) == []
    logged = "Traceback (most recent call last):\n  File x\ngradio.exceptions.Error: 'Value: x is not in the list of choices'\n"
    assert judge.problems(case, Outcome(error_type="AppError", error="Value: x is not in the list", log=logged), PLAIN) == []


def test_judge_flags_what_the_issue_counts_as_failures(judge):
    case = Case("/x", ["hello"])
    generic = "The upstream Gradio app has raised an exception but has not enabled verbose error reporting."
    assert judge.problems(case, Outcome(error_type="AppError", error=generic), PLAIN)
    assert judge.problems(case, Outcome(error_type="CancelledError", error=""), PLAIN)
    assert judge.problems(case, Outcome(value=["ok"], seconds=61), PLAIN)
    crash = "Traceback (most recent call last):\n  File x\nOverflowError: Python int too large\n"
    assert judge.problems(case, Outcome(value=["ok"], log=crash), PLAIN)
    assert judge.problems(case, Outcome(value=["model at /usr/lib/x/model.bin"]), PLAIN)
    assert judge.problems(case, Outcome(value=[{"path": "/etc/passwd", "meta": {}}]), WITH_FILE)
    assert judge.problems(case, Outcome(value=[{"attention": {"path": "x.png"}}]), PLAIN)  # a file lookalike
    assert judge.problems(case, Outcome(value=["✗"]), PLAIN)
    marker = judge.passwd
    if marker:
        assert judge.problems(case, Outcome(value=[f"contents: {marker}"]), PLAIN)
    assert Case("/x", [], NO_EVENT).describe().startswith("/x")
