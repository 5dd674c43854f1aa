"""Mean, spread and paired differences of several `benchmarks/ctam.py` runs that differ only in --seed.

    python benchmarks/ctam.py --seed 13 --out benchmarks/results/ctam_seed13.json   # likewise 14, 15
    python benchmarks/ctam_seeds.py benchmarks/results/ctam_seed1?.json
    python benchmarks/ctam_seeds.py benchmarks/results/ctam_la_seed1?.json --out benchmarks/results/ctam_la_seeds.json \
        --baseline benchmarks/results/ctam_seed1?.json     # + paired differences against runs without the option

Both readings of GKLMIP dev, each beside the majority-class baseline on the same
rows: 3-class (macro-F1, accuracy) and the paper's positive-vs-negative reading
(rows whose gold label is not neutral; a neutral prediction is a miss), macro and
weighted, plus the same rows decided two-way (the more probable of the two).
Paired differences per seed between the models (`evaluation.paired_difference`:
a difference within the spread is a tie). Writes benchmarks/results/ctam_seeds.json and .md.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ctam import portable_command  # noqa: E402  (one rule for machine paths in reports)

PAPER = {"classifier": 82.56, "vxlm": 82.63, "ctam": 83.14}  # the paper's F1 on its Burmese test set
NAMES = {"classifier": "fine-tuned classifier baseline", "vxlm": "VXLM", "ctam": "CTAM"}
# (label, path into a dev report, path into its majority baseline)
METRICS = (
    ("3-class macro-F1", ("macro_f1",), ("majority", "macro_f1")),
    ("3-class accuracy", ("accuracy",), ("majority", "accuracy")),
    ("pos-vs-neg macro-F1", ("pos_neg", "macro_f1"), ("pos_neg", "majority", "macro_f1")),
    ("pos-vs-neg weighted-F1", ("pos_neg", "weighted_f1"), ("pos_neg", "majority", "weighted_f1")),
    ("pos-vs-neg two-way macro-F1", ("pos_neg", "two_way", "macro_f1"), ("pos_neg", "majority", "macro_f1")),
)
PAIRS = (("vxlm", "classifier"), ("ctam", "vxlm"), ("ctam", "classifier"))


def pick(report: dict[str, Any], path: tuple[str, ...]) -> float:
    for key in path:
        report = report[key]
    return 100 * float(report)


def summarise(runs: list[dict]) -> dict:
    from xsent_core.evaluation import paired_difference, seed_summary

    models = [m for m in PAPER if all(m in r["results"] for r in runs)]
    dev = {m: [r["results"][m]["dev"] for r in runs] for m in models}
    table: dict[str, Any] = {}
    for label, path, majority in METRICS:
        table[label] = {"majority": round(pick(dev[models[0]][0], majority), 2)}
        for m in models:
            s = seed_summary([pick(d, path) for d in dev[m]])
            table[label][m] = {"mean": round(s.mean, 2), "std": round(s.std, 2), "values": [round(v, 2) for v in s.values]}
    pairs = {}
    for a, b in PAIRS:
        if a in models and b in models:
            pairs[f"{a} - {b}"] = {
                label: {k: (round(v, 2) if isinstance(v, float) else [round(x, 2) for x in v] if isinstance(v, list) else v)
                        for k, v in paired_difference([pick(d, path) for d in dev[a]], [pick(d, path) for d in dev[b]]).as_dict().items()}
                for label, path, _ in METRICS[:3]
            }
    predicted = {m: [sorted({lab for lab, row in zip(d["labels"], zip(*d["confusion_matrix"])) if sum(row)}) for d in dev[m]] for m in models}
    return {
        "seeds": [r["budget"]["seed"] for r in runs],
        "minutes_per_run": [round(r["total_seconds"] / 60, 1) for r in runs],
        "commands": [portable_command(r["command"]) for r in runs],
        "settings": {k: runs[0]["budget"].get(k, default) for k, default in (
            ("setting", "supervised"), ("adaptation", {"adapt": "top-k", "train_from_layer": runs[0]["budget"]["train_from_layer"]}),
            ("imbalance", {}), ("ctam_dual_path", {"align_layers": 1, "detach_teacher": True}),
            ("selection", "GKLMIP train @select"), ("tokenize_words_as", "separate"))},
        "machine": runs[0]["machine"],
        "dev_rows": dev[models[0]][0]["n"],
        "paper_f1": {m: PAPER[m] for m in models},
        "metrics": table,
        "paired_differences": pairs,
        "labels_ever_predicted": predicted,
    }


def against(runs: list[dict], baseline: list[dict]) -> dict[str, Any]:
    """Per model and metric: these runs minus the baseline runs of the same seeds."""
    from xsent_core.evaluation import paired_difference

    seeds = [r["budget"]["seed"] for r in runs]
    if [r["budget"]["seed"] for r in baseline] != seeds:
        raise SystemExit(f"--baseline runs must have the same seeds in the same order ({seeds})")
    out: dict[str, Any] = {}
    for m in PAPER:
        if all(m in r["results"] for r in runs + baseline):
            out[m] = {}
            for label, path, _ in METRICS:
                d = paired_difference([pick(r["results"][m]["dev"], path) for r in runs],
                                      [pick(r["results"][m]["dev"], path) for r in baseline]).as_dict()
                out[m][label] = {"differences": [round(v, 2) for v in d["differences"]], "mean": round(d["mean"], 2), "verdict": d["verdict"]}
    return {"baseline_commands": [portable_command(r["command"]) for r in baseline], "paired": out}


def with_classifier_from(runs: list[dict], donors: list[dict]) -> list[dict]:
    """`runs` with the classifier result of the donor run of the same seed; the command says where it came from."""
    seeds = [r["budget"]["seed"] for r in runs]
    if [d["budget"]["seed"] for d in donors] != seeds:
        raise SystemExit(f"--classifier-from runs must have the same seeds in the same order ({seeds})")
    if not all("classifier" in d["results"] for d in donors):
        raise SystemExit("--classifier-from: a run without a classifier result")
    out = []
    for r, d in zip(runs, donors):
        r = {**r, "results": {"classifier": d["results"]["classifier"], **r["results"]}}
        r["command"] = f"{r['command']} (classifier: {d['command']})"
        out.append(r)
    return out


def markdown(s: dict) -> str:
    models = list(s["paper_f1"])
    lines = [
        f"GKLMIP dev ({s['dev_rows']} rows), seeds {s['seeds']}; minutes per run {s['minutes_per_run']} on 2 CPU cores. "
        f"Paper's F1 (its own test set): " + ", ".join(f"{NAMES[m]} {s['paper_f1'][m]}" for m in models) + ".",
        "",
        "Settings: " + "; ".join(f"{k}: {json.dumps(v) if isinstance(v, dict) else v}" for k, v in s.get("settings", {}).items()) + ".",
        "",
        "| metric | majority baseline | " + " | ".join(NAMES[m] for m in models) + " |",
        "|---|---|" + "---|" * len(models),
    ]
    for label, row in s["metrics"].items():
        cells = [f"{row[m]['mean']:.2f} ± {row[m]['std']:.2f}" for m in models]
        lines.append(f"| {label} | {row['majority']:.2f} | " + " | ".join(cells) + " |")
    lines += ["", "Paired differences (per seed, points):", "", "| pair | metric | per seed | mean | verdict |", "|---|---|---|---|---|"]
    for pair, metrics in s["paired_differences"].items():
        for label, d in metrics.items():
            lines.append(f"| {pair} | {label} | {', '.join(f'{v:+.2f}' for v in d['differences'])} | {d['mean']:+.2f} | {d['verdict']} |")
    if "against_baseline" in s:
        lines += ["", "Against the baseline runs (" + "; ".join(s["against_baseline"]["baseline_commands"]) + "), per seed:", "",
                  "| model | metric | per seed | mean | verdict |", "|---|---|---|---|---|"]
        for m, metrics in s["against_baseline"]["paired"].items():
            for label, d in metrics.items():
                lines.append(f"| {NAMES[m]} | {label} | {', '.join(f'{v:+.2f}' for v in d['differences'])} | {d['mean']:+.2f} | {d['verdict']} |")
    lines += ["", "Labels each model predicted at least once, per seed: "
              + "; ".join(f"{NAMES[m]} {v}" for m, v in s["labels_ever_predicted"].items()), ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ctam_seeds.json")
    ap.add_argument("--baseline", nargs="+", type=Path, help="runs of the same seeds without the option being measured")
    ap.add_argument("--classifier-from", nargs="+", type=Path, metavar="RUN",
                    help="runs of the same seeds whose classifier baseline stands beside these runs' models "
                         "(for options the classifier does not read, e.g. --tokenize-words-as)")
    args = ap.parse_args()
    runs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(args.runs)]
    if args.classifier_from:
        runs = with_classifier_from(runs, [json.loads(p.read_text(encoding="utf-8")) for p in sorted(args.classifier_from)])
    summary = summarise(runs)
    if args.baseline:
        summary["against_baseline"] = against(runs, [json.loads(p.read_text(encoding="utf-8")) for p in sorted(args.baseline)])
    args.out.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(summary), encoding="utf-8")
    print(markdown(summary))


if __name__ == "__main__":
    main()
