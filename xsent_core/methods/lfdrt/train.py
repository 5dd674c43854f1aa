"""LFD-RT recipes: pre-training on English + verified parallel pairs, and rethinking
fine-tuning on unlabelled target text. Both stages run through `training.fit`
(progress callbacks, cancellation, a checkpoint per epoch)."""
from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from ...config import config_from_dict, replace_config
from ..base import Preset, RunOptions, TrainConfig
from ...model_card import CardSection, MeasuredTable, model_card_text
from ...types import Example, XsentError
from .config import LfdrtConfig
from ..common import FrozenStateCache
from .pairs import verified_pairs

NOT_CHANGED = "the model was not changed"
# how to name a language the rows do not tell, in the app and on the command line
LANG_HINT = "`lang` (the Train tab's language field, `--lang` on the command line)"
WORDS = "words:"  # a parallel spec that is a bilingual word list


# -- parallel pairs --------------------------------------------------------------
def load_parallel(
    spec: Mapping[str, Sequence[str]], config: LfdrtConfig
) -> tuple[list[tuple[Example, Example]], list[dict[str, Any]]]:
    """{lang: [anchor FORMAT:PATH, translation FORMAT:PATH]} -> verified pairs and a report per language.

    A language without parallel sentences may give a bilingual word list instead:
    {lang: ["words:PATH"]}, a TSV of `target word<TAB>anchor word` (e.g.
    assets/dictionaries/my-en.tsv); each word pair is one pair.
    """
    from ...recipes import load_data

    pairs: list[tuple[Example, Example]] = []
    reports = []
    for lang, specs in spec.items():
        if len(specs) == 1 and str(specs[0]).startswith(WORDS):
            kept, facts = _word_pairs(lang, specs[0][len(WORDS):])
        elif len(specs) == 2:
            source, target = load_data(specs[0]), load_data(specs[1])
            kept, report = verified_pairs(
                source, target, lang=lang, min_ratio=config.pair_min_ratio, max_ratio=config.pair_max_ratio
            )
            facts = report.to_dict()
        else:
            raise XsentError(
                f"parallel data for {lang!r}: expected [anchor spec, translation spec] or [\"{WORDS}PATH\"], got {specs!r}"
            )
        if config.max_pairs_per_lang is not None and len(kept) > config.max_pairs_per_lang:
            chosen = sorted(random.Random(config.seed).sample(range(len(kept)), config.max_pairs_per_lang))
            kept = [kept[i] for i in chosen]
        facts["used"] = len(kept)
        reports.append(facts)
        pairs.extend((a, b if b.lang else dataclasses.replace(b, lang=lang)) for a, b in kept)
    return pairs, reports


def _word_pairs(lang: str, path: str) -> tuple[list[tuple[Example, Example]], dict[str, Any]]:
    from ...paths import expand_placeholders
    from ...vecmap import read_dictionary

    words = read_dictionary(expand_placeholders(path))
    kept = [(Example(f"{lang}-w{i}-src", anchor), Example(f"{lang}-w{i}", target, lang))
            for i, (target, anchor) in enumerate(words)]
    n = len(kept)
    return kept, {"lang": lang, "source": "word list", "source_rows": n, "target_rows": n, "aligned": n,
                  "unmatched_source": 0, "unmatched_target": 0, "dropped": {}, "kept": n}


# -- rethinking ---------------------------------------------------------------------
@dataclass(frozen=True)
class RethinkResult:
    status: str  # "finished" | "cancelled"
    rows: int
    skipped_blank: int
    languages: Mapping[str, int]
    steps: int
    seconds: float
    agreement_before: float
    agreement_after: float
    pseudo_labels_before: Mapping[str, int]  # agreed labels on the set, before and after
    pseudo_labels_after: Mapping[str, int]
    model_dir: str | None
    message: str
    history: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    pseudo_labels_used: Mapping[str, int] = field(default_factory=dict)  # chosen for training (confident, per-class share)
    skipped_undetected: int = 0  # rows left out: their language could not be told
    skipped_note: str = ""  # the sentence saying so ('' when none were)
    prior_note: str = ""  # languages left with the model's prior under rethink_prior="uniform" ('' when none were)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["history"] = list(self.history)
        return d


