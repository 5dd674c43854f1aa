"""Mean and spread of several `benchmarks/ctam.py` runs that differ only in --seed.

    python benchmarks/ctam.py --seed 13 --out benchmarks/results/ctam_seed13.json   # likewise 14, 15
    python benchmarks/ctam_seeds.py benchmarks/results/ctam_seed*.json

Writes benchmarks/results/ctam_seeds.json and .md (GKLMIP dev macro-F1 / accuracy per model).
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAPER = {"classifier": 82.56, "vxlm": 82.63, "ctam": 83.14}  # the paper's F1 on its Burmese test set
NAMES = {"classifier": "fine-tuned classifier baseline", "vxlm": "VXLM", "ctam": "CTAM"}


def spread(values: list[float]) -> dict[str, float]:
    return {
        "mean": round(statistics.fmean(values), 2),
        "std": round(statistics.stdev(values), 2) if len(values) > 1 else 0.0,
        "values": [round(v, 2) for v in values],
    }


def summarise(runs: list[dict]) -> dict:
    models = [m for m in PAPER if all(m in r["results"] for r in runs)]
    table = {}
    for m in models:
        table[m] = {
            "macro_f1": spread([100 * r["results"][m]["dev"]["macro_f1"] for r in runs]),
            "accuracy": spread([100 * r["results"][m]["dev"]["accuracy"] for r in runs]),
            "paper_f1": PAPER[m],
        }
    order = sorted(models, key=lambda m: -table[m]["macro_f1"]["mean"])
    return {
        "seeds": [r["budget"]["seed"] for r in runs],
        "minutes_per_run": [round(r["total_seconds"] / 60, 1) for r in runs],
        "commands": [r["command"] for r in runs],
        "machine": runs[0]["machine"],
        "models": table,
        "order_by_mean_macro_f1": order,
    }


def markdown(s: dict) -> str:
    lines = [
        f"GKLMIP dev (358 rows), seeds {s['seeds']}; minutes per run {s['minutes_per_run']} on 2 CPU cores.",
        "",
        "| model | paper F1 | dev macro-F1 (mean ± std) | dev accuracy (mean ± std) | per seed macro-F1 |",
        "|---|---|---|---|---|",
    ]
    for m, row in s["models"].items():
        f1, acc = row["macro_f1"], row["accuracy"]
        lines.append(
            f"| {NAMES[m]} | {row['paper_f1']} | {f1['mean']:.2f} ± {f1['std']:.2f} | "
            f"{acc['mean']:.2f} ± {acc['std']:.2f} | {', '.join(f'{v:.2f}' for v in f1['values'])} |"
        )
    lines += ["", "Order by mean macro-F1: " + " > ".join(NAMES[m] for m in s["order_by_mean_macro_f1"]), ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ctam_seeds.json")
    args = ap.parse_args()
    runs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(args.runs)]
    summary = summarise(runs)
    args.out.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(summary), encoding="utf-8")
    print(markdown(summary))


if __name__ == "__main__":
    main()
