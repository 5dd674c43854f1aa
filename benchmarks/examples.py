"""Hand-written example sentences against every shipped model.

    .venv/bin/python benchmarks/examples.py [--models-dir assets/models] [--out benchmarks/results/examples.json]

`benchmarks/data/examples.jsonl` holds the app's example sentences, contrastive
sentences in the five SemEval languages (expected aspect -> polarity) and
sentence-level rows, Burmese of both polarities among them (expected label, with
an English gloss). Span models (task "spans") run on the aspect rows, sentence
models on the labelled rows. An aspect row is right when every expected aspect
lies inside a predicted span of the expected polarity and no span over it says
otherwise, and no predicted span covers a word in its `not_aspects` (words SemEval-2016's
guidelines do not mark as opinion targets, e.g. "prices": a price opinion's target is the
restaurant or NULL); a sentence row when the predicted label is the expected one.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

EXAMPLES = REPO / "benchmarks" / "data" / "examples.jsonl"


def read_rows(path: Path = EXAMPLES) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def aspect_verdict(text: str, expected: Mapping[str, str], spans: Sequence[Any],
                   not_aspects: Sequence[str] = ()) -> tuple[bool, dict[str, list[str]]]:
    """(all aspects right and no span over a not-aspect?, word -> polarities of the predicted spans over it)."""
    found: dict[str, list[str]] = {}
    for word in (*expected, *not_aspects):
        start = text.find(word)
        end = start + len(word)
        found[word] = [s.polarity for s in spans if s.start < end and start < s.end] if start >= 0 else []
    right = all(found[a] and set(found[a]) == {pol} for a, pol in expected.items()) and not any(found[w] for w in not_aspects)
    return right, found


def run_model(folder: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    from xsent_core.registry import load_model
    from xsent_core.types import Example

    model = load_model(folder)
    task = model.task
    mine = [r for r in rows if ("aspects" in r) == (task == "spans")]
    examples = [Example(id=r["id"], text=r["text"], lang=r.get("lang")) for r in mine]
    start = time.perf_counter()
    preds = model.predict(examples)
    seconds = time.perf_counter() - start
    out_rows = []
    for row, pred in zip(mine, preds):
        if task == "spans":
            not_aspects = row.get("not_aspects", [])
            right, found = aspect_verdict(row["text"], row["aspects"], pred.spans or (), not_aspects)
            out_rows.append({"id": row["id"], "expected": row["aspects"], **({"not_aspects": not_aspects} if not_aspects else {}),
                             "predicted": found, "right": right})
        else:
            out_rows.append({
                "id": row["id"], "expected": row["label"], "predicted": pred.label,
                "probs": {k: round(v, 3) for k, v in (pred.probs or {}).items()}, "right": pred.label == row["label"],
            })
    right = sum(r["right"] for r in out_rows)
    return {
        "method": model.name,
        "task": task,
        "rows": len(out_rows),
        "right": right,
        "fraction_right": right / len(out_rows) if out_rows else None,
        "readme_sentence_right": next((r["right"] for r in out_rows if r["id"] == "readme"), None),
        "predict_seconds": round(seconds, 2),
        "details": out_rows,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models-dir", default=str(REPO / "assets" / "models"))
    p.add_argument("--models", nargs="*", help="only these folder names")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "examples.json"))
    args = p.parse_args()
    from machine import machine_facts

    rows = read_rows()
    folders = sorted(d for d in Path(args.models_dir).iterdir() if (d / "config.json").is_file())
    if args.models:
        folders = [d for d in folders if d.name in args.models]
    results = {}
    for folder in folders:
        results[folder.name] = run_model(folder, rows)
        r = results[folder.name]
        print(f"{folder.name:12s} {r['task']:8s} {r['right']}/{r['rows']} right", flush=True)
    out = Path(args.out)
    previous = json.loads(out.read_text()) if out.exists() else {}
    models = {**previous.get("models", {}), **results}
    data = {
        "command": "python benchmarks/examples.py " + " ".join(sys.argv[1:]),
        "machine": machine_facts(),
        "rows_file": str(EXAMPLES.relative_to(REPO)),
        "summary": {name: f"{m['right']}/{m['rows']}" for name, m in models.items()},
        "models": models,
    }
    out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