@dataclass(frozen=True)
class UsableRows:
    """What rethinking can use of a set of unlabelled rows."""

    rows: list[Example]
    routes: list[Any]  # each row's family route
    skipped_blank: int
    skipped_undetected: tuple[Example, ...]  # rows whose language neither code, script, identifier nor `lang` told

    def skipped_note(self) -> str:
        """One sentence on the undetected rows left out, or ''."""
        if not self.skipped_undetected:
            return ""
        n, first = len(self.skipped_undetected), self.skipped_undetected[0]
        return (f"{n} of {n + len(self.rows)} texts left out, their language not detected (first: {first.text[:40]!r}): "
                f"name it with {LANG_HINT} to include them.")


def check_unlabelled(model_or_config: Any, examples: Sequence[Example], lang: str | None = None) -> UsableRows:
    """Rows usable for rethinking and their routes; XsentError (model untouched) otherwise.

    Rows whose language cannot be told are left out (and named) while at least
    `rethink_min_rows` others remain; with fewer, the error asks for the language.
    Takes a model or just its LfdrtConfig, so a job can check its data before training.
    """
    from .families import load_family_table

    config = getattr(model_or_config, "config", model_or_config)
    table = getattr(model_or_config, "table", None) or load_family_table(
        overrides=config.family_overrides, anchor_language=config.anchor_language
    )
    minimum = max(2, int(config.rethink_min_rows))
    if not examples:
        raise XsentError(f"rethinking needs unlabelled text, but the set is empty; {NOT_CHANGED}")
    rows = [ex for ex in examples if ex.text and ex.text.strip()]
    blank = len(examples) - len(rows)
    if len(rows) < minimum:
        note = f" ({blank} blank rows skipped)" if blank else ""
        raise XsentError(
            f"rethinking needs at least {minimum} rows of unlabelled text, got {len(rows)}{note}; "
            f"two heads cannot be checked against each other on so little; {NOT_CHANGED}"
        )
    routes, unknown, missing, kept = [], {}, [], []
    detect = _language_detector(table)
    for ex in rows:
        # the row's own code, else its script, else the language identifier, else `lang`
        route = table.route(ex.lang, ex.text)
        if route.source == "default":
            guessed = detect(ex.text)
            route = table.route(guessed or lang, ex.text)
            if guessed:
                route = dataclasses.replace(route, source="detected")
        if route.source == "unknown":
            code = ex.lang or lang
            unknown[str(code)] = unknown.get(str(code), 0) + 1
        elif route.source == "default":
            missing.append(ex)
            continue
        kept.append(ex)
        routes.append(route)
    if unknown:
        listed = ", ".join(f"{c!r} ({n} rows)" for c, n in sorted(unknown.items()))
        raise XsentError(
            f"rethinking adapts the model to a known language, but these language codes are not in the "
            f"LFD-RT family table: {listed}; add them with family_overrides {{code: family}} "
            f"(families: {', '.join(table.families)}); {NOT_CHANGED}"
        )
    if missing and len(kept) < minimum:
        first = missing[0]
        raise XsentError(
            f"the language of {len(missing)} of {len(rows)} rows could not be told from their script or text "
            f"(first: {first.id!r}, {first.text[:60]!r}), and {len(kept)} rows are too few without them; give those "
            f"rows a language code, or name the one language they are in with {LANG_HINT}; {NOT_CHANGED}"
        )
    return UsableRows(kept, routes, blank, tuple(missing))


