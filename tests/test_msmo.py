"""MSMO end to end on tiny slices: alignment, training steps, critic, schedule,
save/load, explain, raw inputs, CLI eval, presets and the store distillation job."""
from __future__ import annotations

import copy
import json
import math
from dataclasses import replace

import pytest
import torch

from xsent_core.data import bies
from xsent_core.methods.base import TrainConfig
from xsent_core.methods.msmo import MsmoConfig, MsmoMethod, PRESETS, distill_from_examples
from xsent_core.methods.msmo.config import MsmoRecipe, split_settings
from xsent_core.methods.msmo.model import PairItem, ScheduleCallback, evaluate_cached
from xsent_core.methods.msmo.code_switched_pairs import ViewPair, align, alignment_key, build_pairs
from xsent_core.types import AspectSpan, Example, XsentError

ZAWGYI = "ပို႔တဲ့ပစၥည္းမွားေနတယ္၊Wi-Fi လႊင့္စက္မွာတာ Humidifier လာပို႔သြားတယ္၊"
TINY = MsmoConfig(encoder="builtin", train_from_layer=11, beta={"fr": 0.5}, critic_hidden=16)


def tagged(lines: str, name: str, tmp_path):
    from xsent_core.data import read_semeval

    path = tmp_path / name
    path.write_text(lines, encoding="utf-8")
    return read_semeval(str(path))


# -- alignment ----------------------------------------------------------------------
EN = "The\tO\tN\nfood\tT-POS\tN\nwas\tO\tN\ngood\tO\tN\n\nBad\tO\tN\nservice\tT-NEG\tN\n\nNice\tO\tN\nplace\tO\tN\n\n"
# English sentences with French terms, second and first swapped, one with a different polarity
CS = (
    "Bad\tO\tN\nservice\tT-POS\tN\n\n"  # polarity differs: no pair
    "The\tO\tN\nnourriture\tT-POS\tN\nexcellente\tT-POS\tN\nwas\tO\tN\ngood\tO\tN\n\n"
    "Nice\tO\tN\nplace\tO\tN\n\n"
)


def test_alignment_key_and_pairs(tmp_path):
    en = tagged(EN, "gold-en-train.txt", tmp_path)
    cs = tagged(CS, "cs_fr-en-train.txt", tmp_path)
    assert alignment_key(en[0]) == alignment_key(cs[1])
    aligned, counts = align(en, cs)
    assert aligned[0] == (0, 1, ((1, 2, 1, 3),))  # "food" <-> "nourriture excellente"
    assert aligned[1] == (1, None, ())  # polarity changed: dropped and counted
    assert aligned[2][1] == 2
    assert counts == {
        "sentences": 3, "partner_sentences": 3, "paired": 2, "unpaired": 1, "aspect_pairs": 1, "aspects_unpaired": 1,
    }
    items, report = build_pairs({"source": en, "cs_src": cs}, "fr")
    # 3 primary sentences + the partner left without counterpart
    assert len(items) == 4 and all(it.domain == 0 for it in items)
    assert report["source~cs_src"]["paired"] == 2


def test_real_files_align(shared_data):
    from xsent_core.methods.msmo.train import load_views, training_pairs

    views = load_views(PRESETS["msmo-builtin-fr"].data, ("fr",), ("source", "cs_src", "smt", "cs_tgt"))
    pairs, report = training_pairs(views, ("source", "cs_src", "smt", "cs_tgt"))
    counts = report["fr"]["alignment"]
    assert counts["source~cs_src"]["paired"] >= 1500
    assert counts["smt~cs_tgt"]["aspect_pairs"] >= 1200
    assert all(p.b is None or alignment_key(p.a) == alignment_key(p.b) for p in pairs)


# -- training -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def fr_pairs(shared_data):
    from xsent_core.methods.msmo.train import load_views, training_pairs

    views = load_views(PRESETS["msmo-tiny"].data, ("fr",), ("source", "cs_src", "smt", "cs_tgt"))
    pairs, _ = training_pairs(views, ("source", "cs_src", "smt", "cs_tgt"), max_pairs=8)
    return pairs


