"""MSMO recipes: `stage="msmo"` trains one model on the labelled views with the
critic and span consistency; `stage="distill"` trains one teacher per view set,
averages their soft labels on unlabelled target text (gold-X-train, tags
ignored) and distils them into a student (MSMO-Distill).

Every stage runs through `training.fit`. Dataset specs come from the preset's
`data`: `views` (view -> spec with `{lang}`), `dev`, `unlabelled`, `test`.
"""
from __future__ import annotations

import json
import os
import random
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from ...model_card import CardSection, MeasuredTable, model_card_text
from ...types import Example, XsentError
from ..base import Preset, RunOptions, TrainConfig
from ..common import FrozenStateCache
from .config import SOURCE_VIEWS, TARGET_VIEWS, TRANSLATE_TRAIN_VIEWS, MsmoConfig, MsmoRecipe, split_settings
from .model import GradientRatioLog, MsmoMethod, ScheduleCallback, evaluate_cached, load_best_, tagger_state
from ...data.span_cleanup import boundary_stats, strip_all
from .code_switched_pairs import PROJECTED, ViewPair, build_pairs


def fill(spec: str, lang: str) -> str:
    return spec.replace("{lang}", lang)


def load_views(
    data: Mapping[str, Any], langs: Sequence[str], views: Sequence[str]
) -> dict[str, dict[str, list[Example]]]:
    """{lang: {view: examples}}; a file shared by several languages is read once."""
    from ...recipes import load_data

    specs = data.get("views") or {}
    missing = [v for v in views if v not in specs]
    if missing:
        raise XsentError(f"msmo: the preset's data names no file for views {missing}")
    read: dict[str, list[Example]] = {}
    out: dict[str, dict[str, list[Example]]] = {}
    for lang in langs:
        out[lang] = {}
        for view in views:
            spec = fill(specs[view], lang)
            if spec not in read:
                read[spec] = load_data(spec)
            out[lang][view] = read[spec]
    return out


def training_pairs(
    views_by_lang: Mapping[str, Mapping[str, Sequence[Example]]],
    views: Sequence[str],
    *,
    max_pairs: int | None = None,
    seed: int = 0,
    translations: bool = False,
    clean_projected: bool = False,
    critic_text: Mapping[str, Sequence[Example]] | None = None,
) -> tuple[list[ViewPair], dict[str, Any]]:
    """ViewPairs over every language for the chosen views, plus alignment counts.

    `critic_text` {lang: unlabelled target sentences} become text-only target
    items (the critic's real target-language side; `max_pairs` of them per
    language) when the views hold both domains.
    """
    pairs: list[ViewPair] = []
    report: dict[str, Any] = {}
    both = bool(SOURCE_VIEWS & set(views)) and bool(TARGET_VIEWS & set(views))
    for lang, by_view in views_by_lang.items():
        chosen = {v: by_view[v] for v in views if v in by_view}
        found, counts = build_pairs(
            chosen, lang, max_pairs=max_pairs, seed=seed, translations=translations, clean_projected=clean_projected
        )
        text = list((critic_text or {}).get(lang, ())) if both else []
        if max_pairs is not None and len(text) > max_pairs:
            text = random.Random(f"{seed}:{lang}:critic_text").sample(text, max_pairs)
        found += [ViewPair(replace(ex, spans=None, label=None), None, 1, lang) for ex in text]
        pairs += found
        report[lang] = {"items": len(found), "alignment": counts, "critic_text": len(text)}
        if clean_projected:
            report[lang]["projected_spans"] = {
                v: {"raw": boundary_stats(by_view[v], lang).to_dict(), "cleaned": boundary_stats(strip_all(by_view[v], lang), lang).to_dict()}
                for v in sorted(PROJECTED & set(chosen))
            }
    return pairs, report


ADAPTATION_KEYS: tuple[str, ...] = ("encoder", "adapt", "train_from_layer", "lora_rank", "lora_alpha", "lora_from_layer")