def _language_detector(table: Any) -> Callable[[str], str | None]:
    """text -> a language of the family table, or None; judged by family (what routing needs);
    the identifier loads only when a row needs it."""
    from ...text.language import LanguageDetector

    loaded: list[LanguageDetector] = []

    def detect(text: str) -> str | None:
        if not loaded:
            loaded.append(LanguageDetector(list(table.lang_to_family)))
        return loaded[0].guess(text, group=table.family_of).lang

    return detect


def balance_by_language(
    probs1: torch.Tensor, probs2: torch.Tensor, langs: Sequence[str | None], min_rows: int
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Both heads' probabilities re-decided under a uniform class prior, each language
    over its own rows (`imbalance.balance_prior`: how common a class is differs by
    language). A language with fewer than `min_rows` rows keeps the model's prior and
    is named in the returned note ('' when every language had enough)."""
    from ...imbalance import balance_prior

    out1, out2 = probs1.clone(), probs2.clone()
    few: dict[str, int] = {}
    for lang in dict.fromkeys(langs):
        idx = torch.tensor([i for i, x in enumerate(langs) if x == lang], dtype=torch.long)
        if len(idx) < min_rows:
            few[lang or "?"] = len(idx)
            continue
        out1[idx], out2[idx] = balance_prior(probs1[idx]), balance_prior(probs2[idx])
    note = "" if not few else (
        "pseudo-labels decided with the model's own class prior for "
        + ", ".join(f"{lang} ({n} text{'' if n == 1 else 's'})" for lang, n in few.items())
        + f": a uniform prior needs at least {min_rows} texts of a language (rethink_prior_min_rows)."
    )
    return out1, out2, note


def _agreement(probs1: torch.Tensor, probs2: torch.Tensor) -> tuple[float, dict[str, int]]:
    """(share of rows whose heads agree, agreed rows per label)."""
    l1, l2 = probs1.argmax(-1), probs2.argmax(-1)
    agree = l1 == l2
    return float(agree.float().mean()) if len(agree) else 0.0, _label_counts(torch.where(agree, l1, -1))


def _label_counts(pseudo: torch.Tensor) -> dict[str, int]:
    from ...types import SENTIMENT_LABELS

    return {lab: int((pseudo == i).sum()) for i, lab in enumerate(SENTIMENT_LABELS)}


def rethink(
    model: Any,
    examples: Sequence[Example],
    *,
    lang: str | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    max_rows: int | None = None,
    callbacks: Sequence[Any] = (),
    cancel: threading.Event | None = None,
    progress: bool = False,
    device: str | None = None,
    resume: bool = False,
    prepared: Sequence[Mapping[str, Any]] | None = None,
) -> RethinkResult:
    """Rethinking fine-tuning (Section 3.4) of `model` in place on unlabelled rows.

    Pseudo-labels are chosen once, before training, where the two heads agree
    (`rethink_min_confidence`, per-class share `rethink_keep`), on probabilities
    re-decided under a uniform class prior per language when `rethink_prior` is
    "uniform" (`balance_by_language`); those rows get
    cross-entropy, the others the masked-LM term. What trains is set by
    `rethink_train` (the heads and the new rethinking MLM projection, or also the
    fusion, disentanglers and top encoder layer(s)); Adam = AdamW without weight
    decay at `rethink_lr`; the frozen lower layers run once. Labels in
    `examples` are never read.
    `lang` is used for rows without a code. An empty/one-row set, or rows in a
    language the family table does not know, raise XsentError before anything
    changes; a cancelled run restores the heads (checkpoints stay in
    `out_dir/checkpoints/last` for `resume`). `prepared`: the output of
    `model.prepare_rethinking` for exactly these rows (after `max_rows`), to
    reuse the frozen lower-layer states across runs from the same pre-trained model.
    """
    from ...distributed import dist_info
    from ...imbalance import balanced_class_weights
    from ...registry import save_model
    from ...types import SENTIMENT_LABELS
    from ...training import fit
    from . import losses as L
    from .model import rethink_state

    c = model.config
    usable = check_unlabelled(model, examples, lang)
    rows, routes, blank = usable.rows, usable.routes, usable.skipped_blank
    cap = max_rows if max_rows is not None else c.rethink_max_rows
    if cap is not None and len(rows) > cap:
        keep = sorted(random.Random(c.seed).sample(range(len(rows)), cap))
        rows, routes = [rows[i] for i in keep], [routes[i] for i in keep]
    languages: dict[str, int] = {}
    for r in routes:
        languages[r.lang or "?"] = languages.get(r.lang or "?", 0) + 1
    saved = rethink_state(model)
    start = time.time()
    try:
        if prepared is not None and len(prepared) != len(rows):
            raise XsentError(f"prepared rethinking data has {len(prepared)} rows, the set has {len(rows)}")
        if c.rethink_class_weights not in ("none", "balanced"):
            raise XsentError(f"rethink_class_weights must be 'none' or 'balanced', got {c.rethink_class_weights!r}")
        base_items = prepared if prepared is not None else model.prepare_rethinking(rows, routes)
        p1, p2 = model.rethink_probs(base_items)
        before, labels_before = _agreement(p1, p2)
        if c.rethink_decide_with_dropout:
            p1, p2 = model.rethink_probs(base_items, dropout=True)
        prior_note = ""
        if c.rethink_prior == "uniform":
            p1, p2, prior_note = balance_by_language(p1, p2, [r.lang for r in routes], c.rethink_prior_min_rows)
        pseudo = L.select_pseudo_labels(p1, p2, keep=c.rethink_keep, min_confidence=c.rethink_min_confidence)
        used = _label_counts(pseudo)
        counts = torch.tensor([float(used[lab]) for lab in SENTIMENT_LABELS])
        extra: dict[str, Any] = {"class_weights": balanced_class_weights(counts)} if c.rethink_class_weights == "balanced" else {}
        # a fresh list: `prepared` is shared between runs, each with its own pseudo-labels
        items = type(base_items)({**it, "pseudo": int(pseudo[n]), **extra} for n, it in enumerate(base_items))
        with torch.random.fork_rng(devices=[]):  # "a new linear projection" for the rethinking MLM
            torch.manual_seed(c.seed + 3)
            model.mlm_rethink.dense.reset_parameters()
            model.mlm_rethink.norm.reset_parameters()
        rate = c.rethink_lr if lr is None else lr
        train = TrainConfig(
            epochs=c.rethink_epochs if epochs is None else epochs,
            batch_size=c.rethink_batch_size if batch_size is None else batch_size,
            lr=rate,
            head_lr=rate,
            weight_decay=0.0,
            warmup_ratio=0.0,
            seed=c.seed,
            device=device or "auto",
            select_metric="heads_agree",
        )
        model.stage = "rethink"
        try:
            result = fit(
                model, items, train, evaluate=None, out_dir=out_dir, callbacks=callbacks, cancel=cancel,
                progress=progress, resume=resume,
                model_metadata={"stage": "rethink", "rows": len(rows), "languages": languages},
            )
        finally:
            model.stage = "pretrain"
    except BaseException:
        model.load_state_dict(saved, strict=False)
        raise
    if result.status != "finished":
        model.load_state_dict(saved, strict=False)
        model.eval()
        return RethinkResult(
            status=result.status, rows=len(rows), skipped_blank=blank, languages=languages, steps=result.steps,
            seconds=round(time.time() - start, 1), agreement_before=before, agreement_after=before,
            pseudo_labels_before=labels_before, pseudo_labels_after=labels_before,
            model_dir=None, message=f"rethinking {result.status}; the model was restored", history=result.history,
            pseudo_labels_used=used, skipped_undetected=len(usable.skipped_undetected), skipped_note=usable.skipped_note(),
            prior_note=prior_note,
        )
    after, labels_after = _agreement(*model.rethink_probs(items))
    message = (
        f"rethought on {len(rows)} rows ({', '.join(f'{k}: {v}' for k, v in sorted(languages.items()))}); "
        f"heads agree on {before:.1%} -> {after:.1%} of them; {sum(used.values())} pseudo-labels used "
        f"({', '.join(f'{k}: {v}' for k, v in used.items())})"
    ) + "".join(f"; {note}" for note in (usable.skipped_note(), prior_note) if note)
    if out_dir is not None and dist_info().is_main:  # under torchrun, rank 0 alone writes
        shutil.rmtree(Path(out_dir) / "checkpoints", ignore_errors=True)
        save_model(model, out_dir, metrics={"rethink_agreement": after},
                   training={"stage": "rethink", "rows": len(rows), "languages": languages, "steps": result.steps})
    return RethinkResult(
        status="finished", rows=len(rows), skipped_blank=blank, languages=languages, steps=result.steps,
        seconds=round(time.time() - start, 1), agreement_before=before, agreement_after=after,
        pseudo_labels_before=labels_before, pseudo_labels_after=labels_after,
        model_dir=str(out_dir) if out_dir is not None else None, message=message, history=result.history,
        pseudo_labels_used=used, skipped_undetected=len(usable.skipped_undetected), skipped_note=usable.skipped_note(),
        prior_note=prior_note,
    )


# -- presets ------------------------------------------------------------------------
def _stamp_seconds(start: float) -> Callable[[dict[str, Any]], None]:
    """finish_run's `summarise`: the run's wall time, tests included, before the card is written."""
    return lambda report: report.update(seconds=round(time.time() - start, 1))


def _tests(model: Any, tests: Mapping[str, Any]) -> dict[str, Any]:
    from ...recipes import load_data

    return {name: model.evaluate(load_data(spec)) for name, spec in tests.items()}


def model_card(preset: Preset, report: Mapping[str, Any], command: str) -> str:
    intro = (
        "LFD-RT (language-family disentanglement + rethinking transfer, Chen et al.) for sentence polarity "
        "(negative / neutral / positive). Weights hold only what was trained (top encoder layer(s), "
        "disentanglers, shared cross-attention, MLM transforms, the two heads); the encoder itself is rebuilt "
        "from its spec."
    )
    sections = []
    if report.get("pairs"):
        rows = ["| lang | source | target | aligned | dropped | used |", "|---|---|---|---|---|---|"]
        rows += [f"| {p['lang']} | {p['source_rows']} | {p['target_rows']} | {p['aligned']} | "
                 f"{json.dumps(p['dropped'])} | {p['used']} |" for p in report["pairs"]]
        sections.append(CardSection("Parallel pairs (aligned by sentence, verified)", tuple(rows)))
    if report.get("rethink"):
        sections.append(CardSection("Rethinking", (report["rethink"]["message"],)))
    columns = ("accuracy", "macro_f1", "weighted_f1", "heads_agree", "n")
    tables = [MeasuredTable(f"{title} (test sets; fractions)", report[key], columns)
              for title, key in (("Measured before rethinking", "test_before_rethinking"), ("Measured", "test"))
              if report.get(key)]
    return model_card_text(preset, command, intro=intro, sections=sections, tables=tables, seconds=report.get("seconds", 0))


def run_preset(
    cls: type,
    preset: Preset,
    out_dir: str | os.PathLike[str],
    options: RunOptions,
) -> dict[str, Any]:
    """Pre-train (unless the preset starts from a saved model), then rethink on `options.unlabelled`."""
    from ...distributed import barrier, dist_info
    from ...paths import expand_placeholders
    from ...recipes import finish_run, load_data
    from ...registry import load_model
    from ...training import fit

    out = Path(out_dir)
    start = time.time()
    command = options.rebuild_command(preset, out_dir)
    tests = (preset.data.get("test") or {}) if options.evaluate_tests else {}
    report: dict[str, Any] = {"preset": preset.name, "status": "finished", "test": {}}
    card = lambda best, rep: model_card(preset, rep, command)  # noqa: E731
    cache = FrozenStateCache()
    init = preset.data.get("init_model")
    if init:
        if not options.unlabelled:
            raise XsentError(f"preset {preset.name!r} rethinks an existing model: pass --unlabelled FORMAT:PATH")
        bad = [k for k in (options.overrides or {}) if not k.startswith("rethink_")]
        if bad:
            raise XsentError(f"preset {preset.name!r} only accepts rethink_* overrides, not {bad}")
        model = load_model(expand_placeholders(init), expected_method="lfdrt", device="cpu", for_training=True)
        model.lower_cache = cache
        if options.overrides:
            model.config = replace_config(model.config, **options.overrides)
        report["init_model"] = expand_placeholders(init)
    else:
        config = config_from_dict(LfdrtConfig, {**preset.config, **(options.overrides or {})})
        train = options.train_config(preset)
        labelled = [ex for ex in load_data(preset.data["train"]) if ex.label is not None]
        dev = [ex for ex in load_data(preset.data["dev"]) if ex.label is not None] if "dev" in preset.data else []
        if any(ex.image for ex in labelled) and config.image_encoder is None:
            config = replace_config(config, image_encoder="builtin")
            report["image_encoder"] = "builtin (the training data has images: cross-modal alignment on)"
        rows = load_data(options.unlabelled) if options.unlabelled else []
        if options.unlabelled:
            check_unlabelled(config, rows)  # fail before hours of pre-training, not after
        pairs, pair_reports = load_parallel(preset.data.get("parallel") or {}, config)
        report["pairs"] = pair_reports
        model = cls.create(config, device="cpu")
        model.lower_cache = cache  # dev evaluations each epoch then run only the trained layers
        items = model.prepare_pretraining(labelled, pairs)
        report["prepared"] = items.facts
        # beside OUT, not inside: saving OUT replaces the whole folder
        pre_dir = out.with_name(out.name + "-pretrained") if options.unlabelled else out
        report["pretrained_dir"] = str(pre_dir)
        result = fit(
            model, items, train,
            evaluate=(lambda: model.evaluate(dev)) if dev else None,
            out_dir=pre_dir, callbacks=options.callbacks, cancel=options.cancel, progress=options.progress, resume=options.resume,
            model_metadata={"preset": preset.name, "command": command, "stage": "pretrain"},
        )
        report.update(status=result.status, steps=result.steps, dev=dict(result.metrics))
        if result.status != "finished":
            report["seconds"] = round(time.time() - start, 1)
            return report
        dist = dist_info()
        if not dist.is_main:
            if not options.unlabelled:
                return report  # under torchrun, rank 0 alone tests and writes the model
            # every rank rethinks from the best weights: the others read them before rank 0 rewrites the folder
            model = load_model(pre_dir, expected_method="lfdrt", onnx=False)  # rethought next
            barrier(dist)
        else:
            if options.unlabelled:
                barrier(dist)
            model = finish_run(
                "lfdrt", pre_dir, preset, report, command, half=options.half and not options.unlabelled,
                evaluate_tests=options.evaluate_tests, card=card, summarise=_stamp_seconds(start),
            )
        model.lower_cache = cache
    if options.unlabelled:
        if init:
            rows = load_data(options.unlabelled)
        before = (report["test"] or _tests(model, tests)) if dist_info().is_main else {}
        res = rethink(model, rows, out_dir=out, callbacks=options.callbacks, cancel=options.cancel, progress=options.progress, device=options.device)
        report["rethink"] = res.to_dict()
        report["status"] = res.status
        if res.status != "finished" or not dist_info().is_main:
            return report
        report["test_before_rethinking"] = before
        report["test"] = {}
        finish_run(
            "lfdrt", out, preset, report, command, half=options.half, evaluate_tests=options.evaluate_tests,
            card=card, summarise=_stamp_seconds(start),
            metrics=lambda rep: {"test_before_rethinking": before, "rethink_agreement": res.agreement_after},
            training=lambda rep: {"unlabelled": options.unlabelled, "rethink_rows": res.rows},
        )
    return report
