"""Reliability benchmark: fuzzing, concurrent writes, kill-and-resume, bounded predict memory,
retried saves through a killed app.

1. Fuzz: every hypothesis property in tests/test_data_fuzz.py, test_text_properties.py
   and test_predict_fuzz.py (readers, normaliser, BIES codec, predict), run from here
   with fixed seeds until at least `--fuzz-cases` cases each; a failing case is
   counted and generation goes on. The test functions themselves run (their
   `.hypothesis.inner_test` is wrapped to count), so the strategies are exactly the suite's.
1b. App fuzz: `--app-fuzz-cases` calls of every API endpoint of a running app through
   gradio_client (tests/app_fuzz.py: generated hostile inputs, issue 19's named cases;
   a failure is an unclear error, a dead server, a reply over 60 s, a leaked server
   path or file, or a traceback in the server log).
2. Concurrent writes: 8 processes each save `--writes` annotations, alternating
   between one shared document and their own, on one SQLite store: attempted,
   acknowledged and stored versions, with gaps and duplicates checked.
3. Kill and resume: `--trials` rounds of tests/kill_resume.py (SIGKILL a real
   `train` after its first checkpoint, check the checkpoint, `--resume` it).
4. Predict memory: peak RSS of `python -m xsent_core predict` (the streaming
   CLI path) on generated JSONL files of 10 rows, 10k and 100k rows, with the
   tiny tagger on a random 2-layer BERT (the child's own ru_maxrss).
5. Kill and retry saves: 8 gradio_client clients save annotations through the app
   (each save with its own idempotency key, retried with the same key until
   acknowledged) while the app is SIGKILLed and restarted `--save-kills` times on
   the same store (tests/kill_saves.py): lost, duplicated, version gaps, integrity.

Writes benchmarks/results/reliability.json (command, machine, numbers); the fuzz
totals of parts 1 and 1b are `fuzz_cases_total` and `fuzz_failures_total`.

    python benchmarks/reliability.py            # full: 450 cases/property, 2000 app calls, 8 x 50 writes, 3 trials, 100k rows, 8 x 25 saves, 2 kills
    python benchmarks/reliability.py --quick    # minutes: 1 fuzz round, 100 app calls, 8 x 10 writes, 1 trial, 2k rows, 8 x 5 saves, 1 kill
"""
from __future__ import annotations

import argparse
import inspect
import json
import multiprocessing as mp
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FUZZ_MODULES = ("tests.test_data_fuzz", "tests.test_text_properties", "tests.test_predict_fuzz")
WRITERS = 8
LABELS = ("negative", "neutral", "positive")
# sentences cycled into the predict input: five languages of restaurant reviews plus Burmese
SOURCES = [f"semeval:{{data}}/semeval16_restaurants/gold-{lang}-test.txt" for lang in ("en", "fr", "es", "nl", "ru")] + [
    "gklmip:{data}/gklmip_myanmar_sentiment/dev.json"
]


