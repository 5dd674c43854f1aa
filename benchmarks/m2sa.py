"""M2SA benchmark: the paper's multilingual-vs-monolingual comparison, and speed with images.

1. Per-language macro-F1 (the paper's metric) on the SemEval-2016 restaurant
   sentence-polarity test sets (EN/ES/FR/NL/RU), three text-only M2SA rows on the
   same data, encoder, trainable layers and epochs (preset `m2sa-builtin`):
   - multilingual: one model trained on all five languages (the shipped recipe);
   - monolingual: one model per language, trained and selected on that language only
     (the paper's monolingual rows);
   - English-only: the English monolingual model tested on every language (zero-shot
     transfer; how much target-language supervision is worth).
   Each row beside the majority-class baseline of the same test set; per-seed paired
   differences multilingual - monolingual and multilingual - English-only.
   The paper's multimodal-vs-text-only row is not measured: no image-text sentiment
   data can be installed offline (the M2SA tweets are not redistributable).
2. Throughput of the shipped M2SA model (rows/s, batch 16, CPU) on text-only rows
   vs rows with an image: cold (every image decoded and encoded) and warm (image
   features read from the on-disk cache).

Every finished training run is kept in benchmarks/results/m2sa_runs/ and skipped when
the command is repeated; benchmarks/results/m2sa.{json,md} are rewritten at the end.

    python benchmarks/m2sa.py --seeds 13 14 15
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LANGS = ("en", "es", "fr", "nl", "ru")
SEMEVAL = "semeval:{data}/semeval16_restaurants/gold-%s-%s.txt"
TEST = SEMEVAL.replace("%s-%s", "%s-test")
RUNS = ROOT / "benchmarks" / "results" / "m2sa_runs"
KEPT = ("macro_f1", "accuracy", "majority_macro_f1", "n")


def machine() -> dict[str, Any]:
    """`machine_facts()` (torch threads already set) plus the load at the start: the cores are shared."""
    from benchmarks.machine import machine_facts

    return {**machine_facts(), "load_average_start": list(os.getloadavg())}


def training_data(lang: str | None) -> dict[str, Any]:
    """The preset's data for one language (monolingual) or None: all five (multilingual)."""
    langs = LANGS if lang is None else (lang,)
    tested = LANGS if lang in (None, "en") else (lang,)  # the English model is also the zero-shot row
    return {
        "train": [SEMEVAL % (code, "train") for code in langs],
        "dev": [SEMEVAL % (code, "dev") for code in langs],
        "test": {code: TEST % code for code in tested},
    }


def run_one(lang: str | None, seed: int) -> dict[str, Any]:
    """Train m2sa-builtin on one language's data (or all), test, keep the scores (not the weights)."""
    from xsent_core.recipes import run_preset

    name = f"{lang or 'all'}-{seed}"
    saved = RUNS / f"{name}.json"
    if saved.exists():
        return json.loads(saved.read_text())
    t = time.time()
    with tempfile.TemporaryDirectory(prefix="m2sa-bench-") as tmp:
        report = run_preset("m2sa", "m2sa-builtin", Path(tmp) / name, train_overrides={"seed": seed}, progress=False,
                            data=training_data(lang))
    if report["status"] != "finished":
        raise SystemExit(f"m2sa {name} did not finish: {report['status']}")
    run = {
        "train_langs": list(LANGS) if lang is None else [lang],
        "seed": seed,
        "steps": report["steps"],
        "minutes": round((time.time() - t) / 60, 2),
        "test": {code: {k: float(scores[k]) for k in KEPT} for code, scores in report["test"].items()},
    }
    RUNS.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(run, indent=2) + "\n")
    print(f"[m2sa {name}] {json.dumps(run['test'])} ({run['minutes']} min)", flush=True)
    return run


