"""MSMO benchmark (issue 13): zero-shot tagger vs translate-train vs MSMO vs
MSMO-Distill, plus the two ablations, at equal English epochs.

    .venv/bin/python benchmarks/msmo.py [--langs fr es nl ru] [--seeds 13 14 15]
        [--rows tagger,translate_train,msmo,msmo_no_critic,msmo_no_consistency,msmo_distill]
        [--steps 1000] [--adapt lora --lora-rank 16 --train-from-layer 6] [--heldout ru] [--threads 1]
    .venv/bin/python benchmarks/msmo.py --combine OUT.json PART1.json PART2.json   # rows run in two processes

One multilingual setting (all target languages in one model, as the paper's
MTL rows), builtin encoder adapted like the shipped tagger (LoRA r16 on layers
6-11; layers 0-5 cached once for every run). Rows:
- tagger: `tagger` on gold-en-train only (the zero-shot row), trained for as
  many English epochs as an MSMO row sees (`data.english_epochs`);
- translate_train: CE on gold-en + smt-X (projected spans, articles stripped);
  it is the students' starting point;
- msmo: CE on gold-en, cs_X-en, smt-X, cs_en-X; the Wasserstein critic (DANN
  ramp to lambda 1, gradient penalty or clipping) on English vs target sentences
  (translated views and real gold-X-train text, labels unused); span
  consistency over code-switched pairs and English-translation pairs;
- msmo_no_critic / msmo_no_consistency: ablations (same batches, one module off);
- msmo_distill: student of seed s = copy of seed s's translate-train model,
  trained `--distill-steps` with KL (temperature T) to the average of
  `--teachers` MSMO models (seeds s, s+1, ...) on all gold-X-train text (tags
  unused; `--heldout` leaves one language out of that text);
- msmo_distill2 (optional): a second round, the round-one students teaching;
- msmo_ensemble (optional, no training): the mean of each student's teachers'
  tag distributions on dev and test, decoded like one model's: the quality a
  student can at best copy; with `--init-from`, also msmo_ensemble_with_start
  (the start model as one more member).
Every row: best of the periodic evaluations on gold-en-dev. Test: span micro-F1
on gold-X-test from the cached lower layers. Each run logs its loss terms and
each term's gradient-norm ratio to the tagging CE at the encoder output, by
quarter of training. Results are rewritten after every run.
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
    p.add_argument("--seeds", nargs="+", type=int, default=[13, 14, 15])
    p.add_argument("--ablation-seeds", type=int, default=3, help="ablations/translate-train/distill on the first N seeds")
    p.add_argument("--steps", type=int, default=1000, help="optimiser steps of every MSMO row")
    p.add_argument("--tagger-steps", type=int, default=None,
                   help="zero-shot tagger steps; default: as many English epochs as an MSMO row sees")
    p.add_argument("--distill-steps", type=int, default=600)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--distill-lr", type=float, default=3e-4)
    p.add_argument("--adapt", default="lora", choices=["lora", "top-k"])
    p.add_argument("--lora-rank", type=int, default=16)
    p.add_argument("--train-from-layer", type=int, default=6, help="top-k: first trained layer; lora: first adapted layer")
    p.add_argument("--max-pairs", type=int, default=400, help="per language and kind of item")
    p.add_argument("--max-unlabelled", type=int, default=None, help="gold-X-train sentences per language (default all)")
    p.add_argument("--heldout", default=None, help="a language left out of the students' unlabelled text")
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--beta-scale", type=float, default=1000.0, help="x the paper's mBERT beta")
    p.add_argument("--schedule", default="joint", choices=["two_stage", "joint"])
    p.add_argument("--rows", default="tagger,translate_train,msmo,msmo_no_critic,msmo_no_consistency,msmo_distill")
    p.add_argument("--adv-weight", type=float, default=1.0, help="critic weight lambda (paper: 1)")
    p.add_argument("--adv-ramp", default="dann", choices=["dann", "none"])
    p.add_argument("--critic-penalty", default="gp", choices=["gp", "clip"])
    p.add_argument("--critic-lr", type=float, default=1e-3)
    p.add_argument("--no-hinge", action="store_true", help="the encoder also pushes on a negative critic estimate")
    p.add_argument("--no-translations", action="store_true", help="no English-translation consistency pairs")
    p.add_argument("--no-clean", action="store_true", help="keep leading articles on projected spans")
    p.add_argument("--no-critic-text", action="store_true", help="the critic's target side: translated views only")
    p.add_argument("--distill-loss", default="kl", choices=["kl", "mse"])
    p.add_argument("--temperature", type=float, default=2.0)
    p.add_argument("--teachers", type=int, default=3, help="MSMO teachers per student (seeds in turn)")
    p.add_argument(
        "--variant", action="append", default=[], metavar="NAME=JSON",
        help="extra msmo row: config overrides as JSON (diagnostics), e.g. 'lam01={\"adv_weight\": 0.1}'",
    )
    p.add_argument("--variant-seeds", type=int, default=1, help="--variant rows on the first N seeds")
    p.add_argument("--ship-dir", default=None, help="save each distilled student there (fp16, with its card)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--init-from", default=None, metavar="MODEL",
        help="every trained row starts from this saved tagger/msmo model (e.g. {assets}/starts/tagger-seed15); "
             "row 'start' is that model itself, untrained",
    )
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
    "translate_train": "translate-train (CE on gold-en + smt-X; the students' start)",
    "msmo": "MSMO",
    "msmo_no_critic": "MSMO w/o critic",
    "msmo_no_consistency": "MSMO w/o consistency",
    "msmo_distill": "MSMO-Distill",
    "msmo_distill2": "MSMO-Distill, second round",
    "start": "the --init-from model itself (no training)",
    "msmo_ensemble": "mean of the MSMO teachers' tag distributions (no training; what the student imitates)",
    "msmo_ensemble_with_start": "mean of the --init-from model's and the MSMO teachers' tag distributions",
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


def mean_grad_ratios(losses: list[dict]) -> dict:
    """Per term, the mean gradient-norm ratio to the tagging CE over the probed steps."""
    keys = sorted({k for d in losses for k in d if k.endswith("_grad_ratio")})
    return {k: round(statistics.mean(d[k] for d in losses if k in d), 4) for k in keys}


def combine(out: str, parts: list[str]) -> int:
    """Merge the runs of several JSONs of one setting (rows split across processes) into `out`."""
    loaded = [json.loads(Path(p).read_text(encoding="utf-8")) for p in parts]
    result = dict(loaded[0])
    result["runs"] = [r for d in loaded for r in d["runs"]]
    result["command"] = " ; ".join(d["command"] for d in loaded) + f" ; python benchmarks/msmo.py --combine {out} {' '.join(parts)}"
    result["elapsed_minutes"] = max(d.get("elapsed_minutes", 0) for d in loaded)
    result["status"] = "finished" if all(d.get("status") == "finished" for d in loaded) else "partial"
    result["setting"] = {**result["setting"], "seeds": sorted({r["seed"] for r in result["runs"]}),
                         "rows_by_file": {p: sorted({r["row"] for r in d["runs"]}) for p, d in zip(parts, loaded)}}
    langs = result["setting"]["langs"]
    result["summary"] = summarise(result["runs"], langs)
    result["table_markdown"] = markdown_table(result["summary"], langs)
    result["checks"] = paired_checks(result["runs"], result["summary"])
    Path(out).write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(result["table_markdown"])
    print(json.dumps(result["checks"], indent=1))
    return 0


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--combine":
        return combine(sys.argv[2], sys.argv[3:])
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from machine import machine_facts

    from xsent_core.config import config_to_dict
    from xsent_core.encoders.registry import load_text_encoder
    from xsent_core.methods.base import TrainConfig
    from xsent_core.methods.common import FrozenStateCache
    from xsent_core.methods.msmo import MsmoConfig, MsmoMethod
    from xsent_core.methods.msmo.config import PAPER_BETA_MBERT, TRANSLATE_TRAIN_VIEWS, VIEWS
    from xsent_core.methods.msmo.distill import as_student, distillation_items
    from xsent_core.methods.msmo.model import (
        ScheduleCallback, cached_tag_probs, evaluate_cached, load_best_, span_report_from_probs, tagger_state,
    )
    from xsent_core.methods.msmo.presets import _data
    from xsent_core.methods.msmo.train import (
        load_views, load_warm_start_, training_pairs, unlabelled_by_lang, warm_start_state,
    )
    from xsent_core.methods.tagger import TaggerConfig, TaggerMethod
    from xsent_core.recipes import load_data
    from xsent_core.training import fit

    t0 = time.time()
    rows = args.rows.split(",")
    langs = list(args.langs)
    data = _data(tuple(langs))
    beta = {k: v * args.beta_scale for k, v in PAPER_BETA_MBERT.items()}
    adapt = (
        {"adapt": "lora", "lora_from_layer": args.train_from_layer, "lora_rank": args.lora_rank,
         "lora_alpha": 2.0 * args.lora_rank, "train_from_layer": args.train_from_layer}
        if args.adapt == "lora" else {"adapt": "top-k", "train_from_layer": args.train_from_layer}
    )
    base = MsmoConfig(
        encoder="builtin", beta=beta, schedule=args.schedule, adv_weight=args.adv_weight, adv_ramp=args.adv_ramp,
        critic_penalty=args.critic_penalty, critic_lr=args.critic_lr, adv_hinge=not args.no_hinge, distill_loss=args.distill_loss,
        distill_temperature=args.temperature, **adapt,
    )
    result: dict = {
        "benchmark": "msmo",
        "command": " ".join(["python", *sys.argv]),
        "machine": machine_facts(),
        "setting": {
            "note": (
                "Multilingual: one model per row for all target languages (the paper's main rows are one "
                "bilingual model per language). Builtin encoder (multilingual-e5-small, 4-bit source), not "
                "mBERT: absolute numbers are not comparable with the paper's, the ordering is."
            ),
            "langs": langs,
            "seeds": args.seeds,
            "adaptation": adapt,
            "steps_per_msmo_row": args.steps,
            "batch_sentences": args.batch,
            "distill_steps": args.distill_steps,
            "lr": args.lr,
            "distill_lr": args.distill_lr,
            "max_items_per_kind_and_lang": args.max_pairs,
            "max_unlabelled_per_lang": args.max_unlabelled,
            "heldout_from_student_text": args.heldout,
            "eval_every": args.eval_every,
            "selection": "best gold-en-dev span F1 among the periodic evaluations (every row)",
            "translations": not args.no_translations,
            "clean_projected": not args.no_clean,
            "critic_text": not args.no_critic_text,
            "msmo_config": config_to_dict(base),
            "init_from": args.init_from,
            "distill": (
                f"student of seed s = copy of seed s's translate-train model (CE on {'+'.join(TRANSLATE_TRAIN_VIEWS)}), "
                f"trained {args.distill_steps} steps with {args.distill_loss} (T={args.temperature}) to the equal-weight "
                f"average of {args.teachers} MSMO teachers (seeds s, s+1, ... in turn) on gold-X-train text (tags unused)"
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
    text_by_lang = unlabelled_by_lang(data, langs, args.max_unlabelled)
    pair_options = {"max_pairs": args.max_pairs, "seed": 0, "translations": not args.no_translations,
                    "clean_projected": not args.no_clean}
    pairs, align = training_pairs(
        views_by_lang, list(VIEWS), **pair_options, critic_text=None if args.no_critic_text else text_by_lang
    )
    tt_pairs, _ = training_pairs(views_by_lang, list(TRANSLATE_TRAIN_VIEWS), **{**pair_options, "translations": False})
    result["alignment"] = align
    english = load_data(data["views"]["source"])
    dev = load_data(data["dev"])
    tests = {lang: load_data(data["test"][lang]) for lang in langs}
    student_text = [ex for lang, found in text_by_lang.items() if lang != args.heldout for ex in found]
    pristine = load_text_encoder("builtin")
    host = MsmoMethod(base, copy.deepcopy(pristine))
    cache = FrozenStateCache()
    pair_items = host.prepare(pairs, cache=cache)
    tt_items = host.prepare(tt_pairs, cache=cache)
    sent_items = host.encode_sentences(english, cache=cache)
    tagger_items = [
        {"ids": s.ids, "lower": s.lower, "word_index": s.word_index, "tags": s.tags} for s in sent_items if s is not None
    ]
    full = pristine.info.max_length
    dev_items = host.encode_sentences(dev, labelled=False, max_length=full, cache=cache)
    test_items = {lang: host.encode_sentences(rows_, labelled=False, max_length=full, cache=cache) for lang, rows_ in tests.items()}
    unl_items = host.encode_sentences(student_text, labelled=False, cache=cache)
    # English epochs: labelled domain-0 sentences per MSMO batch (source, cs_src, English halves of translation pairs)
    import random as _random

    batches = list(host.batches(pair_items, args.batch, True, _random.Random(0)))
    english_per_batch = statistics.mean(int(((b["domain"] == 0) & (b["tags"] != -100).any(1)).sum()) for b in batches)
    sentences_per_batch = statistics.mean(int(b["domain"].numel()) for b in batches)
    tagger_steps = args.tagger_steps or max(1, round(args.steps * english_per_batch / args.batch))
    result["data"] = {
        "pair_items": len(pair_items),
        "kinds": {str(k): sum(1 for it in pair_items if it.kind == k) for k in sorted({it.kind for it in pair_items})},
        "aspect_pairs": sum(len(it.word_pairs) for it in pair_items),
        "english_sentences": len(tagger_items),
        "dev_sentences": len(dev),
        "test_sentences": {k: len(v) for k, v in tests.items()},
        "student_text_sentences": sum(1 for it in unl_items if it is not None),
        "msmo_batch": {"sentences": round(sentences_per_batch, 2), "english_labelled": round(english_per_batch, 2)},
        "tagger_steps": tagger_steps,
        "english_epochs": round(args.steps * english_per_batch / len(tagger_items), 2),
    }
    log(f"encoded {len(cache)} distinct sentences: {result['data']}")
    write()
    del host

    def test_scores(model) -> tuple[dict, dict]:
        return scores_of({lang: evaluate_cached(model, test_items[lang], tests[lang]) for lang in langs})

    def scores_of(full_metrics: dict) -> tuple[dict, dict]:
        scores = {lang: m["f1"] for lang, m in full_metrics.items()}
        scores["average"] = sum(scores[lang] for lang in langs) / len(langs)
        detail = {lang: {k: round(v, 4) if isinstance(v, float) else v for k, v in m.items()} for lang, m in full_metrics.items()}
        return scores, detail

    def eval_probs(model) -> dict[str, list]:
        return {"dev": cached_tag_probs(model, dev_items), **{lang: cached_tag_probs(model, test_items[lang]) for lang in langs}}

    def scores_from_probs(probs: dict[str, list]) -> tuple[float, dict, dict]:
        """Dev F1, test scores and detail of tag distributions from `eval_probs` (or a mean of several)."""
        scores, detail = scores_of({lang: span_report_from_probs(tests[lang], probs[lang]) for lang in langs})
        return span_report_from_probs(dev, probs["dev"])["f1"], scores, detail

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
        keys = sorted({k for d in losses for k in d if not k.endswith("_grad_ratio")})
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
            "grad_ratio_by_quarter": [
                mean_grad_ratios(losses[i : i + quarter]) for i in range(0, len(losses), quarter)
            ],
        }
        record["test"], record["test_detail"] = test_scores(model)
        record["minutes_since_start"] = round((time.time() - t0) / 60, 1)
        result["runs"].append(record)
        write()
        log(f"{name} seed {seed}: dev {res.best_metric:.4f} test {json.dumps({k: round(v, 4) for k, v in record['test'].items()})} ({record['train_seconds']} s)")
        return record

    variants = {
        "translate_train": replace(base, adversarial=False, consistency=False),
        "msmo": base,
        "msmo_no_critic": replace(base, adversarial=False),
        "msmo_no_consistency": replace(base, consistency=False),
    }
    extra_rows = set()
    for spec in args.variant:
        name, _, overrides = spec.partition("=")
        variants[name] = replace(base, **json.loads(overrides))
        rows.append(name)
        extra_rows.add(name)
    warm = warm_start_state(args.init_from, base) if args.init_from else None
    start_eval_probs: dict[str, list] | None = None  # the --init-from model's tag distributions on dev and test
    if warm is not None:
        start = MsmoMethod(replace(base, adversarial=False), copy.deepcopy(pristine))
        load_warm_start_(start, warm)
        start.eval()
        start_eval_probs = eval_probs(start)
        dev_f1, scores, detail = scores_from_probs(start_eval_probs)
        for seed in args.seeds:  # one untrained model: the same figures under every seed, for the paired checks
            result["runs"].append({"row": "start", "seed": seed, "steps": 0, "dev_f1": dev_f1, "test": scores, "test_detail": detail})
        write()
        log(f"start ({args.init_from}): dev {dev_f1:.4f} test {json.dumps({k: round(v, 4) for k, v in scores.items()})}")
        del start
    teacher_probs: dict[int, list] = {}  # seed -> the seed's MSMO tag distributions on the students' text
    teacher_eval_probs: dict[int, dict[str, list]] = {}  # seed -> its MSMO tag distributions on dev and test
    init_states: dict[int, dict] = {}  # seed -> its translate-train weights (the student's start)

    for k, seed in enumerate(args.seeds):
        train = TrainConfig(
            epochs=0, max_steps=args.steps, batch_size=args.batch, lr=args.lr, head_lr=1e-3, seed=seed,
            eval_every=args.eval_every, device="cpu",
        )
        if "tagger" in rows:
            tcfg = TaggerConfig(encoder="builtin", **adapt)
            tagger = TaggerMethod(tcfg, copy.deepcopy(pristine))
            if warm is not None:
                load_warm_start_(tagger, warm)
            ttrain = replace(train, max_steps=tagger_steps, eval_every=max(1, round(args.eval_every * tagger_steps / args.steps)))
            run_fit(tagger, tagger_items, ttrain, "tagger", seed)
            del tagger
        for name, cfg in variants.items():
            if name not in rows or (name != "msmo" and k >= args.ablation_seeds):
                continue
            if name in extra_rows and k >= args.variant_seeds:
                continue
            if name == "translate_train" and "msmo_distill" not in rows and "translate_train" not in rows:
                continue
            model = MsmoMethod(cfg, copy.deepcopy(pristine))
            if warm is not None:
                load_warm_start_(model, warm)
            items = tt_items if name == "translate_train" else pair_items
            run_fit(model, items, train, name, seed, [ScheduleCallback(model)])
            if name == "msmo":
                teacher_probs[seed] = cached_tag_probs(model, unl_items)
                if "msmo_ensemble" in rows:
                    teacher_eval_probs[seed] = eval_probs(model)
            if name == "translate_train":
                init_states[seed] = tagger_state(model)
            del model

    def teachers_of(seed: int, order: list[int]) -> list[int]:
        """Seed s's teachers: seeds s, s+1, ... in turn (the students' and the ensembles' rule)."""
        at = order.index(seed)
        return [order[(at + j) % len(order)] for j in range(min(args.teachers, len(order)))]

    def ensemble_row(name: str, members: list[dict[str, list]], seed: int, member_names: list[str]) -> None:
        """Score the mean of several models' tag distributions: what a student distilled from them imitates."""
        mean = {key: [torch.stack(ps).mean(0) for ps in zip(*(m[key] for m in members))] for key in members[0]}
        dev_f1, scores, detail = scores_from_probs(mean)
        result["runs"].append({"row": name, "seed": seed, "steps": 0, "members": member_names, "dev_f1": dev_f1,
                               "test": scores, "test_detail": detail})
        write()
        log(f"{name} seed {seed} ({', '.join(member_names)}): dev {dev_f1:.4f} test {json.dumps({k: round(v, 4) for k, v in scores.items()})}")

    if "msmo_ensemble" in rows:
        order = [s for s in args.seeds if s in teacher_eval_probs]
        for seed in order[: args.ablation_seeds]:
            teachers = teachers_of(seed, order)
            names = [f"msmo seed {t}" for t in teachers]
            ensemble_row("msmo_ensemble", [teacher_eval_probs[t] for t in teachers], seed, names)
            if start_eval_probs is not None:
                ensemble_row("msmo_ensemble_with_start", [start_eval_probs, *(teacher_eval_probs[t] for t in teachers)],
                             seed, ["start", *names])

    def distil_round(name: str, probs: dict[int, list], teach_next: bool) -> dict[int, list]:
        """One student per seed, from its translate-train start, on KL to the rotating teachers' `probs`;
        with `teach_next`, returns each student's own tag distributions on the same text (the next round's teachers)."""
        order = [s for s in args.seeds if s in probs]
        student_probs: dict[int, list] = {}
        for seed in [s for s in args.seeds[: args.ablation_seeds] if s in init_states]:
            teachers = teachers_of(seed, order)
            items = distillation_items(unl_items, [False] * len(unl_items), [probs[t] for t in teachers])
            student = as_student(MsmoMethod(replace(base, adversarial=False), copy.deepcopy(pristine)))
            student.load_state_dict(init_states[seed], strict=False)
            dtrain = TrainConfig(
                epochs=0, max_steps=args.distill_steps, batch_size=args.batch, lr=args.distill_lr, head_lr=3e-4,
                seed=seed, eval_every=args.eval_every, device="cpu",
            )
            record = run_fit(student, items, dtrain, name, seed)
            record["teachers"] = teachers
            write()
            if args.ship_dir:
                ship_student(student, Path(args.ship_dir) / (f"seed{seed}" if name == "msmo_distill" else f"{name}-seed{seed}"),
                             record, result, dtrain)
            if teach_next:
                student_probs[seed] = cached_tag_probs(student, unl_items)
            del student
        return student_probs

    if "msmo_distill" in rows:
        second = "msmo_distill2" in rows  # the paper's optional second round: the round-one students teach
        round_one = distil_round("msmo_distill", teacher_probs, teach_next=second)
        if second:
            distil_round("msmo_distill2", round_one, teach_next=False)

    summary = summarise(result["runs"], langs)
    checks = paired_checks(result["runs"], summary)
    result["checks"] = checks
    result["status"] = "finished"
    write()
    log(f"done: {json.dumps(checks)}")
    return 0


