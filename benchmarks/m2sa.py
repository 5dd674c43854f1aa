"""M2SA benchmark: cross-lingual gain of multilingual training, and speed with images.

1. Per-language macro-F1 on the SemEval-2016 restaurant sentence-polarity test
   sets (EN/ES/FR/NL/RU) for text-only M2SA (preset `m2sa-builtin`: trained on
   all five languages) vs the foundation's `classifier` trained monolingually on
   English (preset `classifier-en`). Same builtin encoder, same trainable layers,
   same epochs: the difference is the multilingual training data.
2. Throughput of M2SA prediction (rows/s, batch 16, CPU) on text-only rows vs
   rows with an image: cold (every image decoded and encoded) and warm (image
   features read from the on-disk cache).

Writes benchmarks/results/m2sa.json and benchmarks/results/m2sa.md (a README table).

    python benchmarks/m2sa.py                   # shipped M2SA model, classifier-en trained here
    python benchmarks/m2sa.py --train-m2sa      # retrain m2sa-builtin too (per seed)
    python benchmarks/m2sa.py --seeds 13 14 15  # mean and spread over seeds
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LANGS = ("en", "es", "fr", "nl", "ru")
TEST = "semeval:{data}/semeval16_restaurants/gold-%s-test.txt"


def machine() -> dict[str, Any]:
    """`machine_facts()` (torch threads already set) plus the load at the start: the cores are shared."""
    from benchmarks.machine import machine_facts

    return {**machine_facts(), "load_average_start": list(os.getloadavg())}


def evaluate_langs(model: Any) -> dict[str, dict[str, float]]:
    from xsent_core.recipes import load_data

    out = {}
    for lang in LANGS:
        scores = model.evaluate(load_data(TEST % lang))
        out[lang] = {k: scores[k] for k in ("macro_f1", "accuracy", "n")}
    return out


def train_preset(method: str, preset: str, out: Path, seed: int) -> tuple[Any, dict[str, Any]]:
    from xsent_core.recipes import run_preset
    from xsent_core.registry import load_model

    t = time.time()
    report = run_preset(method, preset, out, train_overrides={"seed": seed}, progress=False, evaluate_tests=False)
    if report["status"] != "finished":
        raise SystemExit(f"{method}/{preset} did not finish: {report['status']}")
    return load_model(out, expected_method=method), {"seconds": round(time.time() - t, 1), "steps": report["steps"], "dev": report["dev"]}


def image_rows(n: int, folder: Path) -> list[Any]:
    """n English test sentences, each with its own picture (a distinct crop of a scikit-image sample)."""
    import skimage.data
    from PIL import Image

    from xsent_core.recipes import load_data
    from xsent_core.types import Example

    texts = [ex.text for ex in load_data(TEST % "en")][:n]
    sources = ["astronaut", "chelsea", "coffee", "rocket", "camera", "immunohistochemistry", "colorwheel", "hubble_deep_field"]
    pictures = [Image.fromarray(getattr(skimage.data, s)()).convert("RGB") for s in sources]
    rng = random.Random(0)
    rows = []
    for i, text in enumerate(texts):
        pic = pictures[i % len(pictures)]
        w, h = pic.size
        s = rng.uniform(0.5, 0.95)
        x, y = rng.randint(0, int(w * (1 - s))), rng.randint(0, int(h * (1 - s)))
        path = folder / f"{i}.jpg"
        pic.crop((x, y, x + int(w * s), y + int(h * s))).save(path, quality=90)
        rows.append(Example(id=str(i), text=text, lang="en", image=str(path)))
    return rows


def throughput(model: Any, rows: list[Any], batch: int) -> dict[str, Any]:
    """rows/s for text-only rows, rows with images (cold cache), and again (warm cache)."""
    from dataclasses import replace

    text_rows = [replace(ex, image=None) for ex in rows]
    model.images_seen.fill_(1)  # speed only: make the image path run (the shipped model never saw images)
    model.predict(text_rows[:batch], batch_size=batch)  # warm-up (allocations, lazy imports)

    def timed(data: list[Any]) -> dict[str, float]:
        t = time.perf_counter()
        preds = model.predict(data, batch_size=batch)
        dt = time.perf_counter() - t
        assert all(p.error is None for p in preds), [p.error for p in preds if p.error][:3]
        return {"rows": len(data), "seconds": round(dt, 2), "rows_per_s": round(len(data) / dt, 2)}

    with tempfile.TemporaryDirectory() as home:
        old = os.environ.get("XSENT_HOME")
        text = timed(text_rows)
        os.environ["XSENT_HOME"] = home  # empty feature cache: every image is read, hashed, decoded, encoded
        try:
            cold = timed(rows)
            warm = timed(rows)
        finally:
            if old is None:
                os.environ.pop("XSENT_HOME", None)
            else:
                os.environ["XSENT_HOME"] = old
    return {"batch_size": batch, "text_only": text, "images_cold_cache": cold, "images_warm_cache": warm}


def summarise(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    out = {}
    for lang in LANGS:
        vals = [r[lang]["macro_f1"] for r in runs]
        out[lang] = {
            "mean": round(statistics.mean(vals), 4),
            "min": round(min(vals), 4),
            "max": round(max(vals), 4),
            "n_test": runs[0][lang]["n"],
        }
    for name, langs in (("avg_all", LANGS), ("avg_non_en", LANGS[1:])):
        per_seed = [statistics.mean(r[lang]["macro_f1"] for lang in langs) for r in runs]
        out[name] = {"mean": round(statistics.mean(per_seed), 4), "min": round(min(per_seed), 4), "max": round(max(per_seed), 4)}
    return out


def markdown(result: dict[str, Any]) -> str:
    m, c = result["m2sa_text_only"]["summary"], result["classifier_en"]["summary"]
    seeds = len(result["seeds"])
    lines = [
        "# M2SA benchmark",
        "",
        f"Command: `{result['command']}`. Machine: {result['machine']['cpu_count']} CPU cores, torch "
        f"{result['machine']['torch']}, {result['machine']['torch_threads']} thread(s), load average at start "
        f"{result['machine']['load_average_start'][0]:.1f} (shared machine). Seeds: {result['seeds']}"
        + (" (mean, [min, max])." if seeds > 1 else " (one run each; scores move 2-3 points between seeds)."),
        "",
        "Macro-F1 on the SemEval-2016 restaurant sentence-polarity test sets:",
        "",
        "| test set | rows | M2SA text-only (multilingual training) | classifier-en (English training) | gain |",
        "|---|---|---|---|---|",
    ]

    def cell(s: dict[str, float]) -> str:
        return f"{100 * s['mean']:.1f}" + (f" [{100 * s['min']:.1f}, {100 * s['max']:.1f}]" if seeds > 1 else "")

    for key in (*LANGS, "avg_non_en", "avg_all"):
        name = {"avg_non_en": "average ES/FR/NL/RU", "avg_all": "average of 5"}.get(key, key.upper())
        rows = str(int(m[key]["n_test"])) if "n_test" in m[key] else ""
        lines.append(f"| {name} | {rows} | {cell(m[key])} | {cell(c[key])} | {100 * (m[key]['mean'] - c[key]['mean']):+.1f} |")
    tp = result["throughput"]
    lines += [
        "",
        f"Prediction throughput, batch {tp['batch_size']}, CPU, {result['machine']['torch_threads']} thread(s), "
        f"{tp['text_only']['rows']} English rows:",
        "",
        "| input | rows/s |",
        "|---|---|",
        f"| text only | {tp['text_only']['rows_per_s']:.1f} |",
        f"| text + image, cold feature cache (decode + EfficientNet-Lite0) | {tp['images_cold_cache']['rows_per_s']:.1f} |",
        f"| text + image, warm feature cache (features read by file hash) | {tp['images_warm_cache']['rows_per_s']:.1f} |",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--m2sa-model", default=str(ROOT / "assets" / "models" / "m2sa"), help="trained m2sa-builtin model")
    parser.add_argument("--train-m2sa", action="store_true", help="train m2sa-builtin here (per seed) instead of loading")
    parser.add_argument("--seeds", type=int, nargs="+", default=[13])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared machine)")
    parser.add_argument("--throughput-rows", type=int, default=160)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "m2sa.json"))
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from xsent_core.registry import load_model

    started = time.time()
    result: dict[str, Any] = {
        "command": "python benchmarks/m2sa.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "machine": machine(),
        "seeds": args.seeds,
    }
    m2sa_runs, clf_runs, m2sa_train, clf_train = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="m2sa-bench-") as tmp:
        for seed in args.seeds:
            if args.train_m2sa:
                m2sa, info = train_preset("m2sa", "m2sa-builtin", Path(tmp) / f"m2sa-{seed}", seed)
                m2sa_train.append({"seed": seed, **info})
            else:
                if len(args.seeds) > 1:
                    raise SystemExit("several seeds need --train-m2sa (the shipped model is one seed)")
                m2sa = load_model(args.m2sa_model, expected_method="m2sa")
                m2sa_train.append({"model": args.m2sa_model, "card": dict(m2sa.card.training)})
            t = time.time()
            m2sa_runs.append(evaluate_langs(m2sa))
            print(f"[m2sa seed {seed}] {json.dumps(m2sa_runs[-1])} ({time.time() - t:.0f}s)", flush=True)
            clf, info = train_preset("classifier", "classifier-en", Path(tmp) / f"clf-{seed}", seed)
            clf_train.append({"seed": seed, **info})
            t = time.time()
            clf_runs.append(evaluate_langs(clf))
            print(f"[classifier-en seed {seed}] {json.dumps(clf_runs[-1])} ({time.time() - t:.0f}s)", flush=True)
            del clf
        result["m2sa_text_only"] = {"preset": "m2sa-builtin", "training": m2sa_train, "runs": m2sa_runs, "summary": summarise(m2sa_runs)}
        result["classifier_en"] = {"preset": "classifier-en", "training": clf_train, "runs": clf_runs, "summary": summarise(clf_runs)}
        folder = Path(tmp) / "images"
        folder.mkdir()
        rows = image_rows(args.throughput_rows, folder)
        result["throughput"] = throughput(m2sa, rows, args.batch_size)
        print(f"[throughput] {json.dumps(result['throughput'])}", flush=True)
    result["machine"]["load_average_end"] = list(os.getloadavg())
    result["seconds"] = round(time.time() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