def row_scores(runs: dict[str | None, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per seed, the three rows' macro-F1 per test language, in points."""
    pick = lambda run, code: 100 * run["test"][code]["macro_f1"]  # noqa: E731
    return {
        "multilingual": {code: pick(runs[None], code) for code in LANGS},
        "monolingual": {code: pick(runs[code], code) for code in LANGS},
        "english_only": {code: pick(runs["en"], code) for code in LANGS},
    }


def summarise(per_seed: list[dict[str, dict[str, float]]]) -> dict[str, Any]:
    """Mean ± std per row and test set (plus averages) and the paired differences."""
    from xsent_core.evaluation import paired_difference, seed_summary

    keys = {**{code: (code,) for code in LANGS}, "avg_non_en": LANGS[1:], "avg_all": LANGS}
    values = {
        row: {key: [sum(s[row][c] for c in codes) / len(codes) for s in per_seed] for key, codes in keys.items()}
        for row in per_seed[0]
    }
    out: dict[str, Any] = {row: {key: seed_summary(v).as_dict() for key, v in by_key.items()} for row, by_key in values.items()}
    for other in ("monolingual", "english_only"):
        out[f"multilingual_minus_{other}"] = {
            key: paired_difference(values["multilingual"][key], values[other][key]).as_dict()
            for key in keys
            if not (other == "english_only" and key in ("en", "avg_all"))  # English-only on English is monolingual
        }
    return out


def markdown(result: dict[str, Any]) -> str:
    s, maj, m = result["summary"], result["majority_macro_f1"], result["machine"]
    lines = [
        "# M2SA benchmark",
        "",
        f"Command: `{result['command']}`. Machine: {m['cpu_count']} CPU cores, torch {m['torch']}, "
        f"{m['torch_threads']} thread(s), load average at start {m['load_average_start'][0]:.1f} (shared machine). "
        f"Seeds {result['seeds']}: mean ± sample std; paired differences are per seed.",
        "",
        "Text-only M2SA (`m2sa-builtin`: builtin encoder, top 2 layers + head, 4 epochs, checkpoint chosen on the "
        "training languages' dev sets), macro-F1 (the paper's metric) on the SemEval-2016 restaurant "
        "sentence-polarity test sets. Multilingual: one model on all five languages; monolingual: one model per "
        "language (the paper's comparison); English-only: the English model tested on every language.",
        "",
        "| test set | rows | majority | multilingual | monolingual | English-only | multi − mono (per seed) | multi − English-only |",
        "|---|---|---|---|---|---|---|---|",
    ]
    cell = lambda x: f"{x['mean']:.1f} ± {x['std']:.1f}"  # noqa: E731

    def diff(name: str, key: str) -> str:
        d = result["summary"][name].get(key)
        if d is None:  # English-only on English is the monolingual English model
            return "(same model)" if key == "en" else "—"
        return f"{d['mean']:+.1f} ({', '.join(f'{x:+.1f}' for x in d['differences'])}): {d['verdict']}"

    for key in (*LANGS, "avg_non_en", "avg_all"):
        name = {"avg_non_en": "average ES/FR/NL/RU", "avg_all": "average of 5"}.get(key, key.upper())
        rows = str(result["test_rows"][key]) if key in result["test_rows"] else ""
        lines.append(
            f"| {name} | {rows} | {maj[key]:.1f} | {cell(s['multilingual'][key])} | {cell(s['monolingual'][key])} | "
            f"{cell(s['english_only'][key])} | {diff('multilingual_minus_monolingual', key)} | "
            f"{diff('multilingual_minus_english_only', key)} |"
        )
    minutes = {row: ", ".join(f"{m:.1f}" for m in values) for row, values in result["train_minutes"].items()}
    lines += [
        "",
        f"Minutes per run (training, dev and test evaluation), seed by seed: multilingual {minutes['multilingual']}; "
        f"the five monolingual models together {minutes['monolingual']}. "
        "A difference is a gain only when every seed agrees and it exceeds the seed spread. Every row trains the "
        "same number of epochs, so a monolingual model takes a fifth of the multilingual model's steps; longer monolingual training was not measured.",
        "",
        "Not measured: the paper's multimodal vs text-only rows. No image-text sentiment data can be installed "
        "offline (the M2SA tweets and images are not redistributable), so every training row here uses the "
        "learned 'no image' vector; bring your own data with `python -m xsent_core.methods.m2sa.importer` to run it.",
    ]
    tp = result["throughput"]
    lines += [
        "",
        f"Prediction throughput of the shipped model, batch {tp['batch_size']}, CPU, {m['torch_threads']} thread(s), "
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--m2sa-model", default=str(ROOT / "assets" / "models" / "m2sa"), help="model whose speed is measured")
    parser.add_argument("--seeds", type=int, nargs="+", default=[13, 14, 15])
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
    per_seed, runs_by_seed = [], {}
    for seed in args.seeds:
        runs = {lang: run_one(lang, seed) for lang in (None, *LANGS)}
        runs_by_seed[seed] = runs
        per_seed.append(row_scores(runs))
    first = runs_by_seed[args.seeds[0]][None]["test"]
    result["test_rows"] = {code: int(first[code]["n"]) for code in LANGS}
    majority = {code: 100 * first[code]["majority_macro_f1"] for code in LANGS}
    majority["avg_non_en"] = sum(majority[c] for c in LANGS[1:]) / 4
    majority["avg_all"] = sum(majority[c] for c in LANGS) / 5
    result["majority_macro_f1"] = majority
    result["per_seed"] = dict(zip(map(str, args.seeds), per_seed))
    result["summary"] = summarise(per_seed)
    # per seed, not averaged: a run that shared the cores shows as the outlier it is
    result["train_minutes"] = {
        "multilingual": [r[None]["minutes"] for r in runs_by_seed.values()],
        "monolingual": [round(sum(r[c]["minutes"] for c in LANGS), 2) for r in runs_by_seed.values()],
    }
    result["not_measured"] = "multimodal vs text-only: no image-text sentiment data installable offline"
    with tempfile.TemporaryDirectory(prefix="m2sa-images-") as tmp:
        rows = image_rows(args.throughput_rows, Path(tmp))
        result["throughput"] = throughput(load_model(args.m2sa_model, expected_method="m2sa"), rows, args.batch_size)
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