def warm_start_state(path: str | os.PathLike[str], config: MsmoConfig) -> dict[str, Any]:
    """The trained weights (encoder adaptation + tag head) of a saved tagger or MSMO
    model, to start MSMO models from instead of the bare encoder.

    The saved model must be adapted exactly as `config` says (same encoder, same
    LoRA rank/layers or trained layers): otherwise its tensors would not fit, and
    a model folder of another method has no tag head. Its critic is not reused.
    """
    from ...config import config_to_dict
    from ...paths import expand_placeholders
    from ...registry import load_model, read_model_card

    folder = expand_placeholders(str(path))
    card = read_model_card(folder)
    if card.method not in ("tagger", "msmo"):
        raise XsentError(f"msmo: init_from needs a tagger or msmo model; {card.path} holds a {card.method!r} model")
    saved = dict(card.config)
    wanted = config_to_dict(config)
    differ = [k for k in ADAPTATION_KEYS if saved.get(k, wanted.get(k)) != wanted.get(k)]
    if differ:
        raise XsentError(
            f"msmo: init_from {card.path} is adapted differently ("
            + ", ".join(f"{k}: saved {saved.get(k)!r}, preset {wanted.get(k)!r}" for k in differ) + ")"
        )
    model = load_model(folder, for_training=True)
    return tagger_state(model)


