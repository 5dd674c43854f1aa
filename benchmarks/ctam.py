"""CTAM benchmark (seed 002, Table 1): classifier baseline vs VXLM vs CTAM on GKLMIP.

Protocol: train on 80 % of GKLMIP train (stratified, seed 0: the `@train` split),
select the best epoch on the other 20 % (`@select`), report macro-F1 and accuracy
on GKLMIP dev (358 rows; the test split is not distributed). Labels: stars 1-2
negative, 3-4 neutral, 5 positive; Zawgyi rows are converted by xsent_core.text
before any model sees them. All three methods use the builtin encoder (e5-small,
XLM-R vocabulary) with the same trainable layers (from `--train-from`), epochs,
batch size and learning rates: the `classifier` baseline (mean-pooled top layer +
linear head), `vxlm` (gate with static vectors mapped by the seed lexicon plus
CSLS self-learning) and `ctam` (VXLM + English SemEval teachers, L = 1.0 L_T +
0.4 L_R + 0.1 L_S). VXLM and CTAM share the cached frozen-layer states and the
static table, so they differ only in the dual-path training.

Epoch selection runs the trainable top layers on cached states of the select
slice (what `fit` would get from `evaluate()`, at a fraction of the cost); the dev
numbers come from each method's own `evaluate()` (full `predict` path).

Writes benchmarks/results/ctam.json and benchmarks/results/ctam.md; with
`--ship`, the VXLM and CTAM models go to assets/models/{vxlm,ctam} (fp16).

    python benchmarks/ctam.py                 # full budget
    python benchmarks/ctam.py --epochs 2      # reduced budget (recorded in the JSON)
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GKLMIP = "gklmip:{data}/gklmip_myanmar_sentiment/"
ENGLISH = "semeval:{data}/semeval16_restaurants/gold-en-train.txt"
# zero-resource: no Burmese label may choose the checkpoint, so English dev sentences do
ENGLISH_SELECT = "semeval:{data}/semeval16_restaurants/gold-en-dev.txt"
PAPER = {"classifier": 82.56, "vxlm": 82.63, "ctam": 83.14}  # Table 1, F1 (XLM-R Base / VXLM / CTAM)
PAPER_NAMES = {"classifier": "XLM-R Base (fine-tuned classifier)", "vxlm": "VXLM", "ctam": "CTAM"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def machine() -> dict[str, Any]:
    """`machine_facts()` (torch threads already set) plus the load at the start: the cores are shared."""
    from benchmarks.machine import machine_facts

    return {**machine_facts(), "load_average_start": list(os.getloadavg())}


def select_scores(model: Any, items: Sequence[Any], predict_logits: Callable[[Any], Any], batch: int = 32) -> dict[str, float]:
    """macro-F1/accuracy on prepared items (cached lower states): the epoch-selection signal."""
    import torch

    from xsent_core.metrics import accuracy, macro_f1
    from xsent_core.types import SENTIMENT_LABELS

    gold, pred = [], []
    model.eval()
    with torch.inference_mode():
        for s in range(0, len(items), batch):
            chunk = items[s : s + batch]
            logits = predict_logits(model.collate(chunk))
            pred += [SENTIMENT_LABELS[int(i)] for i in logits.argmax(-1)]
            gold += [SENTIMENT_LABELS[int(it["label"])] for it in chunk]
    return {"macro_f1": macro_f1(gold, pred), "accuracy": accuracy(gold, pred), "n": float(len(gold))}


def dev_scores(model: Any, rows: Sequence[Any]) -> dict[str, Any]:
    """Both readings (3-class; positive-vs-negative without gold neutral, also decided two-way), majority beside each,
    and each row's prediction."""
    from xsent_core.evaluation import prediction_report

    t = time.time()
    predictions = model.predict(rows)
    out = prediction_report([r.label for r in rows], predictions)
    out["seconds"] = round(time.time() - t, 1)
    # per row, so the same predictions can be scored against other labels (benchmarks/gklmip_audit.py)
    out["rows"] = [
        {"id": r.id, "label": p.label, "probs": {k: round(v, 4) for k, v in (p.probs or {}).items()}}
        for r, p in zip(rows, predictions)
    ]
    return out