def log(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------------- fuzz


def fuzz_properties() -> list[tuple[str, Callable[..., Any]]]:
    import importlib

    found = []
    for name in FUZZ_MODULES:
        module = importlib.import_module(name)
        path = name.replace(".", "/") + ".py"
        found += [(f"{path}::{attr}", fn) for attr, fn in vars(module).items()
                  if attr.startswith("test_") and hasattr(fn, "hypothesis")]
    return found


def run_property(fn: Callable[..., Any], fixtures: dict[str, Any], target: int, seed: int, max_rounds: int) -> dict[str, Any]:
    """Run a @given test in rounds of its own max_examples until `target` cases; failures counted, not raised."""
    from hypothesis import seed as use_seed
    from hypothesis.errors import HypothesisException

    counts: dict[str, Any] = {"cases": 0, "failures": 0, "first_failure": None, "rounds": 0, "errors": []}
    inner = fn.hypothesis.inner_test

    def counting(*args: Any, **kwargs: Any) -> None:
        counts["cases"] += 1
        try:
            inner(*args, **kwargs)
        except HypothesisException:
            raise  # assume()/health checks belong to hypothesis
        except Exception as e:
            counts["failures"] += 1
            if counts["first_failure"] is None:  # the input too: hypothesis does not shrink or report it here
                counts["first_failure"] = {"error": f"{type(e).__name__}: {e}"[:400], "input": repr(kwargs)[:400]}

    # hypothesis documents replacing inner_test to wrap each case
    fn.hypothesis.inner_test = counting
    try:
        while counts["cases"] < target and counts["rounds"] < max_rounds:
            use_seed(seed + counts["rounds"])(fn)  # also turns the example database off
            counts["rounds"] += 1
            try:
                fn(**{name: fixtures[name]() for name in inspect.signature(fn).parameters})
            except Exception as e:  # a hypothesis error (e.g. health check) ends this property
                counts["errors"].append(f"{type(e).__name__}: {e}"[:400])
                break
    finally:
        fn.hypothesis.inner_test = inner
    return counts


def bench_fuzz(work: Path, target: int, quick: bool) -> dict[str, Any]:
    from functools import cache

    from xsent_core.recipes import run_preset
    from xsent_core.registry import load_model

    @cache
    def tiny(method: str) -> Any:
        # the suite's fixtures (tests/conftest.py): a few real steps on the builtin encoder
        out = work / f"{method}-tiny"
        run_preset(method, f"{method}-tiny", out, progress=False, evaluate_tests=False)
        return load_model(out, expected_method=method)

    fuzz_dir = work / "fuzz"
    fuzz_dir.mkdir()
    fixtures = {"fuzz_dir": lambda: fuzz_dir, "tagger": lambda: tiny("tagger"), "classifier": lambda: tiny("classifier")}
    started = time.time()
    rows = []
    for name, fn in fuzz_properties():
        t = time.time()
        counts = run_property(fn, fixtures, target, seed=20240 + len(rows), max_rounds=1 if quick else 50)
        rows.append({"property": name, **counts, "seconds": round(time.time() - t, 1)})
        log(f"[fuzz] {name}: {counts['cases']} cases, {counts['failures']} failures ({rows[-1]['seconds']}s)")
    return {
        "target_cases_per_property": target,
        "properties": len(rows),
        "cases": sum(r["cases"] for r in rows),
        "failures": sum(r["failures"] for r in rows),
        "hypothesis_errors": sum(len(r["errors"]) for r in rows),
        "seconds": round(time.time() - started, 1),
        "per_property": rows,
    }


def bench_app_fuzz(work: Path, cases: int, seed: int) -> dict[str, Any]:
    """Every endpoint of a fresh app on a temporary store (a few documents to open), `cases` generated calls."""
    from tests.app_fuzz import fuzz_app
    from tests.app_server import AppServer
    from tests.kill_saves import seed_store

    folder = work / "app-fuzz"
    folder.mkdir()
    server = AppServer(folder)
    seed_store(server.db, 3)
    server.start()
    try:
        result = fuzz_app(server, cases, seed, folder / "inputs", progress=log)
    finally:
        server.stop()
    for api, row in result["per_endpoint"].items():
        if row["failures"]:
            log(f"[app-fuzz] {api}: {row['failures']}/{row['cases']} failures: {[k['kind'] for k in row['failure_kinds']]}")
    return result


# ------------------------------------------------------------ concurrent writes


def _writer(path: str, worker: int, shared: int, own: int, n: int, start: Any, results: Any) -> None:
    from db import Store

    acked, errors = 0, []
    with Store.open(path) as store:
        start.wait(120)
        for i in range(n):
            doc = shared if i % 2 == 0 else own
            try:
                current = store.current_annotation(doc)
                store.save_annotation(doc, f"w{worker}", LABELS[i % 3], [], current.version if current else None,
                                      note=f"w{worker}-{i}")
                acked += 1
            except Exception as e:  # counted: the benchmark reports lost writes, it does not stop at one
                errors.append(f"{type(e).__name__}: {e}"[:200])
    results.put((worker, acked, errors))


def bench_writes(work: Path, per_writer: int) -> dict[str, Any]:
    from db import Store
    from xsent_core.types import Example

    path = work / "writes.sqlite3"
    with Store.open(path) as store:
        shared = store.add_documents([Example(id="shared", text="the food was great")], "bench")[0]
        own = store.add_documents([Example(id=f"own{w}", text="the film was long") for w in range(WRITERS)], "bench")
    ctx = mp.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(path), w, shared, own[w], per_writer, start, results))
             for w in range(WRITERS)]
    for p in procs:
        p.start()
    time.sleep(3)  # let every worker open the store, so the writes overlap
    t = time.time()
    start.set()
    reports = [results.get(timeout=600) for _ in procs]
    seconds = time.time() - t
    for p in procs:
        p.join(60)
    with Store.open(path) as store:
        histories = [store.annotation_history(doc) for doc in [shared, *own]]
        integrity = store._db().execute("PRAGMA integrity_check").fetchone()[0]
    notes = [a.note for h in histories for a in h]
    attempted = WRITERS * per_writer
    acked = sum(r[1] for r in reports)
    return {
        "processes": WRITERS,
        "writes_per_process": per_writer,
        "attempted": attempted,
        "acknowledged": acked,
        "stored": len(notes),
        "lost": attempted - len(set(notes)),
        "duplicated": len(notes) - len(set(notes)),
        "version_gaps": sum([a.version for a in h] != list(range(1, len(h) + 1)) for h in histories),
        "errors": [e for r in reports for e in r[2]][:10],
        "exit_codes": [p.exitcode for p in procs],
        "integrity_check": integrity,
        "seconds": round(seconds, 2),
        "writes_per_s": round(acked / seconds, 1) if seconds else None,
    }