def make(encoder, config=TINY):
    return MsmoMethod(config, copy.deepcopy(encoder))


def test_batches_mix_domains_and_align_spans(builtin_encoder, fr_pairs):
    import random

    model = make(builtin_encoder)
    items = model.prepare(fr_pairs)
    assert len(items) == 16 and all(isinstance(it, PairItem) for it in items)
    batch = next(model.batches(items, 16, False, random.Random(0)))
    assert batch["lower"].shape[0] == 16  # 8 pairs = 16 sentences
    assert set(batch["domain"].tolist()) == {0, 1}
    # every aligned pair joins two rows of the same domain, spans inside the words
    for ra, sa, ea, rb, sb, eb in batch["pairs"].tolist():
        assert batch["domain"][ra] == batch["domain"][rb]
        assert 0 <= sa < ea <= int(batch["word_mask"][ra].sum()) and 0 <= sb < eb <= int(batch["word_mask"][rb].sum())
        # both spans carry the same gold polarity
        pol = lambda r, s: bies.TAGS[int(batch["tags"][r, s])][2:]  # noqa: E731
        assert pol(ra, sa) == pol(rb, sb)


def test_forward_losses_and_critic_steps(builtin_encoder, fr_pairs):
    import random

    model = make(builtin_encoder, replace(TINY, schedule="joint"))
    items = model.prepare(fr_pairs)
    batch = next(model.batches(items, 16, False, random.Random(0)))
    out = model.forward_loss(batch)
    assert {"loss", "tagging", "wasserstein", "consistency"} <= set(out)
    assert out["consistency"] > 0
    out["loss"].backward()
    assert all(p.grad is None for p in model.critic.parameters())  # the critic is held fixed here
    logged = model.before_optimizer_step(batch, 1)
    assert "critic_wasserstein" in logged
    c = model.config.critic_clip
    assert all(float(p.detach().abs().max()) <= c + 1e-9 for p in model.critic.parameters())
    names = {n for g in model.param_groups(TrainConfig()) for n in [g["name"]]}
    critic_ids = {id(p) for p in model.critic.parameters()}
    assert names == {"encoder", "head"}
    assert not critic_ids & {id(p) for g in model.param_groups(TrainConfig()) for p in g["params"]}


def test_two_stage_schedule(builtin_encoder):
    model = make(builtin_encoder)
    ScheduleCallback(model)("start", None, {"total_steps": 10})
    model.before_optimizer_step(None, 2)
    assert model.adversarial_active() and not model.consistency_active()
    model.before_optimizer_step(None, 7)
    assert model.consistency_active() and not model.adversarial_active()
    joint = make(builtin_encoder, replace(TINY, schedule="joint"))
    joint.total_steps = 10
    joint.before_optimizer_step(None, 7)
    assert joint.adversarial_active() and joint.consistency_active()


@pytest.fixture(scope="module")
def tiny_msmo_dir(tmp_path_factory, shared_data):
    from xsent_core.recipes import run_preset

    out = tmp_path_factory.mktemp("models") / "msmo-tiny"
    report = run_preset("msmo", "msmo-tiny", out, progress=False, evaluate_tests=False)
    assert report["status"] == "finished" and report["steps"] == 4
    assert report["alignment"]["fr"]["alignment"]["source~cs_src"]["paired"] > 0
    return out