def train_one(
    name: str,
    model: Any,
    items: Sequence[Any],
    select_items: Sequence[Any],
    logits_fn: Callable[[Any], Any],
    train: Any,
    out_dir: Path,
) -> dict[str, Any]:
    from xsent_core.training import fit

    t = time.time()
    result = fit(
        model,
        items,
        train,
        evaluate=lambda: select_scores(model, select_items, logits_fn),
        out_dir=out_dir,
        progress=False,
        callbacks=[lambda ev, st, payload: log(f"{name} {ev} {dict(payload)}") if ev == "eval" else None],
    )
    return {
        "status": result.status,
        "steps": result.steps,
        "train_seconds": round(time.time() - t, 1),
        "best_step": result.best_step,
        "select": dict(result.metrics),
        "history": [dict(h) for h in result.history],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--train-from", type=int, default=10, help="first trainable encoder layer (all methods)")
    ap.add_argument("--static-layer", type=int, default=8)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--holdout", type=float, default=0.3, help="share of the MY-EN lexicon held out for precision@1")
    ap.add_argument("--methods", nargs="+", default=["classifier", "vxlm", "ctam"])
    ap.add_argument("--logit-adjust", type=float, default=0.0, help="tau of logit-adjusted cross-entropy, all three models (0: plain)")
    ap.add_argument("--class-weighting", choices=("none", "balanced"), default="none", help="class-weighted cross-entropy, all three models")
    ap.add_argument("--setting", choices=("supervised", "zero-resource"), default="supervised",
                    help="zero-resource: English labels only (the paper's claim); Burmese train text unlabelled, "
                    "checkpoint chosen on English SemEval dev sentences")
    ap.add_argument("--adapt", choices=("top-k", "lora"), default="top-k", help="encoder adaptation, all three models")
    ap.add_argument("--lora-rank", type=int, default=16)
    ap.add_argument("--lora-from", type=int, default=8, help="first layer with LoRA adapters (>= --static-layer)")
    ap.add_argument("--align-layers", type=int, default=1, help="CTAM: encoder layers aligned teacher <-> student")
    ap.add_argument("--bidirectional", action="store_true", help="CTAM: L_R moves the teacher too (detach_teacher=False)")
    ap.add_argument("--lr", type=float, default=None, help="encoder learning rate (default 5e-5 top-k, 5e-4 LoRA, "
                    "as benchmarks/adaptation.py)")
    ap.add_argument("--tokenize-words-as", choices=("separate", "text"), default="separate",
                    help="VXLM/CTAM: tokenise each word on its own, or the words as running text (fewer sub-tokens)")
    ap.add_argument("--limit", type=int, default=None, help="stratified subsample of each split (smoke runs)")
    ap.add_argument("--ship", action="store_true", help="save the VXLM/CTAM models to assets/models (fp16)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ctam.json"))
    ap.add_argument("--ship-from", type=Path, default=None, metavar="RUN_JSON",
                    help="ship the VXLM/CTAM models an earlier run kept (its run_folder, or --run-folder) and stop")
    ap.add_argument("--run-folder", type=Path, default=None, help="with --ship-from: where that run kept its models")
    args = ap.parse_args()
    if args.ship_from:
        ship_earlier_run(args.ship_from, args.run_folder)
        return

    import torch

    torch.set_num_threads(args.threads)
    from xsent_core.encoders.registry import load_text_encoder
    from xsent_core.methods.base import TrainConfig
    from xsent_core.methods.classifier import ClassifierConfig, ClassifierMethod
    from xsent_core.methods.ctam import CtamConfig, CtamMethod, VxlmConfig, VxlmMethod
    from xsent_core.methods.common import upper_states
    from xsent_core.recipes import load_data
    from xsent_core.registry import load_model
    from xsent_core.text import normalize

    started = time.time()
    command = "python benchmarks/ctam.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    report: dict[str, Any] = {"command": command.strip(), "machine": machine()}
    train_rows = load_data(GKLMIP + "train.json@train")
    select_rows = load_data(GKLMIP + "train.json@select")
    dev_rows = load_data(GKLMIP + "dev.json")
    english = load_data(ENGLISH)
    if args.limit:
        from xsent_core.data.splits import stratified_split

        cut = lambda rows: stratified_split(rows, min(1.0, args.limit / len(rows)), seed=0)[0]  # noqa: E731
        train_rows, select_rows, dev_rows = cut(train_rows), cut(select_rows), cut(dev_rows)
        english = english[: args.limit]
    english_labelled = [ex for ex in english if ex.label is not None]
    zero = args.setting == "zero-resource"
    english_select = [ex for ex in load_data(ENGLISH_SELECT) if ex.label is not None] if zero else []
    if zero and args.limit:
        english_select = english_select[: args.limit]
    zawgyi = {
        name: sum(normalize(ex.text).converted_from_zawgyi for ex in rows)
        for name, rows in (("train", train_rows), ("select", select_rows), ("dev", dev_rows))
    }
    from collections import Counter

    report["data"] = {
        "train": {"n": len(train_rows), "labels": dict(Counter(r.label for r in train_rows))},
        "select": {"n": len(select_rows), "labels": dict(Counter(r.label for r in select_rows))},
        "dev": {"n": len(dev_rows), "labels": dict(Counter(r.label for r in dev_rows))},
        "english_teachers": {"n": len(english_labelled), "labels": dict(Counter(r.label for r in english_labelled))},
        **({"english_select": {"n": len(english_select), "labels": dict(Counter(r.label for r in english_select))}}
           if zero else {}),
        "english_static_corpus_rows": len(english),
        "zawgyi_rows_converted": zawgyi,
    }
    lr = args.lr if args.lr is not None else (5e-4 if args.adapt == "lora" else 5e-5)
    train = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=lr, head_lr=1e-3, seed=args.seed,
        select_metric="macro_f1", warmup_ratio=0.1,
    )
    report["budget"] = {
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": lr, "head_lr": 1e-3,
        "train_from_layer": args.train_from, "static_layer": args.static_layer, "seed": args.seed,
        "lexicon_holdout": args.holdout, "limit": args.limit,
        "seeds": 1, "note": "one seed (the paper averages three)",
    }
    imbalance = {"logit_adjust": args.logit_adjust, "class_weighting": args.class_weighting}
    report["budget"]["imbalance"] = imbalance
    adaptation: dict[str, Any] = {"adapt": args.adapt, "train_from_layer": args.train_from}
    if args.adapt == "lora":
        adaptation.update(lora_rank=args.lora_rank, lora_alpha=2.0 * args.lora_rank, lora_from_layer=args.lora_from)
    report["budget"]["adaptation"] = adaptation
    report["budget"]["setting"] = args.setting
    report["budget"]["tokenize_words_as"] = args.tokenize_words_as
    report["budget"]["selection"] = (
        f"English SemEval dev ({len(english_select)} labelled sentences): no Burmese label is used" if zero
        else f"GKLMIP train @select ({len(select_rows)} Burmese rows)"
    )
    results: dict[str, Any] = {}
    report["results"] = results
    tmp = Path(tempfile.mkdtemp(prefix="xsent-ctam-bench-"))
    out_path = Path(args.out).resolve()
    report["out"] = str(out_path.relative_to(ROOT)) if out_path.is_relative_to(ROOT) else args.out
    report["run_folder"] = str(tmp)  # the best model of each method stays there (`--ship` copies it)

    def save_report() -> None:
        report["total_seconds"] = round(time.time() - started, 1)
        report["machine"]["load_average_end"] = list(os.getloadavg())
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
        out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")

    # -- baseline ----------------------------------------------------------------
    if "classifier" in args.methods:
        log("classifier: prepare")
        t = time.time()
        clf = ClassifierMethod(ClassifierConfig(**adaptation, **imbalance), load_text_encoder("builtin"))
        items = clf.prepare(english_labelled if zero else train_rows)
        sel = clf.prepare(english_select if zero else select_rows)
        prep = round(time.time() - t, 1)

        def clf_logits(batch: Any) -> Any:
            hidden = upper_states(clf.encoder, batch["lower"], batch["attention_mask"], clf.live_layer)
            return clf.logits_from_hidden(hidden, batch["attention_mask"])

        r = train_one("classifier", clf, items, sel, clf_logits, train, tmp / "classifier")
        best = load_model(tmp / "classifier", expected_method="classifier")
        r["prepare_seconds"] = prep
        r["dev"] = dev_scores(best, dev_rows)
        results["classifier"] = r
        log(f"classifier dev {r['dev']['macro_f1']:.4f} / {r['dev']['accuracy']:.4f}")
        del clf, best, items, sel
        save_report()

    # -- VXLM and CTAM share encoded rows and the static table --------------------
    if {"vxlm", "ctam"} & set(args.methods):
        log("vxlm/ctam: encode rows")
        t = time.time()
        common = {"static_layer": args.static_layer, "dictionary_holdout": args.holdout, "setting": args.setting,
                  "tokenize_words_as": args.tokenize_words_as, **adaptation, **imbalance}
        vxlm = VxlmMethod(VxlmConfig(**common), load_text_encoder("builtin"))
        train_items = vxlm.encode_examples(train_rows)
        select_items = vxlm.encode_examples(english_select if zero else select_rows)
        labelled_ids = {ex.id for ex in english_labelled}
        en_kept = [ex for ex in english if vxlm._row_words(ex)[0]]
        en_items = vxlm.encode_examples(en_kept)
        vxlm.build_static_from_items(list(train_items) + list(en_items))
        teacher_items = [it for it, ex in zip(en_items, en_kept) if ex.id in labelled_ids]
        # what prepare() does; the items are built here to be shared. Zero-resource VXLM learns from English alone.
        vxlm_items = teacher_items if zero else train_items
        vxlm.count_labels(vxlm_items)
        encode_seconds = round(time.time() - t, 1)
        report["static_vectors"] = vxlm.static_report
        log(f"static table: {vxlm.static_report.get('table_rows')} rows, evaluation {vxlm.static_report.get('evaluation')}")
        table = (vxlm.static_words, vxlm.static_table.numpy().copy(), vxlm.static_source.bool().tolist(), vxlm.mapping())

        def vx_logits(model: Any) -> Callable[[Any], Any]:
            return lambda batch: model.logits(model.batch_features(batch))

        def record(name: str, r: dict[str, Any]) -> None:
            """Dev scores of the best saved `name` model (gated methods), shipped with --ship."""
            best = load_model(tmp / name, expected_method=name)
            r["dev"] = dev_scores(best, dev_rows)
            r["dev"]["gate_mean"] = _gate_mean(best, dev_rows[:64])
            results[name] = r
            log(f"{name} dev {r['dev']['macro_f1']:.4f} / {r['dev']['accuracy']:.4f}")
            if args.ship:
                ship(best, name, report, r)
            save_report()

        if "vxlm" in args.methods:
            r = train_one("vxlm", vxlm, vxlm_items, select_items, vx_logits(vxlm), train, tmp / "vxlm")
            r["prepare_seconds"] = encode_seconds
            record("vxlm", r)
        del vxlm

        if "ctam" in args.methods:
            t = time.time()
            dual = {"align_layers": args.align_layers, "detach_teacher": not args.bidirectional}
            report["budget"]["ctam_dual_path"] = dual
            ctam = CtamMethod(CtamConfig(**common, **dual), load_text_encoder("builtin"))
            ctam.set_static(*table)
            ctam.static_report = report["static_vectors"]
            teacher_texts = [ex.text for ex in en_kept if ex.id in labelled_ids]
            items = ctam.prepare_items(train_items, teacher_items, teacher_texts)
            r = train_one("ctam", ctam, items, select_items, vx_logits(ctam), train, tmp / "ctam")
            r["prepare_seconds"] = round(encode_seconds + time.time() - t - r["train_seconds"], 1)
            record("ctam", r)

    report["finding"] = finding(results)
    save_report()
    log(f"done in {report['total_seconds'] / 60:.1f} min -> {args.out}")


