"""App latency: predict endpoint through gradio_client, per method, idle and during a training job.

    python benchmarks/app.py [--calls 20] [--train-steps 400] [--out benchmarks/results/app.json]

Measures:
- cold start: `python app.py` process start -> first page served (fresh store);
- per method with a registered default model: median and p95 of `/predict` for one
  sentence, with no job running, after every model was loaded by a first call and
  --settle s passed (a model's first use starts background work: its ONNX layers);
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


def rest_call(http, url: str, api: str, data: list, session: str | None = "xsent-bench") -> list:
    """One call through Gradio's documented REST API (POST /gradio_api/call/API, then read the event stream).

    This is the path a browser takes (queue, then server-sent events) without
    gradio_client's own overhead, which measured 80 ms for an identity function.
    Calls share one `session` like clicks in one browser tab: without it Gradio
    builds a new session's state for every call, ~20 ms in this app.
    """
    body = {"data": data, **({"session_hash": session} if session else {})}
    event = http.post(f"{url}gradio_api/call/{api}", json=body).json()["event_id"]
    body = http.get(f"{url}gradio_api/call/{api}/{event}").text
    if "event: complete" not in body:
        raise RuntimeError(f"/{api} failed: {body[:300]}")
    return json.loads(body.split("event: complete", 1)[1].split("data:", 1)[1].strip().splitlines()[0])


def page_call(http, url: str, api: str, data: list, session: str = "xsent-bench") -> list:
    """One call the way the page makes it for an event that skips the queue (Predict's):
    a single POST to /gradio_api/run/API."""
    reply = http.post(f"{url}gradio_api/run/{api}", json={"data": data, "session_hash": session})
    reply.raise_for_status()
    return reply.json()["data"]


def first_call(http, url: str, method: str) -> float | str:
    """One prediction as the page makes it: seconds, or the error it showed (the first loads the model)."""
    t0 = time.perf_counter()
    summary = page_call(http, url, "predict", [SENTENCES.get(method, SENTENCES["default"]), None, method, None])[2]
    seconds = time.perf_counter() - t0
    return summary if summary.startswith("✗") or summary.startswith("❌") else seconds


def timed_calls(http, url: str, method: str, calls: int, client=None, first: float | str | None = None) -> dict:
    """`calls` predictions as the page makes them; the same through the queued REST API (/call/, what API
    clients use); `client` also times them through gradio_client. `first`: the method's first call, made
    earlier (so its model's background work, e.g. the ONNX layer export, is over); made here when None."""
    text = SENTENCES.get(method, SENTENCES["default"])
    data = [text, None, method, None]
    first = first_call(http, url, method) if first is None else first
    if isinstance(first, str):
        return {"error": first}

    def timed(call) -> list[float]:
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            call(http, url, "predict", data)
            times.append(time.perf_counter() - t0)
        return times

    times, queued = timed(page_call), timed(rest_call)
    out = {
        "first_call_s": round(first, 3),
        "median_s": round(statistics.median(times), 4),
        "p95_s": round(percentile(times, 0.95), 4),
        "calls": calls,
        "queued_api_median_s": round(statistics.median(queued), 4),
        "queued_api_p95_s": round(percentile(queued, 0.95), 4),
    }
    if client is not None:
        through_client = []
        for _ in range(calls):
            t0 = time.perf_counter()
            client.predict(text, None, method, None, api_name="/predict")
            through_client.append(time.perf_counter() - t0)
        out["gradio_client_median_s"] = round(statistics.median(through_client), 4)
    return out


def in_process_breakdown(methods: list[str], calls: int, settle: float) -> dict:
    """Where one prediction's time goes inside the server: model load aside, tokenise+encode+head, store write.

    Every model loads and settles first, as in the page series: a model's layers export to ONNX in the
    background after its load, and timing one model during another's export measures the export."""
    from db.store import Store
    from views.services import AppSettings, ModelProvider
    from xsent_core.types import Example

    out = {}
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "s.sqlite3") as store:
        provider = ModelProvider(store, AppSettings(shipped_dir=ROOT / "assets" / "models"))
        provider.register_shipped()
        texts = {method: SENTENCES.get(method, SENTENCES["default"]) for method in methods}
        for method in methods:
            provider.get(method)[1].predict([Example(id="warm", text=texts[method])])
        time.sleep(settle)
        for method in methods:
            record, model = provider.get(method)
            text = texts[method]
            predict, store_write = [], []
            for i in range(calls):
                example = Example(id=f"x{i}", text=text)
                t0 = time.perf_counter()
                prediction = model.predict([example])[0]
                predict.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                doc = store.add_documents([example], source="predict", reuse_existing=True)[0]
                store.record_prediction(doc, record.name, "", method, prediction)
                store_write.append(time.perf_counter() - t0)
            out[method] = {
                "precision": getattr(model, "precision", "fp32"),
                "model_predict_median_s": round(statistics.median(predict), 4),
                "store_write_median_s (off the reply path)": round(statistics.median(store_write), 4),
            }
    return out


def first_umap_draw(path: Path) -> float | None:
    """`first_umap_draw_s` of benchmarks/umap_start.py (a fresh app process, numba cache kept)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))["first_umap_draw_s"]
    except (OSError, KeyError, ValueError):
        return None


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
    p.add_argument("--settle", type=float, default=20.0, help="seconds to wait after the first prediction")
    p.add_argument("--skip-training", action="store_true", help="no measurement during a training job")
    p.add_argument("--umap-results", type=Path, default=ROOT / "benchmarks" / "results" / "umap_start.json")
    p.add_argument("--model", action="append", default=[], metavar="METHOD=DIR",
                   help="also register this model folder as METHOD's default (besides assets/models)")
    args = p.parse_args(argv)

    import httpx
    import torch
    from gradio_client import Client

    from db.store import Store
    from tests.app_server import running_app
    from xsent_core.registry import method_names

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
        os.environ["XSENT_UMAP_WARMUP"] = "1"  # the app as users start it (tests turn the warm-up off)
        http = httpx.Client(timeout=600)
        t0 = time.perf_counter()
        with running_app(tmp, timeout=600) as url:
            result["cold_start_s"] = round(time.perf_counter() - t0, 2)
            page_call(http, url, "predict", [SENTENCES["tagger"], None, method_names()[0], None])
            result["first_prediction_s"] = round(time.perf_counter() - t0, 2)
            time.sleep(args.settle)  # start-up work (UMAP warm-up, preload) ends before steady-state timing
            with Store.open(tmp / "store.sqlite3") as store:
                methods = [m for m in method_names() if store.default_model(m) is not None]
            result["methods"] = methods
            # every model loaded, then a settle: a model's first use starts background work (its ONNX layers
            # export or load) that would otherwise be timed as the next method's latency
            firsts = {m: first_call(http, url, m) for m in methods}
            time.sleep(args.settle)
            client = Client(url, verbose=False)
            idle = {m: timed_calls(http, url, m, args.calls, client, first=firsts[m]) for m in methods}
            result["predict_idle"] = idle
            print(json.dumps(idle, indent=2), file=sys.stderr)
            if not args.skip_training:
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
                    busy = {m: timed_calls(http, url, m, args.calls) for m in methods}
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
                    result["predict_idle_after"] = {m: timed_calls(http, url, m, args.calls) for m in methods}
            result["load_average_end"] = os.getloadavg()
    result["in_process"] = in_process_breakdown(result["methods"], args.calls, args.settle)
    idle = result["predict_idle"]
    result["headline"] = {
        "predict_p50_s": max(v["median_s"] for v in idle.values() if "median_s" in v),
        "predict_p95_s": max(v["p95_s"] for v in idle.values() if "p95_s" in v),
        "first_prediction_s": result["first_prediction_s"],
        "first_umap_draw_s": first_umap_draw(args.umap_results),
        "note": "p50/p95: the slowest shipped method, idle (after --settle s), one sentence, as the page calls "
                "Predict (one POST to /gradio_api/run/predict; the event skips Gradio's queue), in one session; "
                "each method's queued_api_* figures are the queued REST route (/gradio_api/call/predict); first prediction: "
                "process start -> first /predict reply; first UMAP draw: from --umap-results",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