def test_train_save_load_identical(tiny_msmo_dir, shared_data):
    from xsent_core.recipes import load_data
    from xsent_core.registry import load_model, save_model

    model = load_model(tiny_msmo_dir, expected_method="msmo")
    assert (tiny_msmo_dir / "README.md").read_text().startswith("# msmo model")
    rows = load_data("semeval:{data}/semeval16_restaurants/gold-fr-test.txt#12")
    rows.append(Example(id="raw", text="Le steak était excellent, mais le service lent.", lang="fr"))
    first = model.predict(rows)
    again = load_model(tiny_msmo_dir, expected_method="msmo")
    assert [p.to_dict() for p in again.predict(rows)] == [p.to_dict() for p in first]
    probs_a = [p for _, p, _ in model.tag_probs(rows)]
    probs_b = [p for _, p, _ in again.tag_probs(rows)]
    assert all(torch.equal(a, b) for a, b in zip(probs_a, probs_b))
    # fp16 copy: reloads, same shapes, near-identical probabilities
    half = save_model(model, tiny_msmo_dir.parent / "msmo-half", half=True)
    small = load_model(half)
    assert all(torch.allclose(a, b, atol=2e-2) for a, b in zip(probs_a, [p for _, p, _ in small.tag_probs(rows)]))
    # the cached evaluation agrees with the full one
    items = model.encode_sentences(rows[:12], labelled=False, max_length=model.encoder.info.max_length)
    assert evaluate_cached(model, items, rows[:12])["f1"] == pytest.approx(model.evaluate(rows[:12])["f1"], abs=0.05)


def test_trained_state_has_top_layers_head_and_critic(tiny_msmo_dir):
    from safetensors.torch import load_file

    keys = set(load_file(str(tiny_msmo_dir / "model.safetensors")))
    assert any(k.startswith("head.") for k in keys) and any(k.startswith("critic.") for k in keys)
    assert all(".layer.11." in k for k in keys if k.startswith("encoder."))


def test_explain_offsets_and_probabilities(tiny_msmo_dir):
    from xsent_core.registry import load_model

    model = load_model(tiny_msmo_dir)
    text = "  The pizza was great but the waiter was rude. "
    out = model.explain(Example(id="x", text=text, lang="en"))
    json.dumps(out)  # JSON-ready
    probs = torch.tensor(out["tag_probs"])
    assert probs.shape == (len(out["tokens"]), 13) and out["tags"] == list(bies.TAGS)
    assert torch.allclose(probs.sum(-1), torch.ones(len(out["tokens"])), atol=1e-4)
    for token, (s, e) in zip(out["tokens"], out["token_spans"]):
        assert text[s:e] == token
    for span in out["spans"]:
        assert text[span["start"] : span["end"]] == span["text"]
        assert sum(span["polarity_distribution"].values()) == pytest.approx(1.0, abs=1e-4)
    assert "B opens a span" in out["decoding_rule"]


def test_bad_inputs_do_not_crash(tiny_msmo_dir):
    from xsent_core.registry import load_model

    model = load_model(tiny_msmo_dir)
    rows = [
        Example(id="empty", text=""),
        Example(id="blank", text="   \n\t"),
        Example(id="zawgyi", text=ZAWGYI, lang="my"),
        Example(id="long", text="la soupe était froide " * 25_000),
    ]
    preds = model.predict(rows)
    assert preds[0].spans == () and preds[1].spans == ()
    assert any("Zawgyi" in w or "zawgyi" in w for w in preds[2].warnings)
    for row, pred in zip(rows, preds):
        for s in pred.spans or ():
            assert row.text[s.start : s.end] == s.text
    assert preds[3].warnings  # truncated, said so
    assert model.explain(rows[0])["spans"] == []


def test_cli_eval_any_semeval_file(tiny_msmo_dir, tmp_path, capsys, shared_data):
    from xsent_core.cli import main

    lines = (shared_data / "semeval16_restaurants" / "gold-nl-test.txt").read_text(encoding="utf-8").split("\n\n")[:10]
    path = tmp_path / "mine.txt"
    path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    code = main(["eval", "--method", "msmo", "--model", str(tiny_msmo_dir), "--data", f"semeval:{path}"])
    out = capsys.readouterr()
    assert code == 0, out.err
    metrics = json.loads(out.out)
    assert metrics["rows"] == 10 and 0.0 <= metrics["f1"] <= 1.0