def _gate_mean(model: Any, rows: Sequence[Any]) -> float:
    vals = [p.extras.get("gate_mean") for p in model.predict(rows)]
    vals = [v for v in vals if v is not None]
    return round(sum(vals) / max(1, len(vals)), 4)


def finding(results: dict[str, Any]) -> str:
    f1 = {k: v["dev"]["macro_f1"] for k, v in results.items() if "dev" in v}
    n_dev = int(next(iter(results.values()))["dev"]["n"]) if results else 0
    if len(f1) < 3:
        return "incomplete run"
    order = sorted(f1, key=f1.get, reverse=True)
    target = f1["ctam"] >= f1["vxlm"] >= f1["classifier"]
    spread = max(f1.values()) - min(f1.values())
    text = f"dev macro-F1 order: {' > '.join(order)}; paper's CTAM >= VXLM >= baseline {'holds' if target else 'does not hold'}"
    text += f"; spread {spread * 100:.1f} points on {n_dev} dev rows, one seed"
    if spread < 0.03:
        text += ": within single-seed noise (differences under ~3 points are not evidence either way)"
    return text


def ship_earlier_run(run_json: Path, folder: Path | None) -> None:
    """Ship the models of a finished run without training again (the card gets that run's command and figures)."""
    from xsent_core.registry import load_model

    report = json.loads(run_json.read_text(encoding="utf-8"))
    folder = folder or Path(report["run_folder"])
    for name in ("vxlm", "ctam"):
        if name in report["results"]:
            ship(load_model(folder / name, expected_method=name), name, report, report["results"][name])
            log(f"shipped {name} from {folder / name} ({run_json.name})")


