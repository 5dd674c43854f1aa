"""int8 vs fp32 for every shipped model: test figures and speed, and the precision each model serves at.

    python benchmarks/inference_parity.py [--models assets/models] [--limit N] [--record]

For each model folder: its preset's test sets (GKLMIP dev for models trained
outside a preset, as their cards report), evaluated once with fp32 and once
with the int8 encoder in the same process. The headline figure is span F1 for
span methods and macro-F1 for sentence methods (the paper's metric beside
accuracy). int8 is kept when no test set moves by more than `--tolerance` F1
(0.005 = 0.5 points); `--record` writes that decision into the model's
config.json ("inference"), which `load_model(precision="auto")` follows.
Writes benchmarks/results/inference_parity.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GKLMIP_DEV = "gklmip:{data}/gklmip_myanmar_sentiment/dev.json"


def test_sets(card: Any) -> dict[str, str]:
    """name -> data spec: the preset's tests, else GKLMIP dev (what benchmarks/ctam.py reports)."""
    from xsent_core.registry import presets

    preset = presets(card.method).get(str(card.training.get("preset", "")))
    tests = dict(preset.data.get("test") or {}) if preset is not None else {}
    return tests or {"my-dev": GKLMIP_DEV}


def headline(report: dict[str, Any]) -> float:
    return float(report["f1"] if report["task"] == "spans" else report["macro_f1"])


def evaluate(model: Any, rows: list[Any]) -> tuple[dict[str, Any], float]:
    from xsent_core.evaluation import evaluate_examples

    start = time.perf_counter()
    report = evaluate_examples(model, rows)
    return report, time.perf_counter() - start


def compare_model(folder: Path, tolerance: float, limit: int | None) -> dict[str, Any]:
    from xsent_core.recipes import load_data
    from xsent_core.registry import load_model, read_model_card

    card = read_model_card(folder)
    models = {p: load_model(folder, precision=p) for p in ("fp32", "int8")}
    sets: dict[str, Any] = {}
    for name, spec in test_sets(card).items():
        rows = load_data(spec)[:limit]
        row: dict[str, Any] = {"data": spec, "n": len(rows)}
        for precision, model in models.items():
            report, seconds = evaluate(model, rows)
            row[precision] = {
                "headline": round(headline(report), 4),
                "accuracy": round(float(report["accuracy"]), 4) if "accuracy" in report else None,
                "seconds": round(seconds, 2),
            }
            if report["task"] == "sentence":
                row["majority_macro_f1"] = round(float(report["majority"]["macro_f1"]), 4)
        row["delta"] = round(row["int8"]["headline"] - row["fp32"]["headline"], 4)
        sets[name] = row
        print(f"{folder.name} {name}: fp32 {row['fp32']['headline']:.4f} int8 {row['int8']['headline']:.4f}", file=sys.stderr)
    worst = max(abs(r["delta"]) for r in sets.values())
    seconds = {p: sum(r[p]["seconds"] for r in sets.values()) for p in models}
    return {
        "method": card.method,
        "metric": "span F1" if models["fp32"].task == "spans" else "macro-F1",
        "sets": sets,
        "worst_abs_delta": round(worst, 4),
        "speedup_int8": round(seconds["fp32"] / seconds["int8"], 2),
        "precision": "int8" if worst <= tolerance else "fp32",
    }


def main(argv: list[str] | None = None) -> int:
    from benchmarks.machine import machine_facts

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", type=Path, default=ROOT / "assets" / "models")
    p.add_argument("--only", action="append", default=[], help="model folder name (repeatable)")
    p.add_argument("--limit", type=int, default=None, help="first N rows of each test set (smoke runs)")
    p.add_argument("--tolerance", type=float, default=0.005, help="largest |int8 - fp32| F1 on any test set")
    p.add_argument("--record", action="store_true", help="write each decision into the model's config.json")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "inference_parity.json")
    p.add_argument("--merge", action="store_true",
                   help="keep the other models of an existing --out file (each row records the command that measured it)")
    args = p.parse_args(argv)

    from xsent_core.registry import record_inference_check

    folders = sorted(f for f in args.models.iterdir() if (f / "config.json").is_file())
    if args.only:
        folders = [f for f in folders if f.name in args.only]
    result: dict[str, Any] = {
        "command": "python benchmarks/inference_parity.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine_facts(),
        "tolerance": args.tolerance,
        "limit": args.limit,
        "models": {},
    }
    if args.merge and args.out.is_file():
        earlier = json.loads(args.out.read_text(encoding="utf-8"))
        result["models"] = {name: {"command": earlier.get("command"), **row} for name, row in earlier["models"].items()}
    for folder in folders:
        row = {"command": result["command"], **compare_model(folder, args.tolerance, args.limit)}
        result["models"][folder.name] = row
        if args.record and args.limit is None:  # only a full run decides what a model serves at
            record_inference_check(folder, {
                "precision": row["precision"],
                "tolerance": args.tolerance,
                "worst_abs_delta": row["worst_abs_delta"],
                "deltas": {name: s["delta"] for name, s in row["sets"].items()},
                "measured_by": "benchmarks/inference_parity.py",
                "measured": time.strftime("%Y-%m-%d"),
            })
    result["parity_held"] = {name: row["precision"] == "int8" for name, row in result["models"].items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({n: (r["worst_abs_delta"], r["speedup_int8"], r["precision"]) for n, r in result["models"].items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