# -- distillation -------------------------------------------------------------------
def test_distillation_job_from_sqlite_store(tiny_msmo_dir, tmp_path):
    from db.store import Store

    from xsent_core.registry import load_model

    store = Store.open(tmp_path / "xsent.sqlite")
    texts = [
        "Le steak était excellent.",
        "Service très lent et serveur désagréable.",
        "La terrasse est agréable en été.",
        "Pizza froide, prix trop élevé.",
        "Nous reviendrons pour les desserts.",
    ]
    ids = store.add_documents([Example(id=f"d{i}", text=t, lang="fr") for i, t in enumerate(texts)], source="test")
    store.save_annotation(ids[0], "ann", None, [AspectSpan(3, 8, "steak", "positive")], None)
    store.save_annotation(ids[1], "ann", None, [AspectSpan(0, 7, "Service", "negative")], None)
    rows = store.corrected_examples(only_annotated=False)
    store.close()
    assert len(rows) == 5
    teacher = load_model(tiny_msmo_dir)
    before = {k: v.clone() for k, v in teacher.trained_state_dict().items()}
    train = TrainConfig(epochs=0, max_steps=2, batch_size=4, seed=1)
    out_dir = tmp_path / "student"
    result = distill_from_examples([teacher, teacher], rows, weights=[0.7, 0.3], train=train, out_dir=out_dir)
    assert result.counts == {"hard": 2, "soft": 3, "skipped": 0}
    assert result.train.status == "finished" and result.train.steps == 2
    # the teacher is untouched; the student has no critic and reloads
    assert all(torch.equal(v, teacher.trained_state_dict()[k]) for k, v in before.items())
    student = load_model(out_dir, expected_method="msmo")
    assert student.critic is None and not student.config.adversarial
    assert [p.to_dict() for p in student.predict(rows)] == [p.to_dict() for p in result.student.predict(rows)]


def test_distillation_targets_hard_and_soft(tiny_msmo_dir):
    from xsent_core.methods.msmo.distill import distillation_items, teacher_probs
    from xsent_core.registry import load_model

    teacher = load_model(tiny_msmo_dir)
    rows = [
        Example(id="a", text="Le steak était excellent.", spans=(AspectSpan(3, 8, "steak", "positive"),)),
        Example(id="b", text="Service lent."),
    ]
    items = teacher.encode_sentences(rows, labelled=[True, False])
    soft = teacher_probs(teacher, teacher, rows, items)
    prepared = distillation_items(items, [True, False], [soft])
    hard = prepared[0].targets
    words = list(teacher.tag_probs(rows[:1])[0][0].words)  # "Le steak était excellent ." as words
    assert hard.shape == (len(words), 13) and hard.sum() == len(words)
    assert hard[words.index("steak"), bies.TAG2ID["S-POS"]] == 1.0 and hard[0, bies.TAG2ID["O"]] == 1.0
    n = prepared[1].targets.shape[0]
    assert torch.allclose(prepared[1].targets, soft[1]) and torch.allclose(soft[1].sum(-1), torch.ones(n), atol=1e-5)


@pytest.mark.slow
def test_distill_preset_end_to_end(tmp_path, shared_data):
    from xsent_core.recipes import run_preset
    from xsent_core.registry import load_model

    out = tmp_path / "student"
    report = run_preset("msmo", "msmo-distill-tiny", out, progress=False, evaluate_tests=False, half=True)
    assert report["status"] == "finished" and len(report["teachers"]) == 2
    assert load_model(out).critic is None


