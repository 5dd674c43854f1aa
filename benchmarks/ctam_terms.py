"""Do CTAM's L_R and L_S act? Term sizes and gradient shares of trained CTAM models.

For each saved CTAM model (a `benchmarks/ctam.py` run folder's `ctam/`, or a shipped
folder), on `--batches` training batches of GKLMIP train (@train: the students) paired
with the model's English teachers, in training mode with dropout off:
- each term's value, weighted value (lambda_t/r/s) and the L2 norm of its weighted
  gradient on (a) the encoder's trained tensors, (b) every trained tensor;
- its share of the summed norms (`xsent_core.diagnostics.gradient_shares`).
A term with a share near 0 moves nothing however its equation reads.

    python benchmarks/ctam_terms.py RUN.json [RUN.json ...] --out benchmarks/results/ctam_terms.json

A run JSON names its model folder in `run_folder`; `--folder RUN.json=PATH` gives it for
runs that predate that key.
"""
from __future__ import annotations

import argparse
import json
import random
import shlex
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GKLMIP_TRAIN = "gklmip:{data}/gklmip_myanmar_sentiment/train.json@train"


def measure(folder: Path, batches: int, batch_size: int, seed: int) -> dict[str, Any]:
    import torch

    from xsent_core.diagnostics import gradient_shares
    from xsent_core.recipes import load_data
    from xsent_core.registry import load_model

    model = load_model(folder, expected_method="ctam", for_training=True)
    rows = load_data(GKLMIP_TRAIN)
    rng = random.Random(seed)
    rows = rng.sample(rows, min(len(rows), batches * batch_size))
    items = model.prepare(rows)
    model.train()
    for m in model.modules():  # the gradients, not one dropout draw, are measured
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    groups = {
        "encoder": [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("encoder.")],
        "all_trained": [p for p in model.parameters() if p.requires_grad],
    }
    weights = model.loss_weights()
    sums: dict[str, dict[str, dict[str, float]]] = {g: {} for g in groups}
    torch.manual_seed(seed)
    n = 0
    for batch in model.batches(items, batch_size, True, random.Random(seed)):
        terms = model.loss_terms(batch)
        for g, params in groups.items():
            for name, vals in gradient_shares(terms, weights, params).items():
                acc = sums[g].setdefault(name, {})
                for k, v in vals.items():
                    acc[k] = acc.get(k, 0.0) + v
        n += 1
        if n == batches:
            break
    return {
        "folder": str(folder),
        "config": {k: getattr(model.config, k) for k in ("setting", "adapt", "align_layers", "detach_teacher", "lambda_t",
                                                         "lambda_r", "lambda_s", "logit_adjust")},
        "batches": n,
        "batch_size": batch_size,
        "mean_per_batch": {g: {name: {k: round(v / n, 6) for k, v in vals.items()} for name, vals in terms.items()}
                           for g, terms in sums.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--folder", action="append", default=[], help="RUN.json=PATH of its run folder")
    ap.add_argument("--batches", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ctam_terms.json")
    args = ap.parse_args()

    import torch

    from benchmarks.machine import machine_facts

    torch.set_num_threads(args.threads)
    folders = dict(f.split("=", 1) for f in args.folder)
    report: dict[str, Any] = {
        "command": ("python benchmarks/ctam_terms.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])).strip(),
        "machine": machine_facts(), "runs": {},
    }
    for run in args.runs:
        data = json.loads(run.read_text(encoding="utf-8"))
        folder = Path(folders.get(str(run)) or data["run_folder"]) / "ctam"
        t = time.time()
        r = measure(folder, args.batches, args.batch_size, args.seed)
        r["seconds"] = round(time.time() - t, 1)
        r["run_command"] = data["command"]
        report["runs"][run.stem] = r
        shares = r["mean_per_batch"]["encoder"]
        print(f"{run.stem}: encoder gradient share " + ", ".join(f"{k} {v['share']:.3f} (value {v['value']:.4f})"
                                                                 for k, v in shares.items()), flush=True)
        args.out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")


def markdown(report: dict[str, Any]) -> str:
    lines = ["CTAM loss terms on training batches (mean per batch): value, weighted value, and share of the weighted "
             "gradient norm on the encoder's trained tensors / on every trained tensor.", "",
             "| run | term | value | weighted | share (encoder) | share (all trained) |", "|---|---|---|---|---|---|"]
    for name, r in report["runs"].items():
        enc, every = r["mean_per_batch"]["encoder"], r["mean_per_batch"]["all_trained"]
        for term, v in enc.items():
            lines.append(f"| {name} | {term} | {v['value']:.4f} | {v['weighted']:.4f} | {v['share']:.3f} | {every[term]['share']:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