def ship_student(student, folder: Path, record: dict, result: dict, dtrain) -> None:
    """Save a distilled student as a model folder (fp16, only trained weights) with the
    library's MSMO card; the Models tab and `load_model` read it like a preset's output."""
    from xsent_core.config import config_from_dict, config_to_dict
    from xsent_core.methods.msmo.config import MsmoRecipe, split_settings
    from xsent_core.methods.msmo.presets import PRESETS
    from xsent_core.methods.msmo.train import _card
    from xsent_core.registry import save_model

    preset = PRESETS["msmo-distill-builtin-multi"]
    recipe = config_from_dict(MsmoRecipe, split_settings(preset.config)[1])
    test = {lang: detail for lang, detail in record["test_detail"].items()}
    test["average"] = {"f1": record["test"]["average"]}
    report = {
        "recipe": config_to_dict(recipe), "train": config_to_dict(dtrain), "alignment": result["alignment"],
        "dev": {"f1": record["dev_f1"], "step": record["best_step"]}, "test": test, "seconds": record["train_seconds"],
        "teachers": [{"views": "source+cs_src+smt+cs_tgt", "seed": t, "dev_f1": next(
            round(r["dev_f1"], 4) for r in result["runs"] if r["row"] == "msmo" and r["seed"] == t)} for t in record["teachers"]],
    }
    # the card's rebuild line is the preset (it holds this recipe; no machine path); the benchmark run that
    # measured it is recorded beside, with this checkout's paths made relative
    command = f"python -m xsent_core train --method msmo --preset {preset.name} --out assets/models/msmo --half"
    measured_by = result["command"].replace(str(REPO) + "/", "") + f"  # student of seed {record['seed']}"
    save_model(
        student, folder, metrics={"dev": report["dev"], "test": test}, half=True,
        training={"preset": preset.name, "command": command, "benchmark": measured_by, "seed": record["seed"]},
        card_text=_card(preset, recipe, report, command, student.config),
    )