# -- configuration ------------------------------------------------------------------
def test_presets_parse_and_are_sized():
    from xsent_core.config import config_from_dict

    for name, preset in PRESETS.items():
        model_kw, recipe_kw = split_settings(preset.config)
        config = config_from_dict(MsmoConfig, model_kw)
        recipe = config_from_dict(MsmoRecipe, recipe_kw)
        assert preset.method == "msmo" and preset.name == name
        if "-builtin-" in name:
            # fixed step budgets, LoRA above the cached layers (benchmarks/msmo.py measured the recipe)
            assert config.encoder == "builtin" and config.train_from_layer >= 6
            assert preset.train.max_steps <= 800
        if name.startswith("msmo-paper-"):
            assert config.train_from_layer == 0 and set(recipe.langs) == {"fr", "es", "nl", "ru"}
    # the shipped student's preset starts from the shipped tagger, which must fit it, and holds RU out
    from xsent_core.methods.msmo.train import deviations, warm_start_state

    multi = PRESETS["msmo-distill-builtin-multi"]
    model_kw, recipe_kw = split_settings(multi.config)
    config, recipe = config_from_dict(MsmoConfig, model_kw), config_from_dict(MsmoRecipe, recipe_kw)
    assert warm_start_state(recipe.init_from, config)  # the shipped tagger is adapted as the preset says
    assert recipe.student_heldout == "ru"
    assert any("RU text is left out of the student's unlabelled data" in d for d in deviations(config, recipe))
    assert PRESETS["msmo-paper-mbert"].config["beta"]["fr"] == 4.5e-4
    assert PRESETS["msmo-paper-xlmr"].config["beta"]["ru"] == 3.5e-3
    assert PRESETS["msmo-paper-xlmr"].train.lr == 2e-5 and PRESETS["msmo-paper-xlmr"].train.batch_size == 8


def test_unknown_settings_refused():
    with pytest.raises(XsentError, match="unknown settings"):
        split_settings({"critic_stepz": 3})
    with pytest.raises(XsentError):
        MsmoConfig(schedule="sometimes")
    with pytest.raises(XsentError):
        MsmoRecipe(teachers=("source+bogus",))


def test_view_pair_from_plain_examples(builtin_encoder):
    model = make(builtin_encoder)
    rows = [
        Example(id="e", text="good food", lang="en", tokens=("good", "food"), token_offsets=((0, 4), (5, 9)),
                spans=(AspectSpan(5, 9, "food", "positive"),)),
        Example(id="f", text="bonne cuisine", lang="fr", tokens=("bonne", "cuisine"), token_offsets=((0, 5), (6, 13))),
    ]
    items = model.prepare(rows)
    assert [it.domain for it in items] == [0, 1] and items[0].a.tags.tolist() == [0, bies.TAG2ID["S-POS"]]
    assert isinstance(ViewPair(rows[0], None, 0, "en"), ViewPair)


# -- issue 13: translation pairs, cleaned projections, the critic's target text ---------------
def _t(tokens: str) -> str:
    """'The food+POS was good' -> SemEval lines (a '+POL' suffix marks an aspect word)."""
    lines = []
    for tok in tokens.split():
        word, _, pol = tok.partition("+")
        lines.append(f"{word}\t{'T-' + pol if pol else 'O'}\tN")
    return "\n".join(lines) + "\n\n"


def test_translation_pairs_only_where_the_key_is_unique(tmp_path):
    from xsent_core.methods.msmo.code_switched_pairs import translation_pairs

    src = tagged(_t("Great food+POS here") + _t("The food+POS was fine") + _t("Slow service+NEG today"), "en.txt", tmp_path)
    cs_src = tagged(
        _t("Great nourriture+POS here") + _t("The nourriture+POS was fine") + _t("Slow le+NEG service+NEG today"),
        "cs_src.txt", tmp_path,
    )
    smt = tagged(_t("Service+NEG lent aujourd'hui") + _t("Bonne nourriture+POS ici"), "smt.txt", tmp_path)
    cs_tgt = tagged(_t("service+NEG lent aujourd'hui") + _t("Bonne food+POS ici"), "cs_tgt.txt", tmp_path)
    found, counts = translation_pairs(src, cs_src, smt, cs_tgt)
    # "service" / "le service" is unique on both sides; "food" / "nourriture" is held by two
    # English sentences, so it is left out rather than guessed
    assert found == []  # cs_src projects "le service" but smt has "service": keys differ
    cs_src2 = tagged(
        _t("Great nourriture+POS here") + _t("The nourriture+POS was fine") + _t("Slow service+NEG today"),
        "cs_src2.txt", tmp_path,
    )
    found, counts = translation_pairs(src, cs_src2, smt, cs_tgt)
    assert found == [(2, 0, ((1, 2, 0, 1),))]
    assert counts == {"translated_sentences_with_aspects": 2, "paired": 1, "keys_left_ambiguous": 1, "aspect_pairs": 1}


