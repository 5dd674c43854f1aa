"""App latency: predict endpoint through gradio_client, per method, idle and during a training job.

    python benchmarks/app.py [--calls 20] [--train-steps 400] [--out benchmarks/results/app.json]

Measures:
- cold start: `python app.py` process start -> first page served (fresh store);
- per method with a registered default model: median and p95 of `/predict` for one
  sentence (after one warm-up call that loads the model), with no job running;
- the same while a preset training job (tagger-tiny with many steps) runs in the
  app's background worker; the job is then cancelled and the idle numbers are
  taken again (on a shared machine the two idle runs bracket the noise).
`--model METHOD=DIR` registers extra model folders (e.g. before shipped ones exist).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SENTENCES = {
    "tagger": "The fish was fresh but the service was painfully slow.",
    "msmo": "Le personnel était très sympathique et la pizza délicieuse.",
    "default": "ဒီဆိုင်က အစားအသောက် အရမ်းကောင်းတယ်",
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def timed_calls(client, method: str, calls: int) -> dict:
    text = SENTENCES.get(method, SENTENCES["default"])
    t0 = time.perf_counter()
    _, _, summary, _ = client.predict(text, None, method, None, api_name="/predict")
    first = time.perf_counter() - t0
    if summary.startswith("✗") or summary.startswith("❌"):
        return {"error": summary}
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        client.predict(text, None, method, None, api_name="/predict")
        times.append(time.perf_counter() - t0)
    return {
        "first_call_s": round(first, 3),
        "median_s": round(statistics.median(times), 4),
        "p95_s": round(percentile(times, 0.95), 4),
        "calls": calls,
    }


def register_models(db: Path, specs: list[str]) -> dict[str, str]:
    """Pre-register METHOD=DIR models as defaults in a fresh store (before the app starts)."""
    from db.records import ModelRecord
    from db.store import Store

    out = {}
    if not specs:
        return out
    with Store.open(db) as store:
        for spec in specs:
            method, _, folder = spec.partition("=")
            path = Path(folder).resolve()
            store.register_model(ModelRecord(name=f"{method}-bench", method=method, path=str(path), is_default=True))
            out[method] = str(path)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--train-steps", type=int, default=400)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "app.json")
    p.add_argument("--model", action="append", default=[], metavar="METHOD=DIR",
                   help="also register this model folder as METHOD's default (besides assets/models)")
    args = p.parse_args(argv)

    import torch
    from gradio_client import Client

    from db.store import Store
    from tests.app_server import running_app
    from views.services import UI_METHODS

    result: dict = {
        "command": "python benchmarks/app.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {
            "platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
        },
        "load_average_start": os.getloadavg(),
        "note": "2 CPU cores shared with other work: compare medians within one run, and see the load averages",
    }
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        extra = register_models(tmp / "store.sqlite3", args.model)
        result["extra_models"] = extra
        t0 = time.perf_counter()
        with running_app(tmp, timeout=600) as url:
            result["cold_start_s"] = round(time.perf_counter() - t0, 2)
            with Store.open(tmp / "store.sqlite3") as store:
                methods = [m for m in UI_METHODS if store.default_model(m) is not None]
            result["methods"] = methods
            client = Client(url, verbose=False)
            idle = {m: timed_calls(client, m, args.calls) for m in methods}
            result["predict_idle"] = idle
            print(json.dumps(idle, indent=2), file=sys.stderr)
            msg, _ = client.predict(
                "train_preset", "tagger", "tagger-tiny", None, "corrected", str(args.train_steps), "", "bench-job", "",
                api_name="/train_start",
            )
            job_id = None
            with Store.open(tmp / "store.sqlite3") as store:
                deadline = time.time() + 300
                while time.time() < deadline:
                    jobs = store.list_jobs(limit=1)
                    if jobs and jobs[0].status == "running" and jobs[0].progress > 0:
                        job_id = jobs[0].id
                        break
                    time.sleep(1)
                result["training_job"] = {"started": msg, "running": job_id is not None}
                busy = {m: timed_calls(client, m, args.calls) for m in methods}
                result["predict_while_training"] = busy
                if job_id is not None:
                    job = store.get_job(job_id)
                    result["training_job"].update(progress_during_measurement=round(job.progress, 3), status=job.status)
            client.predict(None, api_name="/train_cancel")
            if job_id is not None:  # idle again once the job stopped: brackets the noise of a shared machine
                with Store.open(tmp / "store.sqlite3") as store:
                    deadline = time.time() + 120
                    while time.time() < deadline and store.get_job(job_id).status == "running":
                        time.sleep(1)
                    result["training_job"]["status_after_cancel"] = store.get_job(job_id).status
                result["predict_idle_after"] = {m: timed_calls(client, m, args.calls) for m in methods}
            result["load_average_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