def paired_checks(runs: list[dict], summary: dict) -> dict:
    """Per-seed paired differences of the test average (x 100) for the headline comparisons."""
    def by_seed(row: str) -> dict:
        return {r["seed"]: 100 * r["test"]["average"] for r in runs if r["row"] == row}

    out = {}
    for a, b in [("msmo", "tagger"), ("msmo_distill", "msmo"), ("msmo_ensemble", "msmo"), ("msmo_distill", "msmo_ensemble"),
                 ("msmo_ensemble", "start"), ("msmo_ensemble_with_start", "start"), ("msmo_distill2", "msmo_distill"), ("msmo", "msmo_no_critic"),
                 ("msmo", "msmo_no_consistency"), ("msmo_distill", "tagger"), ("msmo", "translate_train"),
                 ("msmo", "start"), ("msmo_distill", "start"), ("tagger", "start"), ("translate_train", "start")]:
        x, y = by_seed(a), by_seed(b)
        seeds = sorted(set(x) & set(y))
        if not seeds:
            continue
        diffs = [round(x[s] - y[s], 2) for s in seeds]
        out[f"{a}_minus_{b}"] = {
            "seeds": seeds, "per_seed": diffs, "mean": round(statistics.mean(diffs), 2),
            "std": round(statistics.stdev(diffs), 2) if len(diffs) > 1 else None,
            "all_positive": all(d > 0 for d in diffs),
        }
    return out


if __name__ == "__main__":
    sys.exit(main())