def test_real_translation_pairs_and_cleaned_projections(shared_data):
    from xsent_core.methods.msmo.train import load_views, training_pairs

    views = load_views(PRESETS["msmo-builtin-fr"].data, ("fr",), ("source", "cs_src", "smt", "cs_tgt"))
    pairs, report = training_pairs(views, ("source", "cs_src", "smt", "cs_tgt"), translations=True, clean_projected=True)
    counts = report["fr"]["alignment"]["source~smt"]
    assert counts["paired"] >= 400 and counts["aspect_pairs"] >= 600
    crossing = [p for p in pairs if p.domain_b == 1]
    assert len(crossing) == counts["paired"]
    for p in crossing:  # same number of aspects, same polarities, word spans inside the sentences
        assert [s.polarity for s in p.a.spans] == [s.polarity for s in p.b.spans]
        assert len(p.word_pairs) == len(p.a.spans)
    stats = report["fr"]["projected_spans"]["smt"]
    assert stats["raw"]["article_share"] > 0.03 and stats["cleaned"]["article_share"] == 0.0
    smt_spans = [s.text.split()[0].lower() for p in pairs if p.domain == 1 and p.a.spans for s in p.a.spans]
    assert not {"la", "le", "les", "l'"} & set(w for w in smt_spans if len(smt_spans) > 0 and w)
    # the code-switched pairs still align after cleaning (alignment runs on the raw spans)
    assert report["fr"]["alignment"]["smt~cs_tgt"]["paired"] >= 1500


def test_critic_reads_target_text_and_probes_gradients(builtin_encoder, fr_pairs):
    import random

    text = [Example(f"t{i}", s, lang="fr") for i, s in enumerate(["Le vin était bon .", "Service lent ."])]
    extra = [ViewPair(ex, None, 1, "fr") for ex in text]
    config = replace(TINY, schedule="joint", critic_penalty="gp", grad_probe_every=1, critic_lr=1e-3)
    model = make(builtin_encoder, config)
    items = model.prepare([*fr_pairs, *extra])
    text_items = [it for it in items if it.kind == (1, -1)]
    assert len(text_items) == 2 and all(it.a.tags is None for it in text_items)
    batch = next(model.batches(items, 16, False, random.Random(0)))
    untagged = (batch["tags"] == -100).all(1)
    assert bool((batch["domain"][untagged] == 1).all()) and int(untagged.sum()) >= 1
    model.train()
    out = model.forward_loss(batch)
    assert {"adversarial_grad_ratio", "consistency_grad_ratio", "wasserstein"} <= set(out)
    assert float(out["adversarial_grad_ratio"]) > 0
    before = [p.detach().clone() for p in model.critic.parameters()]
    model.before_optimizer_step(batch, 0)
    moved = max(float((p.detach() - q).abs().max()) for p, q in zip(model.critic.parameters(), before))
    assert moved > 0  # the critic trained under the gradient penalty (no clipping to 0.01)
    assert max(float(p.detach().abs().max()) for p in model.critic.parameters()) > config.critic_clip


def test_dann_ramp_starts_the_critic_at_zero(builtin_encoder):
    model = make(builtin_encoder, replace(TINY, schedule="joint"))
    model.total_steps = 100
    model._step = 0
    assert model.adversarial_lambda() == 0.0
    model._step = 100
    assert model.adversarial_lambda() == pytest.approx(TINY.adv_weight * math.tanh(5.0))  # 2/(1+e^-10)-1
    flat = make(builtin_encoder, replace(TINY, adv_ramp="none"))
    flat.total_steps, flat._step = 100, 0
    assert flat.adversarial_lambda() == TINY.adv_weight


