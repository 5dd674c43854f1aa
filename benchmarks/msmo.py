"""MSMO benchmark: zero-shot tagger vs MSMO vs MSMO-Distill, plus ablations.

    .venv/bin/python benchmarks/msmo.py [--langs fr es nl ru] [--seeds 13 14]
        [--ablation-seeds 1] [--steps 600] [--distill-steps 400] [--max-pairs 400] [--threads 1]

One multilingual setting (all target languages in one model, as the paper's
MTL rows), builtin encoder, layers 0-9 frozen and cached once for every run,
top 2 layers + heads trained; every row gets the same step budget of
`--batch` sentences per step (MSMO: batch/2 sentence pairs):
- tagger: `tagger` on gold-en-train only (the zero-shot row);
- acs: CE on the four views, no critic, no consistency (what the data alone gives);
- msmo: CE on gold-en-train, cs_X-en, smt-X, cs_en-X + critic + span consistency;
- msmo_no_critic / msmo_no_consistency: ablations (same data, one module off);
- msmo_distill: student = copy of the seed's MSMO model, trained `--distill-steps`
  more steps with MSE to the equal-weight average of the first seed's tagger,
  msmo and ablation models (teachers on different views and objectives) on
  gold-X-train text (tags ignored).
Model selection: best of the dev evaluations on gold-en-dev. Test: span
micro-F1 on gold-X-test, computed on the cached lower layers (checked once
against the full-encoder `evaluate`). Results go to benchmarks/results/msmo.json,
rewritten after every run so a cut-short run keeps what it measured.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

PAPER_MBERT = {  # Table "Main Results", mBERT column (micro-F1)
    "zero-shot": {"fr": 45.60, "es": 57.32, "nl": 42.68, "ru": 36.01, "average": 45.40},
    "MSMO": {"fr": 51.42, "es": 63.26, "nl": 52.68, "ru": 53.45, "average": 55.20},
    "MSMO-Distill-M": {"fr": 54.39, "es": 64.59, "nl": 54.14, "ru": 54.89, "average": 56.94},
    "MSMO w/o discriminator": {"fr": 49.70, "es": 60.61, "nl": 51.57, "ru": 52.21, "average": 53.52},
    "MSMO w/o consistency": {"fr": 50.59, "es": 60.40, "nl": 51.30, "ru": 52.25, "average": 53.63},
}
PAPER_XLMR_AVERAGE = {"zero-shot": 59.84, "MSMO": 64.13, "MSMO-Distill-M": 65.54}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--langs", nargs="+", default=["fr", "es", "nl", "ru"])
    p.add_argument("--seeds", nargs="+", type=int, default=[13, 14])
    p.add_argument("--ablation-seeds", type=int, default=1, help="acs/ablations on the first N seeds")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--distill-steps", type=int, default=400)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--distill-lr", type=float, default=5e-5)
    p.add_argument("--train-from-layer", type=int, default=10)
    p.add_argument("--max-pairs", type=int, default=400, help="per language and view pair")
    p.add_argument("--max-unlabelled", type=int, default=400, help="gold-X-train sentences per language")
    p.add_argument("--eval-every", type=int, default=150)
    p.add_argument("--beta-scale", type=float, default=1000.0, help="x the paper's mBERT beta")
    p.add_argument("--schedule", default="two_stage", choices=["two_stage", "joint"])
    p.add_argument("--rows", default="tagger,acs,msmo,msmo_no_critic,msmo_no_consistency,msmo_distill")
    p.add_argument("--adv-weight", type=float, default=0.01, help="critic weight lambda (builtin presets: 0.01)")
    p.add_argument(
        "--variant", action="append", default=[], metavar="NAME=JSON",
        help="extra msmo row: config overrides as JSON (diagnostics), e.g. 'lam01={\"adv_weight\": 0.1}'",
    )
    p.add_argument(
        "--teacher-rows", default="tagger,msmo,msmo_no_critic,msmo_no_consistency",
        help="rows whose first-seed models are the distillation teachers, equal weights",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "msmo.json"))
    return p.parse_args()


def summarise(runs: list[dict], langs: list[str]) -> dict:
    out: dict = {}
    for row in sorted({r["row"] for r in runs}):
        rs = [r for r in runs if r["row"] == row]
        entry = {"seeds": [r["seed"] for r in rs]}
        for key in [*langs, "average", "en_dev"]:
            vals = [100 * r["test"][key] if key in r["test"] else 100 * r["dev_f1"] for r in rs]
            entry[key] = {
                "mean": round(statistics.mean(vals), 2),
                "std": round(statistics.stdev(vals), 2) if len(vals) > 1 else None,
                "values": [round(v, 2) for v in vals],
            }
        out[row] = entry
    return out


ROW_NAMES = {
    "tagger": "zero-shot tagger (gold-en only)",
    "acs": "CE on the four views (ACS-style, no critic/consistency)",
    "msmo": "MSMO",
    "msmo_no_critic": "MSMO w/o critic",
    "msmo_no_consistency": "MSMO w/o consistency",
    "msmo_distill": "MSMO-Distill",
}
PAPER_ROW = {"tagger": "zero-shot", "msmo": "MSMO", "msmo_distill": "MSMO-Distill-M",
             "msmo_no_critic": "MSMO w/o discriminator", "msmo_no_consistency": "MSMO w/o consistency"}


def markdown_table(summary: dict, langs: list[str]) -> str:
    """Ours (mean +- std over seeds) beside the paper's mBERT row, test span micro-F1 x 100."""
    head = "| row | " + " | ".join(l.upper() for l in langs) + " | avg | paper mBERT avg |"
    lines = [head, "|" + "---|" * (len(langs) + 3)]
    for row, entry in summary.items():
        cells = []
        for key in [*langs, "average"]:
            m, sd = entry[key]["mean"], entry[key]["std"]
            cells.append(f"{m:.2f}" + (f" ± {sd:.2f}" if sd is not None else ""))
        paper = PAPER_MBERT.get(PAPER_ROW.get(row, ""), {}).get("average")
        lines.append(f"| {ROW_NAMES.get(row, row)} | " + " | ".join(cells) + f" | {paper if paper else '-'} |")
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from machine import machine_facts

    from xsent_core.config import config_to_dict
    from xsent_core.methods.base import TrainConfig
    from xsent_core.methods.msmo import MsmoConfig, MsmoMethod
    from xsent_core.methods.msmo.config import PAPER_BETA_MBERT, VIEWS
    from xsent_core.methods.msmo.distill import as_student, distillation_items
    from xsent_core.methods.msmo.model import (
        ScheduleCallback,
        cached_tag_probs,
        evaluate_cached,
        load_best_,
    )
    from xsent_core.methods.msmo.presets import _data
    from xsent_core.methods.msmo.train import load_views, training_pairs, unlabelled_examples
    from xsent_core.methods.tagger import TaggerConfig, TaggerMethod
    from xsent_core.methods.tagger.model import spans_from_probs
    from xsent_core.methods.common import words_of
    from xsent_core.metrics import span_micro_f1
    from xsent_core.recipes import load_data
    from xsent_core.training import fit

    t0 = time.time()
    rows = args.rows.split(",")
    langs = list(args.langs)
    data = _data(tuple(langs))
    beta = {k: v * args.beta_scale for k, v in PAPER_BETA_MBERT.items()}
    base = MsmoConfig(encoder="builtin", train_from_layer=args.train_from_layer, beta=beta, schedule=args.schedule)
    base = replace(base, adv_weight=args.adv_weight)
    result: dict = {
        "benchmark": "msmo",
        "command": " ".join(["python", *sys.argv]),
        "machine": machine_facts(),
        "setting": {
            "note": (
                "Multilingual: one model per row for all target languages (the paper's main rows are one "
                "bilingual model per language). Builtin encoder (multilingual-e5-small, 4-bit source), not "
                "mBERT: absolute numbers are not comparable with the paper's, the ordering is. Budget cut for "
                "a shared 2-core CPU: top 2 layers trained, sub-sampled views, few seeds."
            ),
            "langs": langs,
            "seeds": args.seeds,
            "steps_per_row": args.steps,
            "batch_sentences": args.batch,
            "distill_extra_steps": args.distill_steps,
            "lr": args.lr,
            "distill_lr": args.distill_lr,
            "max_pairs_per_view_pair_and_lang": args.max_pairs,
            "max_unlabelled_per_lang": args.max_unlabelled,
            "eval_every": args.eval_every,
            "selection": "best gold-en-dev span F1 among the periodic evaluations",
            "msmo_config": config_to_dict(base),
            "distill_teachers": (
                f"the first seed's models of rows {args.teacher_rows}, equal weights: teachers on different views "
                "(tagger: source only; msmo*: all four views) and objectives (paper: 3 MSMO teachers from random "
                "seeds or source languages); student = copy of its seed's msmo model, MSE on gold-X-train text"
            ),
        },
        "alignment": None,
        "runs": [],
        "status": "running",
    }
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)

    def write() -> None:
        result["elapsed_minutes"] = round((time.time() - t0) / 60, 1)
        result["summary"] = summarise(result["runs"], langs) if result["runs"] else {}
        result["table_markdown"] = markdown_table(result["summary"], langs)
        result["paper_mbert"] = PAPER_MBERT
        result["paper_xlmr_average"] = PAPER_XLMR_AVERAGE
        tmp = out_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=2), encoding="utf-8")
        tmp.replace(out_path)

    def log(msg: str) -> None:
        print(f"[{(time.time() - t0) / 60:6.1f} min] {msg}", flush=True)

    # -- data, encoded once ------------------------------------------------------
    views_by_lang = load_views(data, langs, list(VIEWS))
    pairs, align = training_pairs(views_by_lang, list(VIEWS), max_pairs=args.max_pairs, seed=0)
    result["alignment"] = align
    english = load_data(data["views"]["source"])
    dev = load_data(data["dev"])
    tests = {lang: load_data(data["test"][lang]) for lang in langs}
    unlabelled = unlabelled_examples(data, langs, args.max_unlabelled)
    host = MsmoMethod.create(base)  # its encoder stays untrained: every run copies it
    pristine = host.encoder
    cache: dict = {}
    pair_items = host.prepare(pairs, cache=cache)
    sent_items = host.encode_sentences(english, cache=cache)
    tagger_items = [
        {"ids": s.ids, "lower": s.lower, "word_index": s.word_index, "tags": s.tags} for s in sent_items if s is not None
    ]
    full = pristine.info.max_length
    dev_items = host.encode_sentences(dev, labelled=False, max_length=full, cache=cache)
    test_items = {lang: host.encode_sentences(rows_, labelled=False, max_length=full, cache=cache) for lang, rows_ in tests.items()}
    unl_items = host.encode_sentences(unlabelled, labelled=False, cache=cache)
    result["data"] = {
        "pair_items": len(pair_items),
        "pair_sentences": sum(1 + (it.b is not None) for it in pair_items),
        "aspect_pairs": sum(len(it.word_pairs) for it in pair_items),
        "english_sentences": len(tagger_items),
        "dev_sentences": len(dev),
        "test_sentences": {k: len(v) for k, v in tests.items()},
        "unlabelled_sentences": sum(1 for it in unl_items if it is not None),
    }
    log(f"encoded {len(cache)} distinct sentences: {result['data']}")
    write()

    def test_scores(model) -> tuple[dict, dict]:
        full_metrics = {lang: evaluate_cached(model, test_items[lang], tests[lang]) for lang in langs}
        scores = {lang: m["f1"] for lang, m in full_metrics.items()}
        scores["average"] = sum(scores[lang] for lang in langs) / len(langs)
        detail = {lang: {k: round(v, 4) if isinstance(v, float) else v for k, v in m.items()} for lang, m in full_metrics.items()}
        return scores, detail

    def run_fit(model, items, train, name, seed, extra_callbacks=()) -> dict:
        started = time.time()
        losses: list = []
        with tempfile.TemporaryDirectory(prefix="msmo-bench-") as tmp:
            res = fit(
                model, items, train, evaluate=lambda: evaluate_cached(model, dev_items, dev), out_dir=tmp,
                callbacks=[*extra_callbacks, lambda e, s, p: losses.append(dict(p)) if e == "step" else None],
                progress=False,
            )
            load_best_(model, tmp)
        keys = sorted({k for d in losses for k in d})
        quarter = max(1, len(losses) // 4)
        mean_losses = [
            {k: round(statistics.mean(d[k] for d in part if k in d), 5) for k in keys if any(k in d for d in part)}
            for part in (losses[i : i + quarter] for i in range(0, len(losses), quarter))
        ]
        record = {
            "row": name,
            "seed": seed,
            "steps": res.steps,
            "best_step": res.best_step,
            "dev_f1": res.best_metric,
            "dev_history": [{"step": e["step"], "f1": round(e["f1"], 4)} for e in res.history],
            "train_seconds": round(time.time() - started, 1),
            "loss_means_by_quarter": mean_losses,
        }
        record["test"], record["test_detail"] = test_scores(model)
        record["minutes_since_start"] = round((time.time() - t0) / 60, 1)
        result["runs"].append(record)
        write()
        log(f"{name} seed {seed}: dev {res.best_metric:.4f} test {json.dumps({k: round(v, 4) for k, v in record['test'].items()})} ({record['train_seconds']} s)")
        return record

    variants = {
        "acs": replace(base, adversarial=False, consistency=False),  # CE on the four views only
        "msmo": base,
        "msmo_no_critic": replace(base, adversarial=False),
        "msmo_no_consistency": replace(base, consistency=False),
    }
    for spec in args.variant:
        name, _, overrides = spec.partition("=")
        variants[name] = replace(base, **json.loads(overrides))
        rows.append(name)
    teacher_rows = args.teacher_rows.split(",")
    teacher_unl: list = []
    teacher_test: dict = {lang: [] for lang in langs}
    n_ablation = args.ablation_seeds

    def keep_teacher(model, name: str, k: int) -> None:
        if k == 0 and name in teacher_rows:
            teacher_unl.append(cached_tag_probs(model, unl_items))
            for lang in langs:
                teacher_test[lang].append(cached_tag_probs(model, test_items[lang]))

    def teacher_ensemble() -> None:  # the teachers' averaged distribution decoded directly (diagnostic)
        ens = {}
        for lang in langs:
            avg = [sum(ps) / len(ps) for ps in zip(*teacher_test[lang])]
            gold = [[(s.start, s.end, s.polarity) for s in (ex.spans or ())] for ex in tests[lang]]
            guess = [
                [(s.start, s.end, s.polarity) for s in spans_from_probs(ex.text, words_of(ex).spans, p)]
                for ex, p in zip(tests[lang], avg)
            ]
            ens[lang] = span_micro_f1(gold, guess)["f1"]
        ens["average"] = sum(ens[lang] for lang in langs) / len(langs)
        result["teacher_ensemble_test"] = {"teachers": teacher_rows, "seed": args.seeds[0], **ens}
        log(f"teacher ensemble: {json.dumps({k: round(v, 4) for k, v in ens.items()})}")
        write()

    for k, seed in enumerate(args.seeds):
        train = TrainConfig(
            epochs=0, max_steps=args.steps, batch_size=args.batch, lr=args.lr, head_lr=1e-3, seed=seed,
            eval_every=args.eval_every, device="cpu",
        )
        if "tagger" in rows:
            tagger = TaggerMethod(TaggerConfig(encoder="builtin", train_from_layer=args.train_from_layer), copy.deepcopy(pristine))
            run_fit(tagger, tagger_items, train, "tagger", seed)
            keep_teacher(tagger, "tagger", k)
            del tagger
        msmo_state = None
        for name, cfg in variants.items():
            if name not in rows or (name != "msmo" and k >= n_ablation):
                continue
            model = MsmoMethod(cfg, copy.deepcopy(pristine))
            run_fit(model, pair_items, train, name, seed, [ScheduleCallback(model)])
            keep_teacher(model, name, k)
            if name == "msmo":
                msmo_state = {kk: v.clone() for kk, v in model.trained_state_dict().items() if not kk.startswith("critic.")}
                if k == 0:  # the cached evaluation must agree with the real one
                    lang = langs[0]
                    full_f1 = model.evaluate(tests[lang])["f1"]
                    cached_f1 = evaluate_cached(model, test_items[lang], tests[lang])["f1"]
                    result["cached_vs_full_check"] = {"lang": lang, "full_evaluate_f1": full_f1, "cached_f1": cached_f1}
                    log(f"check {lang}: full {full_f1:.4f} cached {cached_f1:.4f}")
                    write()
            del model
        if k == 0 and teacher_test[langs[0]]:
            teacher_ensemble()
        if "msmo_distill" in rows and teacher_unl and msmo_state is not None:
            items = distillation_items(unl_items, [False] * len(unl_items), teacher_unl)
            student = as_student(MsmoMethod(replace(base, adversarial=False), copy.deepcopy(pristine)))
            student.load_state_dict(msmo_state, strict=False)
            dtrain = TrainConfig(
                epochs=0, max_steps=args.distill_steps, batch_size=args.batch, lr=args.distill_lr, head_lr=3e-4,
                seed=seed, eval_every=args.eval_every, device="cpu",
            )
            run_fit(student, items, dtrain, "msmo_distill", seed)
            del student

    summary = summarise(result["runs"], langs)
    checks = {}
    if "tagger" in summary and "msmo" in summary:
        checks["msmo_minus_tagger_average"] = round(summary["msmo"]["average"]["mean"] - summary["tagger"]["average"]["mean"], 2)
    if "msmo_distill" in summary and "msmo" in summary:
        checks["distill_minus_msmo_average"] = round(summary["msmo_distill"]["average"]["mean"] - summary["msmo"]["average"]["mean"], 2)
    for ab in ("msmo_no_critic", "msmo_no_consistency"):
        if ab in summary and "msmo" in summary:
            same = [s for s in summary[ab]["seeds"]]
            full_vals = [r["test"]["average"] for r in result["runs"] if r["row"] == "msmo" and r["seed"] in same]
            ab_vals = [r["test"]["average"] for r in result["runs"] if r["row"] == ab]
            checks[f"msmo_minus_{ab}_average_same_seeds"] = round(100 * (statistics.mean(full_vals) - statistics.mean(ab_vals)), 2)
    result["checks"] = checks
    result["status"] = "finished"
    write()
    log(f"done: {json.dumps(checks)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