# ------------------------------------------------------------ kill and resume


def bench_kill_resume(work: Path, trials: int, encoder: Path) -> dict[str, Any]:
    from dataclasses import asdict

    from tests.kill_resume import EPOCHS, STEPS_PER_EPOCH, trial

    details = []
    for n in range(trials):
        folder = work / f"kill-{n}"
        folder.mkdir()
        result = trial(folder, encoder)
        details.append({**asdict(result), "passed": result.passed})
        log(f"[kill-resume] trial {n + 1}: {details[-1]}")
    return {
        "trials": trials,
        "passed": sum(d["passed"] for d in details),
        "run": f"tagger-tiny on a random 2-layer BERT, {EPOCHS} epochs x {STEPS_PER_EPOCH} steps, SIGKILL after the first checkpoint",
        "details": details,
    }


# ------------------------------------------------------------ retried saves through a killed app


def bench_kill_saves(work: Path, clients: int, saves: int, kills: int) -> dict[str, Any]:
    from tests.app_server import AppServer
    from tests.kill_saves import run_kill_retry_saves, seed_store

    folder = work / "kill-saves"
    folder.mkdir()
    server = AppServer(folder)
    shared, own = seed_store(server.db, clients)  # before the app starts, as an import would
    server.start()
    try:
        return run_kill_retry_saves(server, shared, own, saves=saves, kills=kills)
    finally:
        server.stop()


# ------------------------------------------------------------ predict memory


def write_rows(path: Path, n: int) -> None:
    from xsent_core.recipes import load_data

    texts = [ex.text for spec in SOURCES for ex in load_data(spec)]
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": str(i), "text": texts[i % len(texts)]}, ensure_ascii=False) + "\n")