def ship(model: Any, name: str, report: dict[str, Any], r: dict[str, Any]) -> None:
    from xsent_core.registry import save_model

    folder = ROOT / "assets" / "models" / name
    preset = matching_preset(name, report["budget"])
    dev = r["dev"]
    metrics = {"select": r["select"], "dev": {
        "macro_f1": dev["macro_f1"], "accuracy": dev["accuracy"], "weighted_f1": dev["weighted_f1"], "n": dev["n"],
        "per_class_f1": {k: v["f1"] for k, v in dev["per_class"].items()},
        "majority_macro_f1": dev["majority"]["macro_f1"],
        "pos_neg_macro_f1": dev["pos_neg"]["macro_f1"], "pos_neg_weighted_f1": dev["pos_neg"]["weighted_f1"],
        "pos_neg_majority_macro_f1": dev["pos_neg"]["majority"]["macro_f1"],
    }}
    save_model(
        model, folder, half=True, metrics=metrics,
        training={"command": portable_command(report["command"]), "budget": report["budget"], "steps": r["steps"],
                  # the Models tab shows the preset's data; only when a preset holds this run's settings
                  **({"preset": preset} if preset else {})},
        card_text=model_card(name, report, r),
    )


def adaptation_text(b: dict[str, Any]) -> str:
    a = b.get("adaptation") or {"adapt": "top-k", "train_from_layer": b["train_from_layer"]}
    if a["adapt"] == "lora":
        return (f"LoRA rank {a['lora_rank']} (alpha {a['lora_alpha']:g}) on the attention and feed-forward projections of "
                f"layers >= {a['lora_from_layer']}, adapters folded into the weights at load")
    return f"encoder layers >= {a['train_from_layer']} trained"


