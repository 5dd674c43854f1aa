"""GKLMIP dev read again: how often the star label disagrees with what a review says, and what that does to the scores.

GKLMIP's labels are the stars a shopper gave (1-2 negative, 3-4 neutral, 5
positive). `benchmarks/data/gklmip_dev_audit.tsv` holds, for each of the 358 dev
rows, the polarity of the review's text as read by one xsent developer (see
benchmarks/data/README.md for how, and its limits). This script reports:

1. stars against text polarity (how many five-star rows are complaints, how many
   four-star "neutral" rows are praise);
2. the **reader ceiling**: the audited text polarity used as a prediction and
   scored against the star labels. A model that reads every review as the audit
   does gets this score; reading text better cannot beat it;
3. models scored against both label sets, each beside the majority baseline on
   the same rows: `benchmarks/ctam.py` runs (their JSON keeps each dev row's
   prediction; seeds summarised with `benchmarks/ctam_seeds.summarise`, paired
   differences included) and model folders predicted here (`--models`, one
   model each, so no spread).

    python benchmarks/gklmip_audit.py --runs benchmarks/results/ctam_lora_seed1?.json \
        --models assets/models/classifier assets/models/vxlm assets/models/ctam

`--export-jsonl FILE` also writes the dev reviews with the audited labels as
JSONL, so any model can be scored against the text with the ordinary
`python -m xsent_core eval --method M --model DIR --data jsonl:FILE`.

Writes benchmarks/results/gklmip_audit.json and .md.
"""
from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ctam_seeds import METRICS, NAMES, pick, summarise  # noqa: E402  (one table layout for GKLMIP runs)
from benchmarks.machine import machine_facts  # noqa: E402

AUDIT = ROOT / "benchmarks" / "data" / "gklmip_dev_audit.tsv"
DEV = "gklmip:{data}/gklmip_myanmar_sentiment/dev.json"
LABEL_SETS = ("stars", "text")
STARS = ("1", "2", "3", "4", "5")


def read_audit(path: Path = AUDIT) -> list[dict[str, str]]:
    """Rows of the audit file in dev order; refuses gaps, repeats and unknown labels."""
    from xsent_core.types import SENTIMENT_LABELS

    if not path.is_file():
        raise SystemExit(f"{path}: no audit file there")
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for i, row in enumerate(rows):
        if row["row"] != str(i):
            raise ValueError(f"{path}: line {i + 2} is row {row['row']}, expected {i} (rows must be complete and in order)")
        if row["text_polarity"] not in SENTIMENT_LABELS or row["stars"] not in STARS:
            raise ValueError(f"{path}: line {i + 2} has stars {row['stars']!r} / polarity {row['text_polarity']!r}")
    return rows


def star_label(stars: str) -> str:
    """CTAM's 3-class mapping of GKLMIP stars, the one the GKLMIP reader labels rows with."""
    from xsent_core.data.gklmip import STARS_TO_LABEL

    return STARS_TO_LABEL[int(stars)]


def stars_by_text(audit: Sequence[dict[str, str]]) -> dict[str, dict[str, int]]:
    counts = Counter((row["stars"], row["text_polarity"]) for row in audit)
    return {s: {lab: counts[(s, lab)] for lab in ("negative", "neutral", "positive")} for s in STARS}


def audited_rows(dev_rows: Sequence[Any], audit: Sequence[dict[str, str]]) -> list[dict[str, Any]]:
    """GKLMIP dev rows as JSONL rows labelled with the audit's text polarity (the stars kept beside it)."""
    return [{**ex.to_dict(), "label": row["text_polarity"], "stars": row["stars"]} for ex, row in zip(dev_rows, audit)]


def two_way(row: dict[str, Any]) -> str | None:
    """The evaluation module's two-way choice for a kept prediction row."""
    from xsent_core.evaluation import two_way_choice
    from xsent_core.types import Prediction

    return two_way_choice(Prediction(label=row["label"], probs=row.get("probs") or None))


def rescored_run(run: dict[str, Any], gold: Sequence[str], where: str = "a run") -> dict[str, Any]:
    """`run` with each model's dev report recomputed against `gold` from its kept predictions."""
    from xsent_core.evaluation import sentence_report

    results = {}
    for name, r in run["results"].items():
        rows = r.get("dev", {}).get("rows")
        if rows is None:
            raise SystemExit(f"{where}: {name} kept no per-row predictions (re-run benchmarks/ctam.py)")
        if len(rows) != len(gold):
            raise SystemExit(f"{name}: {len(rows)} predictions for {len(gold)} dev rows")
        report = sentence_report(gold, [row["label"] for row in rows], two_way=[two_way(row) for row in rows])
        results[name] = {**r, "dev": report}
    return {**run, "results": results}


def model_reports(folders: Sequence[Path], dev_rows: Sequence[Any], golds: dict[str, list[str]]) -> dict[str, Any]:
    from xsent_core.evaluation import prediction_report
    from xsent_core.registry import load_model, read_model_card

    out = {}
    for folder in folders:
        model = load_model(folder)
        predictions = model.predict(dev_rows)
        out[folder.name] = {
            "method": read_model_card(folder).method,
            **{name: prediction_report(gold, predictions) for name, gold in golds.items()},
        }
    return out