# Runs the command in its arguments and prints that child's peak RSS. Forked straight
# from this benchmark (gigabytes of fuzz models loaded), a child's ru_maxrss would start
# from our high-water mark; forked from this small fresh process it starts near zero.
_MEASURE = """
import json, resource, subprocess, sys
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(json.dumps({"exit_code": code, "maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def predict_run(model: Path, rows: int, work: Path, timeout_s: float) -> dict[str, Any]:
    """One CLI predict in a child; its peak RSS (ru_maxrss, KiB on Linux) measured by `_MEASURE`."""
    src, out = work / f"in-{rows}.jsonl", work / f"out-{rows}.jsonl"
    write_rows(src, rows)
    cmd = [sys.executable, "-m", "xsent_core", "predict", "--method", "tagger", "--model", str(model),
           "--input", str(src), "--output", str(out), "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}
    t = time.time()
    try:
        proc = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=timeout_s)
        measured, timed_out = json.loads(proc.stdout), False
    except subprocess.TimeoutExpired:
        measured, timed_out = {"exit_code": None, "maxrss_kib": 0}, True
    seconds = time.time() - t
    written = sum(1 for _ in open(out, encoding="utf-8")) if out.exists() else 0
    src.unlink()
    out.unlink(missing_ok=True)
    return {
        "rows": rows,
        "exit_code": measured["exit_code"],
        "timed_out": timed_out,
        "output_rows": written,
        "peak_rss_mb": round(measured["maxrss_kib"] / 1024, 1),
        "seconds": round(seconds, 1),
        "rows_per_s": round(rows / seconds, 1),
    }


def bench_predict(work: Path, sizes: list[int], encoder: Path, limit_s: float) -> dict[str, Any]:
    from xsent_core.recipes import run_preset

    model = work / "tagger-tiny-bert"
    run_preset("tagger", "tagger-tiny", model, overrides={"encoder": str(encoder), "train_from_layer": 1},
               progress=False, evaluate_tests=False)
    runs, notes = [], []
    for rows in sizes:
        if runs and runs[-1]["rows"] >= 1000:
            # the streaming rate of the previous size predicts this one; shrink it to fit the limit
            affordable = int(runs[-1]["rows_per_s"] * limit_s * 0.8) // 10_000 * 10_000
            if rows > affordable:
                notes.append(f"{rows} rows would take over {limit_s / 60:.0f} min at "
                             f"{runs[-1]['rows_per_s']} rows/s; ran {affordable} instead")
                rows = affordable
        if rows <= 0:
            continue
        runs.append(predict_run(model, rows, work, timeout_s=limit_s * 1.5))
        log(f"[predict] {runs[-1]}")
    ok = [r for r in runs if r["exit_code"] == 0 and r["output_rows"] == r["rows"]]
    by_rows = {r["rows"]: r for r in ok}
    largest = max(by_rows) if by_rows else None
    ten_k = by_rows.get(10_000) or (by_rows[min(by_rows, key=lambda n: abs(n - 10_000))] if by_rows else None)
    return {
        "model": "tagger-tiny preset on a random 2-layer BERT (hidden 32), batch 32, CPU, 1 thread",
        "path": "python -m xsent_core predict (streams PREDICT_CHUNK rows at a time)",
        "runs": runs,
        "largest_rows": largest,
        "rss_ratio_largest_to_10k": round(by_rows[largest]["peak_rss_mb"] / ten_k["peak_rss_mb"], 3)
        if largest and ten_k else None,
        "notes": notes,
    }


# -------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a smaller run (minutes)")
    p.add_argument("--fuzz-cases", type=int, help="cases per property (default 450; quick: one round)")
    p.add_argument("--app-fuzz-cases", type=int, help="generated app endpoint calls (default 2000; quick 100)")
    p.add_argument("--app-fuzz-seed", type=int, default=19)
    p.add_argument("--writes", type=int, help="annotations per writer process (default 50; quick 10)")
    p.add_argument("--trials", type=int, help="kill-and-resume trials (default 3; quick 1)")
    p.add_argument("--rows", type=int, nargs="+", help="predict sizes (default 10 10000 100000; quick 10 2000)")
    p.add_argument("--predict-limit-min", type=float, default=15.0, help="longest one predict run may take")
    p.add_argument("--save-clients", type=int, default=8, help="gradio_client clients saving through the app")
    p.add_argument("--saves", type=int, help="saves per client (default 25; quick 5)")
    p.add_argument("--save-kills", type=int, help="SIGKILLs of the app during the saves (default 2; quick 1)")
    p.add_argument("--skip", nargs="*", default=[], choices=("fuzz", "app_fuzz", "writes", "kill", "predict", "saves"))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "reliability.json"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from benchmarks.machine import machine_facts
    from tests.tiny_encoder import make_tiny_bert

    quick = args.quick
    fuzz_cases = args.fuzz_cases or (1 if quick else 450)
    app_fuzz_cases = args.app_fuzz_cases or (100 if quick else 2000)
    saves = args.saves or (5 if quick else 25)
    save_kills = args.save_kills or (1 if quick else 2)
    writes = args.writes or (10 if quick else 50)
    trials = args.trials or (1 if quick else 3)
    sizes = args.rows or ([10, 2_000] if quick else [10, 10_000, 100_000])
    result: dict[str, Any] = {
        "command": " ".join(["python", "benchmarks/reliability.py", *map(shlex.quote, sys.argv[1:] if argv is None else argv)]),
        "machine": machine_facts(),
        "load_average_start": list(os.getloadavg()),
        "note": "2 CPU cores shared with other work; every child runs with OMP_NUM_THREADS=1",
        "quick": quick,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()

    def save() -> None:  # after every part, so a cut-short run keeps what it measured
        result["seconds"] = round(time.time() - started, 1)
        result["load_average_end"] = list(os.getloadavg())
        out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    with tempfile.TemporaryDirectory(prefix="xsent-reliability-") as tmp:
        work = Path(tmp)
        encoder = make_tiny_bert(work / "tiny-bert")
        if "fuzz" not in args.skip:
            result["fuzz"] = bench_fuzz(work, fuzz_cases, quick)
            save()
        if "app_fuzz" not in args.skip:
            result["app_fuzz"] = bench_app_fuzz(work, app_fuzz_cases, args.app_fuzz_seed)
            save()
        parts = [result[k] for k in ("fuzz", "app_fuzz") if k in result]
        result["fuzz_cases_total"] = sum(p["cases"] for p in parts)
        result["fuzz_failures_total"] = sum(p["failures"] for p in parts)
        if "writes" not in args.skip:
            result["concurrent_writes"] = bench_writes(work, writes)
            log(f"[writes] {json.dumps(result['concurrent_writes'])}")
            save()
        if "kill" not in args.skip:
            result["kill_resume"] = bench_kill_resume(work, trials, encoder)
            save()
        if "predict" not in args.skip:
            result["predict_memory"] = bench_predict(work, sizes, encoder, args.predict_limit_min * 60)
            save()
        if "saves" not in args.skip:
            result["kill_retry_saves"] = bench_kill_saves(work, args.save_clients, saves, save_kills)
            log(f"[saves] {json.dumps(result['kill_retry_saves'])}")
            save()
    summary = {
        "fuzz": {k: result["fuzz"][k] for k in ("properties", "cases", "failures")} if "fuzz" in result else None,
        "app_fuzz": {k: result["app_fuzz"][k] for k in ("endpoints_fuzzed", "cases", "failures")} if "app_fuzz" in result else None,
        "fuzz_total": {"cases": result["fuzz_cases_total"], "failures": result["fuzz_failures_total"]},
        "writes": {k: result["concurrent_writes"][k] for k in ("attempted", "stored", "lost", "duplicated")}
        if "concurrent_writes" in result else None,
        "kill_resume": f"{result['kill_resume']['passed']}/{result['kill_resume']['trials']}" if "kill_resume" in result else None,
        "predict_peak_rss_mb": {r["rows"]: r["peak_rss_mb"] for r in result.get("predict_memory", {}).get("runs", [])},
        "kill_retry_saves": {k: result["kill_retry_saves"][k] for k in ("attempted", "stored", "lost", "duplicated", "kills")}
        if "kill_retry_saves" in result else None,
    }
    log(json.dumps(summary, indent=2))
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