@pytest.mark.parametrize("bad", [{"adv_ramp": "linear"}, {"critic_penalty": "spectral"}, {"distill_loss": "l1"},
                                 {"distill_temperature": 0}])
def test_bad_critic_and_distill_settings_refused(bad):
    with pytest.raises(XsentError):
        replace(TINY, **bad)


def test_unknown_student_init_refused():
    with pytest.raises(XsentError, match="student_init"):
        MsmoRecipe(student_init="random")


def test_warm_start_from_a_saved_model(tiny_msmo_dir, tmp_path):
    """init_from: every model of a run starts from a saved tagger/msmo model's trained weights
    (not its critic); a model adapted differently is refused with the settings that differ."""
    from xsent_core.config import config_from_dict
    from xsent_core.methods.msmo.config import split_settings
    from xsent_core.methods.msmo.train import load_warm_start_, warm_start_state
    from xsent_core.recipes import run_preset
    from xsent_core.registry import load_model

    config = config_from_dict(MsmoConfig, split_settings(PRESETS["msmo-tiny"].config)[0])
    state = warm_start_state(tiny_msmo_dir, config)
    assert any(k.startswith("head.") for k in state) and not any(k.startswith("critic.") for k in state)
    fresh = MsmoMethod.create(config)
    assert not torch.equal(fresh.state_dict()["head.weight"], state["head.weight"])
    load_warm_start_(fresh, state)
    saved = load_model(tiny_msmo_dir, expected_method="msmo", for_training=True)
    assert torch.equal(fresh.state_dict()["head.weight"], saved.state_dict()["head.weight"])
    with pytest.raises(XsentError, match="adapted differently.*train_from_layer: saved 11, preset 10"):
        warm_start_state(tiny_msmo_dir, replace(config, train_from_layer=10))
    with pytest.raises(XsentError, match="does not exist|not a model|no model"):
        warm_start_state(tmp_path / "nothing", config)
    out = tmp_path / "warm"
    report = run_preset("msmo", "msmo-tiny", out, progress=False, evaluate_tests=False,
                        overrides={"init_from": str(tiny_msmo_dir)})
    assert report["status"] == "finished"
    assert f"starts from the trained English tagger {tiny_msmo_dir}" in (out / "README.md").read_text()


def test_span_report_from_probs_scores_an_ensemble_mean_by_hand() -> None:
    """Two members disagree on the polarity of "soup"; their mean decodes to the surer one."""
    from xsent_core.methods.msmo.model import span_report_from_probs

    text = "the soup was cold"
    gold = Example(id="g", text=text, lang="en", spans=(AspectSpan(start=4, end=8, text="soup", polarity="negative"),))

    def member(tag: str, sure: float) -> torch.Tensor:
        """Every word O, except "soup": `tag` with probability `sure`, O with the rest."""
        rows = torch.zeros((4, len(bies.TAGS)))
        rows[:, bies.TAG2ID["O"]] = 1.0
        rows[1, bies.TAG2ID[tag]] = sure
        rows[1, bies.TAG2ID["O"]] = 1.0 - sure
        return rows

    right, wrong = member("S-NEG", 0.9), member("S-POS", 0.6)
    assert span_report_from_probs([gold], [right])["f1"] == pytest.approx(1.0)
    assert span_report_from_probs([gold], [wrong])["f1"] == pytest.approx(0.0)
    # mean: S-NEG 0.45, S-POS 0.30, O 0.25 -> the negative span, F1 1
    mean = torch.stack([right, wrong]).mean(0)
    assert span_report_from_probs([gold], [mean])["f1"] == pytest.approx(1.0)
    # a sentence with no words scores nothing and breaks nothing
    assert span_report_from_probs([Example(id="e", text="", lang="en")], [torch.zeros((0, len(bies.TAGS)))])["f1"] == 0.0