def dual_path_text(dual: dict[str, Any]) -> str:
    m = int(dual.get("align_layers", 1))
    layers = ("only the top layer's states enter it (the paper aligns every layer)" if m == 1 else
              f"the top {m} encoder layers are aligned (the paper aligns every layer of its network)")
    way = ("L_R moves teacher and student (the paper's bidirectional reading)" if dual.get("detach_teacher") is False
           else "the teacher is detached, so L_R moves the student only (the paper calls it bidirectional)")
    return f"- dual path: {layers}; {way}."


def matching_preset(name: str, b: dict[str, Any]) -> str | None:
    """The preset that holds exactly this run's settings (`b`: the report's budget), if one does."""
    from xsent_core.methods.ctam import PRESETS

    preset = f"{name}-{'zero-resource' if b.get('setting') == 'zero-resource' else 'builtin'}"
    cfg = PRESETS[preset].config
    a = b.get("adaptation") or {}
    same = (
        a.get("adapt", "top-k") == cfg.get("adapt", "top-k")
        and all(a.get(k) == cfg.get(k) for k in ("lora_rank", "lora_from_layer") if a.get("adapt") == "lora")
        and (a.get("adapt") == "lora" or b["train_from_layer"] == cfg.get("train_from_layer", 10))
        and b["imbalance"].get("logit_adjust") == cfg.get("logit_adjust", 0.0)
        and b["imbalance"].get("class_weighting") == cfg.get("class_weighting", "none")
        and b["epochs"] == PRESETS[preset].train.epochs and b["lr"] == PRESETS[preset].train.lr
        and (b.get("ctam_dual_path") or {}).get("align_layers", 1) == 1
        and (b.get("ctam_dual_path") or {}).get("detach_teacher", True)
    )
    return preset if same else None