def metric_row(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The ctam_seeds metrics of one report, in points; the two-way reading only where probabilities gave one."""
    return {label: {"model": round(pick(report, path), 2), "majority": round(pick(report, majority), 2)}
            for label, path, majority in METRICS if "two_way" not in path or "two_way" in report.get("pos_neg", {})}


def markdown(r: dict[str, Any]) -> str:
    a = r["audit"]
    lines = [
        f"GKLMIP dev ({a['rows']} rows): star labels against the polarity of each review's text "
        f"(`benchmarks/data/gklmip_dev_audit.tsv`; how it was read: benchmarks/data/README.md).",
        "",
        "| stars | text negative | text neutral / mixed | text positive | star label |",
        "|---|---|---|---|---|",
    ]
    for s, c in a["stars_by_text"].items():
        lines.append(f"| {s} | {c['negative']} | {c['neutral']} | {c['positive']} | {star_label(s)} |")
    lines += [
        "",
        f"Rows whose text polarity differs from the star label: {a['disagreements']} of {a['rows']} "
        f"({100 * a['disagreements'] / a['rows']:.1f} %); five-star complaints: {a['five_star_complaints']}.",
        "",
        "**Reader ceiling**: the text polarity used as a prediction, scored against the star labels "
        "(what a model that reads every review as the audit does would score):",
        "",
        "| metric | reader | majority |",
        "|---|---|---|",
    ]
    for label, v in r["reader_ceiling"].items():
        lines.append(f"| {label} | {v['model']:.2f} | {v['majority']:.2f} |")
    for key, s in r.get("runs", {}).items():
        models = list(s["stars"]["paper_f1"])
        lines += ["", f"**{key}** (seeds {s['stars']['seeds']}; {'; '.join(s['stars']['commands'])}), mean ± std:", "",
                  "| metric | labels | majority | " + " | ".join(NAMES[m] for m in models) + " |",
                  "|---|---|---|" + "---|" * len(models)]
        for label, _, _ in METRICS:
            for which in LABEL_SETS:
                row = s[which]["metrics"][label]
                cells = [f"{row[m]['mean']:.2f} ± {row[m]['std']:.2f}" for m in models]
                lines.append(f"| {label} | {which} | {row['majority']:.2f} | " + " | ".join(cells) + " |")
        lines += ["", "Paired differences (per seed, points):", "", "| pair | labels | metric | per seed | mean | verdict |",
                  "|---|---|---|---|---|---|"]
        for which in LABEL_SETS:
            for pair, metrics in s[which]["paired_differences"].items():
                for label, d in metrics.items():
                    lines.append(f"| {pair} | {which} | {label} | {', '.join(f'{v:+.2f}' for v in d['differences'])} "
                                 f"| {d['mean']:+.2f} | {d['verdict']} |")
    if r.get("models"):
        lines += ["", "Model folders (one model each, no spread):", "", "| model | metric | stars | majority (stars) | text | majority (text) |",
                  "|---|---|---|---|---|---|"]
        for name, m in r["models"].items():
            for label in m["stars"]:
                st, tx = m["stars"][label], m["text"][label]
                lines.append(f"| {name} | {label} | {st['model']:.2f} | {st['majority']:.2f} | {tx['model']:.2f} | {tx['majority']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="*", type=Path, default=[], help="benchmarks/ctam.py results of several seeds, one setting")
    ap.add_argument("--models", nargs="*", type=Path, default=[], help="saved sentence models to predict on GKLMIP dev")
    ap.add_argument("--audit", type=Path, default=AUDIT)
    ap.add_argument("--export-jsonl", type=Path, default=None, metavar="FILE", help="write dev with the audited labels as JSONL")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gklmip_audit.json")
    args = ap.parse_args()

    from xsent_core.evaluation import sentence_report
    from xsent_core.recipes import load_data

    audit = read_audit(args.audit)
    dev_rows = load_data(DEV)
    if len(dev_rows) != len(audit):
        raise SystemExit(f"the audit has {len(audit)} rows, GKLMIP dev {len(dev_rows)}")
    if [int(row["stars"]) for row in audit] != [ex.meta["stars"] for ex in dev_rows]:
        raise SystemExit("the audit's stars do not match GKLMIP dev's: another version of the data?")
    stars = [ex.label for ex in dev_rows]
    text = [row["text_polarity"] for row in audit]
    if args.export_jsonl:
        from xsent_core.data.jsonl import write_jsonl

        n = write_jsonl(args.export_jsonl, audited_rows(dev_rows, audit))
        print(f"wrote {n} rows with the audited labels to {args.export_jsonl}")
    golds = {"stars": stars, "text": text}
    report: dict[str, Any] = {
        "command": "python benchmarks/gklmip_audit.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "machine": machine_facts(),
        "audit": {
            "file": str(args.audit.resolve().relative_to(ROOT)) if args.audit.resolve().is_relative_to(ROOT) else str(args.audit),
            "rows": len(audit),
            "stars_by_text": stars_by_text(audit),
            "disagreements": sum(s != t for s, t in zip(stars, text)),
            "five_star_complaints": sum(row["stars"] == "5" and row["text_polarity"] == "negative" for row in audit),
            "text_labels": dict(Counter(text)),
        },
        "reader_ceiling": metric_row(sentence_report(stars, text)),
    }
    if args.runs:
        runs = {str(p): json.loads(p.read_text(encoding="utf-8")) for p in sorted(args.runs)}
        key = next(iter(runs.values())).get("budget", {}).get("setting", "runs")
        report["runs"] = {key: {which: summarise([rescored_run(run, gold, path) for path, run in runs.items()])
                                for which, gold in golds.items()}}
    if args.models:
        reports = model_reports(args.models, dev_rows, golds)
        report["models"] = {name: {"method": m["method"], **{w: metric_row(m[w]) for w in LABEL_SETS}} for name, m in reports.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    md = markdown(report)
    args.out.with_suffix(".md").write_text(md, encoding="utf-8")
    print(md)


if __name__ == "__main__":
    main()