def load_warm_start_(model: MsmoMethod, state: Mapping[str, Any]) -> None:
    """Copy `warm_start_state` weights into a freshly built model (its critic stays new)."""
    own = model.state_dict()
    bad = sorted(k for k, v in state.items() if k not in own or tuple(own[k].shape) != tuple(v.shape))
    if bad:
        raise XsentError(f"msmo: warm-start weights do not fit this model: {bad[:5]}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=False)


def config_for_views(config: MsmoConfig, views: Sequence[str]) -> MsmoConfig:
    """The critic needs sentences of both domains; without them it is switched off."""
    both = bool(SOURCE_VIEWS & set(views)) and bool(TARGET_VIEWS & set(views))
    return config if both or not config.adversarial else replace(config, adversarial=False)


def train_msmo(
    config: MsmoConfig,
    train: TrainConfig,
    pairs: Sequence[ViewPair | Example],
    dev: Sequence[Example] = (),
    *,
    out_dir: str | os.PathLike[str] | None = None,
    callbacks: Sequence[Any] = (),
    cancel: threading.Event | None = None,
    progress: bool = True,
    resume: bool = False,
    metadata: Mapping[str, Any] | None = None,
    device: Any = "cpu",
    cache: FrozenStateCache | None = None,
    init_state: Mapping[str, Any] | None = None,
) -> tuple[MsmoMethod, Any]:
    """Build an MsmoMethod, train it with `fit`; keeps the best dev step when saving.

    `cache` shares frozen lower-layer states between models on the same encoder
    and `train_from_layer` (e.g. the teachers of one distillation run).
    `init_state` (`warm_start_state`): trained weights the model starts from.
    """
    from ...training import fit

    model = MsmoMethod.create(config, device=device)
    if init_state is not None:
        load_warm_start_(model, init_state)
    items = model.prepare(pairs, cache=cache)
    evaluate = None
    if dev:
        dev_items = model.encode_sentences(
            dev, labelled=False, max_length=model.encoder.info.max_length, cache=cache
        )
        evaluate = lambda: evaluate_cached(model, dev_items, dev)  # noqa: E731
    result = fit(
        model, items, train, evaluate=evaluate, out_dir=out_dir,
        callbacks=[*callbacks, ScheduleCallback(model)], cancel=cancel, progress=progress,
        resume=resume, model_metadata=dict(metadata or {}),
    )
    if out_dir is not None and result.status == "finished":
        load_best_(model, out_dir)
    return model, result


def unlabelled_by_lang(data: Mapping[str, Any], langs: Sequence[str], limit: int | None = None) -> dict[str, list[Example]]:
    """{lang: target-language text with labels removed} (gold-X-train: its tags are ignored)."""
    from ...recipes import load_data

    if "unlabelled" not in data:
        return {}
    out = {}
    for lang in langs:
        found = load_data(fill(data["unlabelled"], lang))
        out[lang] = [replace(ex, spans=None, label=None) for ex in (found[:limit] if limit is not None else found)]
    return out


def unlabelled_examples(
    data: Mapping[str, Any], langs: Sequence[str], limit: int | None, extra: str | None = None
) -> list[Example]:
    """Every language's unlabelled text in order, plus the rows of `extra` (labels removed)."""
    from ...recipes import load_data

    rows = [ex for found in unlabelled_by_lang(data, langs, limit).values() for ex in found]
    if extra:
        rows += [replace(ex, spans=None, label=None) for ex in load_data(extra)]
    return rows


def deviations(config: MsmoConfig, recipe: MsmoRecipe) -> tuple[str, ...]:
    """Where this model departs from the MSMO paper (the card lists them)."""
    out = [
        f"Encoder {config.encoder!r} adapted with {config.adapt}"
        + (f" (rank {config.lora_rank}, layers >= {config.lora_from_layer})" if config.adapt == "lora" else
           f" (layers >= {config.train_from_layer})")
        + "; the paper fine-tunes all of mBERT / XLM-R.",
        "beta is applied to a mean (not a sum) over words, so presets scale the paper's beta up (builtin: x1000).",
        f"Critic on mean-pooled top-layer features; lambda {config.adv_weight} reached through a "
        f"{'DANN ramp' if config.adv_ramp == 'dann' else 'constant schedule'}; Lipschitz constraint by "
        f"{'gradient penalty (WGAN-GP)' if config.critic_penalty == 'gp' else 'weight clipping'}"
        + ("; the encoder's term is hinged at 0 (no push while the critic's estimate is negative)." if config.adv_hinge else "."),
        "The paper's lambda weighs a cross-entropy summed over words; ours is a mean over words and sentences, "
        "so the same lambda weighs the critic far more here.",
        f"Schedule {config.schedule!r}" + (" (the paper's two stages)." if config.schedule == "two_stage" else
                                           " (critic and consistency in every step; the paper uses two stages)."),
    ]
    if recipe.critic_text:
        out.append("The critic's target side also reads gold-X-train sentences (labels unused).")
    if recipe.translations:
        out.append("Consistency pairs each English sentence with its translation only where the aspect terms "
                   "identify one sentence on both sides (the files are shuffled against each other).")
    if recipe.clean_projected:
        out.append("Leading articles are stripped off projected target spans (smt, cs_X-en).")
    if recipe.stage == "distill":
        out.append(f"Distillation loss {config.distill_loss}"
                   + (f" with temperature {config.distill_temperature}" if config.distill_loss == "kl" else "")
                   + f"; student initialised from {recipe.student_init}.")
    if recipe.stage == "distill" and recipe.student_heldout:
        out.append(f"{recipe.student_heldout.upper()} text is left out of the student's unlabelled data (the "
                   "unseen-language guard; the teachers still read its translated views).")
    if recipe.init_from:
        out.append(f"Every model of the run starts from the trained English tagger {recipe.init_from} "
                   "(its LoRA adapters and tag head), not from the bare encoder.")
    if len(recipe.langs) > 1:
        out.append("One model for all target languages (the paper's main rows are one model per language).")
    return tuple(out)


def _card(preset: Preset, recipe: MsmoRecipe, report: Mapping[str, Any], command: str, config: MsmoConfig) -> str:
    sections = [
        CardSection("Deviations from the paper", tuple(f"- {d}" for d in deviations(config, recipe))),
        CardSection("Recipe", (
            "```json", json.dumps({"recipe": report.get("recipe"), "train": report.get("train")}, indent=2), "```", "",
            "Aspect alignment between sentences and their code-switched counterparts "
            "(pairs kept for the consistency loss):",
            "```json", json.dumps(report.get("alignment"), indent=2), "```",
        )),
    ]
    if report.get("grad_ratio_by_epoch"):
        sections.append(CardSection("Loss terms at work", (
            "Each term's gradient norm at the encoder output over the tagging cross-entropy's, mean per epoch "
            "(measured every `grad_probe_every` steps):",
            "```json", json.dumps(report["grad_ratio_by_epoch"], indent=2), "```",
        )))
    if report.get("teachers"):
        sections.append(CardSection("Teachers", (
            "Dev F1 of each teacher: " + ", ".join(f"{t['views']}: {t['dev_f1']}" for t in report["teachers"]),
        )))
    sets = {name: m for name, m in {"dev": report.get("dev", {}), **report.get("test", {})}.items()
            if isinstance(m, Mapping) and "f1" in m}
    load = os.getloadavg()[1] if hasattr(os, "getloadavg") else None
    intro = (f"Times are wall clock; the 5-minute load average at the end was {load:.1f} (other jobs may have shared "
             "the cores).") if load else ""
    return model_card_text(
        preset, command, sections=sections, intro=intro, seconds=report.get("seconds", 0),
        tables=[MeasuredTable("Measured (span micro-F1 etc. as fractions; dev = gold-en-dev, best step)", sets,
                              ("precision", "recall", "f1"))],
    )


def run_preset(
    preset: Preset,
    out_dir: str | os.PathLike[str],
    options: RunOptions,
) -> dict[str, Any]:
    """Train an msmo preset into `out_dir`; returns the report (also in the model card)."""
    from ...config import config_from_dict, config_to_dict
    from ...distributed import dist_info
    from ...recipes import finish_run, load_data
    from .distill import as_student, distillation_items, student_from_teacher, teacher_probs, train_student

    started = time.time()
    model_kw, recipe_kw = split_settings({**preset.config, **(options.overrides or {})})
    config = config_from_dict(MsmoConfig, model_kw)
    recipe = config_from_dict(MsmoRecipe, recipe_kw)
    train = options.train_config(preset)
    if recipe.eval_every is not None:
        train = replace(train, eval_every=recipe.eval_every)
    if options.unlabelled and recipe.stage != "distill":
        raise XsentError("msmo: --unlabelled text is used by the distillation presets (msmo-distill-*) only")
    out = Path(out_dir)
    dev = load_data(preset.data["dev"]) if "dev" in preset.data else []
    needed = list(recipe.views)
    if recipe.stage == "distill":
        init_views = set(TRANSLATE_TRAIN_VIEWS) if recipe.student_init == "translate-train" else set()
        needed = sorted(set(needed) | init_views | {v for t in recipe.teachers for v in t.split("+")})
    views_by_lang = load_views(preset.data, recipe.langs, needed)
    command = options.rebuild_command(preset, out_dir)
    report: dict[str, Any] = {
        "preset": preset.name,
        "recipe": config_to_dict(recipe),
        "train": config_to_dict(train),
        "alignment": {},
        "test": {},
    }
    critic_text = unlabelled_by_lang(preset.data, recipe.langs) if recipe.critic_text and config.adversarial else None
    init_state = warm_start_state(recipe.init_from, config) if recipe.init_from else None
    pair_options = {
        "max_pairs": recipe.max_pairs, "seed": 0, "translations": recipe.translations,
        "clean_projected": recipe.clean_projected, "critic_text": critic_text,
    }
    if recipe.stage == "msmo":
        pairs, align = training_pairs(views_by_lang, recipe.views, **pair_options)
        report["alignment"] = align
        ratios = GradientRatioLog()
        model, result = train_msmo(
            config_for_views(config, recipe.views), train, pairs, dev, out_dir=out, callbacks=[*options.callbacks, ratios],
            cancel=options.cancel, progress=options.progress, resume=options.resume, device="cpu",
            metadata={"preset": preset.name, "command": command}, init_state=init_state,
        )
        report["grad_ratio_by_epoch"] = ratios.by_epoch()
        del model
    else:
        seeds = recipe.teacher_seeds or tuple(train.seed + k for k in range(len(recipe.teachers)))
        student_langs = [lang for lang in recipe.langs if lang != recipe.student_heldout]
        rows = unlabelled_examples(preset.data, student_langs, recipe.max_unlabelled, options.unlabelled)
        report["unlabelled_rows"] = len(rows)
        report["teachers"] = []
        per_teacher = []
        student = None
        items: list[Any] = []
        cache = FrozenStateCache()  # teachers on the same frozen layers encode each sentence once
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{out.name}.teachers-", dir=out.parent) as tmp:
            if recipe.student_init == "translate-train":
                pairs, _ = training_pairs(views_by_lang, TRANSLATE_TRAIN_VIEWS, **{**pair_options, "translations": False, "critic_text": None})
                base, result = train_msmo(
                    replace(config, adversarial=False, consistency=False), train, pairs, dev,
                    out_dir=Path(tmp) / "translate-train", callbacks=options.callbacks, cancel=options.cancel,
                    progress=options.progress, device="cpu", metadata={"preset": preset.name, "student_init": "translate-train"},
                    cache=cache, init_state=init_state,
                )
                if result.status != "finished":
                    return {**report, "status": result.status, "steps": result.steps}
                report["student_init"] = {"views": "+".join(TRANSLATE_TRAIN_VIEWS), "dev_f1": round(result.best_metric or 0.0, 4)}
                student = as_student(student_from_teacher(base))
                items = student.encode_sentences(rows, labelled=False, cache=cache)
                del base
            for k, spec in enumerate(recipe.teachers):
                views = spec.split("+")
                pairs, align = training_pairs(views_by_lang, views, **pair_options)
                report["alignment"][spec] = align
                ratios = GradientRatioLog()
                teacher, result = train_msmo(
                    config_for_views(config, views), replace(train, seed=seeds[k]), pairs, dev,
                    out_dir=Path(tmp) / f"teacher{k}", callbacks=[*options.callbacks, ratios], cancel=options.cancel, progress=options.progress,
                    device="cpu", metadata={"preset": preset.name, "teacher": spec}, cache=cache, init_state=init_state,
                )
                if result.status != "finished":
                    return {**report, "status": result.status, "steps": result.steps}
                report["teachers"].append(
                    {"views": spec, "seed": seeds[k], "steps": result.steps, "dev_f1": round(result.best_metric or 0.0, 4),
                     "grad_ratio_by_epoch": ratios.by_epoch()}
                )
                if student is None:  # the student shares teacher 0's encoder setup (and weights)
                    student = as_student(
                        student_from_teacher(teacher) if recipe.student_init == "teacher"
                        else MsmoMethod.create(replace(config, adversarial=False))
                    )
                    items = student.encode_sentences(rows, labelled=False, cache=cache)
                per_teacher.append(teacher_probs(teacher, student, rows, items))
                del teacher
        assert student is not None
        prepared = distillation_items(items, [False] * len(items), per_teacher, recipe.teacher_weights)
        dtrain = replace(
            train, epochs=0, max_steps=recipe.distill_steps or train.max_steps, lr=recipe.distill_lr or train.lr,
            head_lr=recipe.distill_lr or train.head_lr,  # the student's head is trained already (translate-train start)
        )
        result = train_student(
            student, prepared, dtrain, dev=dev, out_dir=out, callbacks=options.callbacks, cancel=options.cancel,
            progress=options.progress, metadata={"preset": preset.name, "command": command},
        )
        report["distill_train"] = config_to_dict(dtrain)
        del student
    report.update(status=result.status, steps=result.steps, dev=dict(result.metrics))
    if result.status != "finished" or not dist_info().is_main:
        return report  # under torchrun, rank 0 alone tests and writes the final model

    def summarise(rep: dict[str, Any]) -> None:
        f1s = [rep["test"][lang]["f1"] for lang in recipe.langs if lang in rep["test"]]
        if f1s:
            rep["test"]["average"] = {"f1": sum(f1s) / len(f1s)}
        rep["seconds"] = round(time.time() - started, 1)

    finish_run(
        "msmo", out, preset, report, command, half=options.half, evaluate_tests=options.evaluate_tests,
        wanted_test=lambda name: name in recipe.langs or name == "en", summarise=summarise,
        training=lambda rep: {"alignment": rep["alignment"], "teachers": rep.get("teachers"),
                              "grad_ratio_by_epoch": rep.get("grad_ratio_by_epoch")},
        card=lambda best, rep: _card(preset, recipe, rep, command, config),
    )
    return report