def preset_line(name: str, b: dict[str, Any]) -> list[str]:
    """The CLI equivalent of this run, when a preset holds exactly its settings."""
    preset = matching_preset(name, b)
    if preset is None:
        return []
    return [f"Or from the CLI, the preset `{preset}` holds these settings: `python -m xsent_core train --method {name} "
            f"--preset {preset} --train-config '{{\"seed\": {b['seed']}}}' --out DIR --half`."]


def portable_command(command: str) -> str:
    """The run's command with this checkout's absolute paths made relative (cards name no machine path)."""
    return command.replace(str(ROOT) + "/", "")


def model_card(name: str, report: dict[str, Any], r: dict[str, Any]) -> str:
    """The shipped model's card, through the library's one card writer (`xsent_core.model_card`)."""
    from xsent_core.methods.base import Preset
    from xsent_core.methods.ctam import PRESETS
    from xsent_core.model_card import CardSection, model_card_text

    b = report["budget"]
    command = portable_command(report["command"])
    command = command if "--ship" in command else command + " --ship"
    out_name = Path(report.get("out") or (command.split("--out ", 1)[1].split()[0] if "--out " in command else "ctam.json")).name
    zero = b.get("setting") == "zero-resource"
    sv = report.get("static_vectors", {})
    ev = sv.get("evaluation") or {}
    matched = matching_preset(name, b)
    run = Preset(
        name=matched or f"benchmarks/ctam.py ({out_name})",
        method=name,
        description=(
            "English-to-Burmese sentence sentiment after Zhou & Zhao (2025), seed 002: "
            + ("contextual word states gated with VecMap-mapped static word vectors (VXLM)." if name == "vxlm" else
               "VXLM plus dual-path English-teacher / Burmese-student attention supervision (CTAM).")
        ),
        data=PRESETS[matched].data if matched else {},
    )
    data = (
        f"- setting: **{b.get('setting', 'supervised')}**"
        + (" (the paper's): no Burmese label trains the model or chooses its checkpoint." if zero else
           ": Burmese labels train the model."),
        "- Burmese: GKLMIP Myanmar product reviews, `train.json`, stratified 80 % (seed 0), "
        f"{report['data']['train']['n']} rows"
        + ("; text only (static vectors" + (", CTAM students)" if name == "ctam" else ")") if zero else
           "; stars 1-2 negative, 3-4 neutral, 5 positive")
        + "; Zawgyi rows converted.",
        f"- epoch selection: {b.get('selection') or 'the other 20 % (' + str(report['data']['select']['n']) + ' rows)'}.",
        f"- reported: GKLMIP `dev.json` ({report['data']['dev']['n']} rows).",
        f"- English: SemEval-2016 restaurant train sentences (static vectors; CTAM teachers: {report['data']['english_teachers']['n']} labelled sentences).",
        "- seed lexicon: `assets/dictionaries/my-en.tsv` "
        f"({int(round((1 - b['lexicon_holdout']) * 100))} % used for the mapping, the rest held out).",
    )
    dev = r["dev"]
    measured = (
        f"- dev 3-class macro-F1 {dev['macro_f1']:.4f} (majority baseline {dev['majority']['macro_f1']:.4f}), "
        f"accuracy {dev['accuracy']:.4f} (majority {dev['majority']['accuracy']:.4f}), "
        f"per-class F1 {json.dumps({k: round(v['f1'], 4) for k, v in dev['per_class'].items()})}",
        f"- the paper's reading, positive vs negative on the {dev['pos_neg']['n']} non-neutral dev rows: macro-F1 "
        f"{dev['pos_neg']['macro_f1']:.4f} (majority {dev['pos_neg']['majority']['macro_f1']:.4f}), "
        f"weighted {dev['pos_neg']['weighted_f1']:.4f}; decided two-way {dev['pos_neg']['two_way']['macro_f1']:.4f}",
        f"- select-slice macro-F1 at the kept step: {r['select'].get('macro_f1', float('nan')):.4f}",
        f"- static table: {sv.get('table_rows')} words; mapping precision@1 on the held-out lexicon: "
        f"{ev.get('precision_at_1')} (unmapped: {ev.get('precision_at_1_unmapped')}, n={ev.get('n')})",
        f"- the paper reports F1 {PAPER[name]} (XLM-R, 50k Yelp reviews as English source; not comparable one to one)",
    )
    deviations = (
        *([] if zero else
          ["- supervised setting: the student is trained with Burmese labels (the paper's claim is zero-resource transfer)."]),
        f"- encoder: e5-small with the XLM-R vocabulary (builtin), not XLM-R Base; {adaptation_text(b)}.",
        "- English source: SemEval-2016 restaurant sentences (3 classes, few neutral), not binary Yelp reviews.",
        "- static vectors: corpus-averaged word states of the same encoder at one layer, not monolingual word embeddings.",
        "- VecMap: normalisation, Procrustes pulled toward the identity (λ by cross-validation on the seed lexicon) and "
        "CSLS self-learning; whitening (PCA decorrelation) measured and not used (benchmarks/results/alignment_mapping.json).",
        *([dual_path_text(b.get("ctam_dual_path") or {})] if name == "ctam" else []),
        f"- imbalance handling: {json.dumps(b.get('imbalance', {}))} (none in the paper).",
    )
    settings = (
        f"{adaptation_text(b)}, static vectors from layer {b['static_layer']}, "
        f"{b['epochs']} epochs, batch {b['batch_size']}, lr {b['lr']} (encoder) / {b['head_lr']} (new layers), seed {b['seed']}; "
        "weights stored in fp16 (trained tensors, static table and map only; the encoder is rebuilt from `builtin`).",
    )
    return model_card_text(
        run, command, tables=(), seconds=float(r.get("train_seconds", 0.0)), from_preset=matched is not None,
        sections=[
            *([CardSection("", tuple(preset_line(name, b)))] if matched else []),
            CardSection("Data used", data),
            CardSection("Settings", settings),
            CardSection("Measured (fractions)", measured),
            CardSection("Deviations from the paper", deviations),
            CardSection("", (f"See benchmarks/results/{out_name} for the full run.",)),
        ],
    )


def markdown(report: dict[str, Any]) -> str:
    res = report.get("results", {})
    lines = [
        "| model | paper F1 | our dev macro-F1 | our dev accuracy | select macro-F1 | train min |",
        "|---|---|---|---|---|---|",
    ]
    for key in ("classifier", "vxlm", "ctam"):
        r = res.get(key)
        if not r or "dev" not in r:
            lines.append(f"| {PAPER_NAMES[key]} | {PAPER[key]:.2f} | not run | | | |")
            continue
        lines.append(
            f"| {PAPER_NAMES[key]} | {PAPER[key]:.2f} | {100 * r['dev']['macro_f1']:.2f} | {100 * r['dev']['accuracy']:.2f} "
            f"| {100 * r['select'].get('macro_f1', 0):.2f} | {r['train_seconds'] / 60:.1f} |"
        )
    if report.get("finding"):
        lines += ["", report["finding"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
