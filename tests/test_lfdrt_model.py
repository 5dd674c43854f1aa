"""LFD-RT end to end on tiny slices: training steps, predict/explain, save/load,
rethinking (happy path, refusals, cancellation, checkpoints), images."""
from __future__ import annotations

import threading

import pytest
import torch

from xsent_core.methods.base import TrainConfig
from xsent_core.methods.common import FrozenStateCache
from xsent_core.methods.lfdrt import LfdrtConfig, LfdrtMethod, load_parallel, rethink
from xsent_core.methods.lfdrt.model import rethink_state
from xsent_core.types import SENTIMENT_LABELS, CheckpointError, Example, XsentError

TINY = dict(train_from_layer=11, disentangler_rank=8, mlm_negatives=256, head_hidden=32, rethink_epochs=1, rethink_lr=1e-3)
BURMESE = "ဒီဆိုင်က အစားအစာ အရမ်းကောင်းတယ်"


@pytest.fixture(scope="module")
def encoder():
    # a private copy: training changes the top layer, which the session encoder must not see
    from xsent_core.encoders.registry import load_text_encoder

    return load_text_encoder("builtin")


@pytest.fixture(scope="module")
def data(shared_data):
    from xsent_core.recipes import load_data

    sem = "semeval:{data}/semeval16_restaurants/"
    labelled = [e for e in load_data(sem + "gold-en-train.txt#60") if e.label][:24]
    pairs, reports = load_parallel(
        {"fr": [sem + "gold-en-train.txt#40", sem + "smt-fr-train.txt#40"]}, LfdrtConfig(max_pairs_per_lang=12)
    )
    french = [Example(f"fr{i}", e.text, "fr") for i, e in enumerate(load_data(sem + "gold-fr-train.txt#12"))]
    return {"labelled": labelled, "pairs": pairs, "reports": reports, "french": french}


@pytest.fixture(scope="module")
def model(encoder, data):
    from xsent_core.training import fit

    m = LfdrtMethod(LfdrtConfig(**TINY), encoder)
    # frozen lower-layer states are shared by every test of this module (they only read them)
    m.lower_cache = FrozenStateCache()
    items = m.prepare_pretraining(data["labelled"], data["pairs"])
    fit(m, items, TrainConfig(epochs=1, max_steps=2, batch_size=12), progress=False)
    m.items = items
    return m


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- training -----------------------------------------------------------------------
def test_prepare_and_losses(model, data):
    items = model.items
    assert items.facts["labelled_rows"] == 24 and items.facts["pairs"] == 12
    assert items.facts["active_families"] == ["indo_european"]
    assert data["reports"][0]["used"] == 12
    batch = next(iter(model.batches(items, 8, True, __import__("random").Random(0))))
    model.train()
    out = model.forward_loss(batch)
    model.eval()
    for key in ("loss", "ce1", "ce2", "mask2", "cla", "mask1", "kl"):
        assert torch.isfinite(out[key]), key
    assert float(out["cla"]) > 0 and float(out["mask1"]) > 0 and float(out["kl"]) == 0.0  # one family only
    out["loss"].backward()
    assert model.disentanglers.up.grad is not None and model.disentanglers.up.grad[0].abs().sum() > 0
    model.zero_grad(set_to_none=True)


def test_kl_between_families(model, data):
    """With translations from two families, each pushes the other's disentangler to uniform."""
    from dataclasses import replace

    pairs = data["pairs"][:3] + [(a, replace(b, lang="ta")) for a, b in data["pairs"][3:6]]
    items = model.prepare_pretraining(data["labelled"][:4], pairs)
    assert items.facts["active_families"] == ["dravidian", "indo_european"]
    batch = next(iter(model.batches(items, 8, False, __import__("random").Random(0))))
    out = model.forward_loss(batch)
    assert float(out["kl"]) > 0
    out["loss"].backward()
    dravidian = model.table.families.index("dravidian")
    assert model.disentanglers.up.grad[dravidian].abs().sum() > 0
    model.zero_grad(set_to_none=True)


def test_ablation_has_no_disentanglers(encoder, data, model):
    m = LfdrtMethod(LfdrtConfig(**{**TINY, "use_disentanglers": False}), encoder)
    m.lower_cache = model.lower_cache
    assert m.disentanglers is None
    assert not any(k.startswith("disentanglers.") for k in m.trained_state_dict())
    items = m.prepare_pretraining(data["labelled"][:4], data["pairs"][:4])
    out = m.forward_loss(next(iter(m.batches(items, 4, False, __import__("random").Random(0)))))
    assert float(out["mask1"]) == 0.0 and float(out["kl"]) == 0.0 and float(out["cla"]) > 0


# -- inference ------------------------------------------------------------------------
def test_predict_extras_and_decision(model):
    rows = [Example("a", "The pasta was wonderful .", "en"), Example("b", "Le service était lent .", "fr"),
            Example("c", BURMESE)]
    preds = model.predict(rows)
    for p in preds:
        assert p.label in SENTIMENT_LABELS
        assert isinstance(p.extras["heads_agree"], bool)
        h1, h2 = p.extras["head1_probs"], p.extras["head2_probs"]
        assert abs(sum(h1.values()) - 1) < 1e-5 and abs(sum(h2.values()) - 1) < 1e-5
        assert p.label == max(p.probs, key=p.probs.get)
        if p.extras["heads_agree"]:
            assert all(abs(p.probs[k] - (h1[k] + h2[k]) / 2) < 1e-6 for k in h1)
    assert [p.extras["family_source"] for p in preds] == ["anchor", "lang", "script"]
    assert preds[2].extras["family"] == "sino_tibetan"


def test_bad_inputs_warn_not_crash(model):
    zawgyi = "ဒီဆိုင္က အရမ္းေကာင္းတယ္"
    rows = [Example("e", ""), Example("l", "very long text " * 7000, "en"), Example("u", "hola", "xx"),
            Example("z", zawgyi, "my"), Example("i", "nice", "en", image="/nonexistent.png")]
    preds = model.predict(rows)
    assert len(preds) == 5 and all(p.label in SENTIMENT_LABELS for p in preds)
    assert any("empty" in w for w in preds[0].warnings)
    assert any("sub-tokens" in w for w in preds[1].warnings)
    assert any("not in the LFD-RT family table" in w for w in preds[2].warnings)
    assert any("without images" in w for w in preds[4].warnings)
    assert model.predict([]) == []


def test_explain(model):
    text = "  Le  service était LENT !"
    out = model.explain(Example("x", text, "fr"))
    assert set(out) >= {"label", "probs", "heads", "heads_agree", "routing", "family", "attention", "decided_by"}
    assert set(out["heads"]) == {"head_1", "head_2"}
    assert abs(sum(out["routing"].values()) - 1.0) < 1e-9 and out["routing"]["indo_european"] == 1.0
    att = out["attention"]
    assert len(att["tokens"]) == len(att["offsets"]) == len(att["weights"]) > 0
    assert abs(sum(att["weights"]) + att["other_weight"] - 1.0) < 1e-4
    for (s, e), piece in zip(att["offsets"], att["tokens"]):
        assert 0 <= s < e <= len(text) and text[s:e].strip()
    assert text[att["offsets"][0][0] : att["offsets"][0][1]] == "Le"
    en = model.explain(Example("y", "Great food", "en"))
    assert en["routing"]["shared"] == 1.0 and en["family"]["route"] == "anchor"
    assert not list(file_lookalikes(out)), "API clients would try to download these as files"


def file_lookalikes(value):
    """Dicts that gradio_client takes for file references ({"path": str, ...})."""
    if isinstance(value, dict):
        if isinstance(value.get("path"), str):
            yield value
        for v in value.values():
            yield from file_lookalikes(v)
    elif isinstance(value, list):
        for v in value:
            yield from file_lookalikes(v)


def test_agreement_api(model, data):
    rows = data["french"]
    agree = model.head_agreement(rows)
    assert len(agree) == len(rows)
    assert model.disagreement_rate(rows) == pytest.approx(sum(not a for a in agree) / len(rows))
    order = model.annotation_order(rows)
    assert sorted(order) == list(range(len(rows)))
    first_agreeing = next((i for i, k in enumerate(order) if agree[k]), len(order))
    assert all(agree[k] for k in order[first_agreeing:])
    assert model.disagreement_rate([]) == 0.0


def test_save_load_round_trip(model, tmp_path):
    from xsent_core.registry import load_model, save_model

    rows = [Example("a", "Terrible service .", "en"), Example("b", BURMESE, "my")]
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m", expected_method="lfdrt")
    loaded.lower_cache = model.lower_cache  # same cached inputs, so predictions must be identical
    assert loaded.config == model.config and loaded.config.families == model.table.families
    for p, q in zip(model.predict(rows), loaded.predict(rows)):
        assert p.label == q.label and all(abs(p.probs[k] - q.probs[k]) < 1e-6 for k in p.probs)
    assert "encoder.model.embeddings.word_embeddings.weight" not in model.trained_state_dict()
    save_model(model, tmp_path / "h", half=True)
    assert (tmp_path / "h" / "model.safetensors").stat().st_size < 10 * 2**20


def test_family_table_mismatch_is_refused(encoder):
    with pytest.raises(CheckpointError, match="language families"):
        LfdrtMethod(LfdrtConfig(**TINY, families=("indo_european", "uralic")), encoder)


# -- rethinking -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rows, message",
    [
        ([], "the set is empty"),
        ([Example("one", "Une seule phrase .", "fr")], "at least 2 rows"),
        ([Example("a", "x y", "fr"), Example("b", "   ", "fr")], "1 blank rows skipped"),
        ([Example("a", "hola que tal", "xx"), Example("b", "bien", "xx")], "'xx' (2 rows)"),
        ([Example("a", "ok", None), Example("b", "good", None)], "could not be told from their script or text"),
    ],
)
def test_rethink_refuses_and_leaves_model_unchanged(model, rows, message):
    before = rethink_state(model)
    with pytest.raises(XsentError, match="the model was not changed") as err:
        rethink(model, rows)
    assert message in str(err.value)
    assert _same(before, rethink_state(model))


def test_rethink_detects_the_language_of_rows_without_a_code(model):
    """Mixed store rows: Burmese by script, French/English/Spanish by the language identifier; only the
    undetectable need `lang`."""
    from xsent_core.methods.lfdrt.train import check_unlabelled

    rows = [
        Example("my", "ဒီဆိုင်က အစားအသောက် အရမ်းကောင်းတယ်", None),
        Example("fr", "Le poisson était frais mais le service était lent.", None),
        Example("en", "The fish was fresh but the service was painfully slow.", None),
        Example("es", "El pescado estaba fresco pero el servicio era lento.", None),
        Example("coded", "ok", "nl"),
    ]
    usable = check_unlabelled(model, rows)
    assert [(r.lang, r.source) for r in usable.routes] == [
        ("my", "script"), ("fr", "detected"), ("en", "detected"), ("es", "detected"), ("nl", "lang")]
    assert usable.skipped_undetected == () and usable.skipped_note() == ""
    short = [Example("a", "ok", None), Example("b", "Le service était très lent ce soir.", None)]
    with pytest.raises(XsentError, match="1 of 2 rows could not be told") as err:
        check_unlabelled(model, short)
    assert "'a'" in str(err.value) and "Train tab's language field" in str(err.value) and "lang=..." not in str(err.value)
    usable = check_unlabelled(model, short, lang="fr")  # `lang` covers only what was not detected
    assert [(r.lang, r.source) for r in usable.routes] == [("fr", "lang"), ("fr", "detected")]
    # enough rows whose language is told: the undetected one is left out and named, not a failure
    usable = check_unlabelled(model, [*rows[:3], Example("z", "ok", None)])
    assert [ex.id for ex in usable.rows] == ["my", "fr", "en"] and [ex.id for ex in usable.skipped_undetected] == ["z"]
    assert len(usable.routes) == 3 and "1 of 4 texts left out" in usable.skipped_note() and "'ok'" in usable.skipped_note()


def test_rethink_changes_only_the_heads(model, data, tmp_path):
    french = data["french"]
    others = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith(("head1.", "head2.", "mlm_rethink."))}
    before = rethink_state(model)
    events = []
    result = model.rethink(
        french, out_dir=tmp_path / "rt", epochs=2, batch_size=4,
        callbacks=[lambda event, state, payload: events.append(event)],
    )
    assert result.status == "finished" and result.rows == 12 and result.languages == {"fr": 12}
    assert result.steps == 6 and 0.0 <= result.agreement_after <= 1.0
    assert events.count("checkpoint") == 2 and "step" in events  # one checkpoint per epoch
    assert not _same(before, rethink_state(model))
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in others.items())  # encoder, disentanglers, fusion frozen
    from xsent_core.registry import load_model

    loaded = load_model(tmp_path / "rt", expected_method="lfdrt")
    assert _same(rethink_state(loaded), rethink_state(model))
    model.load_state_dict(before, strict=False)


def test_rethink_ignores_labels_and_uses_lang_argument(model, data):
    unlabelled = [Example(f"n{i}", e.text, None) for i, e in enumerate(data["french"][:6])]
    labelled = [Example(f"l{i}", e.text, None, label="negative") for i, e in enumerate(data["french"][:6])]
    before = rethink_state(model)
    a = rethink(model, unlabelled, lang="fr", epochs=1)
    after_a = rethink_state(model)
    model.load_state_dict(before, strict=False)
    b = rethink(model, labelled, lang="fr", epochs=1)
    assert a.languages == {"fr": 6} and _same(after_a, rethink_state(model))
    assert a.pseudo_labels_after == b.pseudo_labels_after
    model.load_state_dict(before, strict=False)


def test_rethink_cancel_restores_heads(model, data):
    before = rethink_state(model)
    cancel = threading.Event()
    cancel.set()
    result = rethink(model, data["french"], cancel=cancel)
    assert result.status == "cancelled" and "restored" in result.message
    assert _same(before, rethink_state(model))


# -- diverse heads, pair consistency, word-list pairs, adapting rethinking ------------------
DIVERSE = dict(TINY, head_inputs="fused+pooled", head_bootstrap=True, head_orthogonality=0.5, pair_consistency=1.0,
               routed_sentiment=1.0,
               rethink_train="top", rethink_keep=0.5, rethink_class_weights="balanced")


@pytest.fixture(scope="module")
def diverse(encoder, data):
    from xsent_core.training import fit

    words, reports = load_parallel({"my": ["words:{assets}/dictionaries/my-en.tsv"]}, LfdrtConfig())
    assert reports[0]["source"] == "word list" and reports[0]["used"] == len(words) > 100
    assert words[0][1].lang == "my" and words[0][0].lang is None  # (English anchor, Burmese word)
    m = LfdrtMethod(LfdrtConfig(**DIVERSE), encoder)
    m.lower_cache = FrozenStateCache()
    m.items = m.prepare_pretraining(data["labelled"], data["pairs"] + words[:12])
    # enough steps for the two heads to agree on some rows (rethinking needs agreement)
    fit(m, m.items, TrainConfig(epochs=4, batch_size=12, head_lr=3e-3), progress=False)
    return m


def test_diverse_heads_and_consistency_act(diverse):
    items = diverse.items
    assert items.facts["active_families"] == ["indo_european", "sino_tibetan"]
    # each head has its own bootstrap sample: n draws in all, the two samples differ
    batch = next(iter(diverse.batches(items, 24, False, __import__("random").Random(0))))
    assert len(items.labelled) == 24  # one batch holds every row
    boot1, boot2 = batch["lab"]["boot1"].tolist(), batch["lab"]["boot2"].tolist()
    assert sum(boot1) == sum(boot2) == len(items.labelled) and boot1 != boot2
    diverse.train()
    out = diverse.forward_loss(batch)
    diverse.eval()
    assert float(out["consistency"]) > 0 and float(out["kl"]) > 0  # two families: the KL term acts
    assert 0 < float(out["head_overlap"]) < 1
    parts, _ = diverse.pretrain_terms(batch)
    assert {"sa", "align", "lfd", "diversity", "consistency", "routed_sa"} <= set(parts)
    assert float(parts["routed_sa"].detach()) > 0  # English rows through the families' disentanglers, labelled
    out["loss"].backward()
    st = diverse.table.families.index("sino_tibetan")
    assert diverse.disentanglers.up.grad[st].abs().sum() > 0  # the Burmese family's disentangler trains
    assert diverse.head2.fc1.weight.grad.abs().sum() > 0
    diverse.zero_grad(set_to_none=True)
    # the penalty alone pushes the heads' first layers apart
    w1 = diverse.head1.fc1.weight.detach().clone().requires_grad_(True)
    from xsent_core.methods.lfdrt import losses as L

    L.head_overlap(w1, diverse.head2.fc1.weight.detach()).backward()
    assert w1.grad.abs().sum() > 0


def test_head_two_reads_pooled_tokens(diverse, data):
    """With head_inputs='fused+pooled' the heads see different vectors, so they can disagree."""
    rows = diverse._encode_rows(data["french"][:4])
    lower = diverse._lower(rows["ids"], dtype=torch.float32)
    from xsent_core.methods.common import pad_stack

    mask = pad_stack([torch.ones(len(i), dtype=torch.long) for i in rows["ids"]])
    feats = diverse._features(pad_stack(lower), mask, torch.zeros(4, dtype=torch.long))
    assert not torch.allclose(feats.x1, feats.x2)
    assert torch.equal(feats.x1, feats.z)


def test_rethink_top_adapts_the_encoder_and_fusion(diverse, data):
    before = {k: v.clone() for k, v in diverse.state_dict().items()}
    saved = rethink_state(diverse)
    assert any(k.startswith("encoder.") for k in saved) and any(k.startswith("attention.") for k in saved)
    assert not any(k.startswith(("mlm_lfd.", "mlm_fusion.")) for k in saved)
    result = rethink(diverse, data["french"], epochs=1, batch_size=4, lr=1e-3)
    assert result.status == "finished"
    used = sum(result.pseudo_labels_used.values())
    # keep 0.5 of each agreed class (rounded up): at most half the agreeing rows plus one per class
    agreed = sum(result.pseudo_labels_before.values())
    assert 0 < used <= agreed // 2 + 3, (result.agreement_before, result.pseudo_labels_before)
    after = diverse.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("encoder.") for k in changed) and any(k.startswith("attention.") for k in changed)
    assert not any(k.startswith(("mlm_lfd.", "mlm_fusion.")) for k in changed)
    diverse.load_state_dict(saved, strict=False)
    assert all(torch.equal(before[k], diverse.state_dict()[k]) for k in before)


def test_rethink_uniform_prior_decides_on_balanced_probabilities(diverse, data):
    """rethink_prior='uniform': the pseudo-labels are those of the class-balanced head probabilities."""
    from xsent_core.config import replace_config
    from xsent_core.imbalance import balance_prior
    from xsent_core.methods.lfdrt import losses as L

    rows = data["french"]
    prepared = diverse.prepare_rethinking(rows, [diverse.route(r.lang, r.text) for r in rows])
    p1, p2 = diverse.rethink_probs(prepared)
    expected = L.select_pseudo_labels(balance_prior(p1), balance_prior(p2), keep=0.5)
    plain = L.select_pseudo_labels(p1, p2, keep=0.5)
    assert not torch.equal(expected, plain)  # on this model the prior changes the decisions
    config, saved = diverse.config, rethink_state(diverse)
    counts = {lab: int((expected == i).sum()) for i, lab in enumerate(SENTIMENT_LABELS)}
    try:
        diverse.config = replace_config(config, rethink_prior="uniform", rethink_prior_min_rows=len(rows))
        result = rethink(diverse, rows, epochs=1, batch_size=4, lr=1e-4, prepared=prepared)
        assert result.pseudo_labels_used == counts and result.prior_note == ""
        # too few rows of the language to estimate its class frequencies: the model's prior, said so
        diverse.load_state_dict(saved, strict=False)
        diverse.config = replace_config(config, rethink_prior="uniform", rethink_prior_min_rows=len(rows) + 1)
        result = rethink(diverse, rows, epochs=1, batch_size=4, lr=1e-4, prepared=prepared)
        assert result.pseudo_labels_used == {lab: int((plain == i).sum()) for i, lab in enumerate(SENTIMENT_LABELS)}
        assert f"fr ({len(rows)} texts)" in result.prior_note and result.prior_note in result.message
    finally:
        diverse.config = config
        diverse.load_state_dict(saved, strict=False)


def test_balance_by_language_uses_each_language_rows():
    from xsent_core.imbalance import balance_prior
    from xsent_core.methods.lfdrt.train import balance_by_language

    p = torch.tensor([[0.9, 0.1], [0.5, 0.5], [0.6, 0.4], [0.2, 0.8], [0.7, 0.3]])
    q = p.flip(-1)
    langs = ["fr", "fr", "my", "my", "nl"]
    b1, b2, note = balance_by_language(p, q, langs, min_rows=2)
    assert torch.allclose(b1[:2], balance_prior(p[:2])) and torch.allclose(b1[2:4], balance_prior(p[2:4]))
    assert torch.allclose(b2[2:4], balance_prior(q[2:4]))
    assert torch.equal(b1[4], p[4]) and torch.equal(b2[4], q[4])  # one Dutch row: its own prior kept
    assert "nl (1 text)" in note and "fr" not in note


@pytest.mark.parametrize("bad", [{"head_inputs": "pooled"}, {"rethink_train": "all"}, {"rethink_keep": 0.0},
                                 {"rethink_prior": "target"}])
def test_bad_diversity_settings_are_refused(encoder, bad):
    with pytest.raises(CheckpointError, match=next(iter(bad))):
        LfdrtMethod(LfdrtConfig(**TINY, **bad), encoder)


# -- images ------------------------------------------------------------------------------
class FakeImageEncoder(torch.nn.Module):
    """Same interface as encoders.image (info, encode) with a tiny deterministic feature."""

    def __init__(self) -> None:
        super().__init__()
        from types import SimpleNamespace

        self.scale = torch.nn.Parameter(torch.ones(1), requires_grad=False)
        self.info = SimpleNamespace(spec="fake", feature_dim=6, grid_dim=6, grid_tokens=1, fingerprint="fake0001")

    def encode(self, images):
        from types import SimpleNamespace

        feats = torch.stack([torch.tensor([float(v) for v in im.resize((1, 1)).getpixel((0, 0))] * 2) / 255 for im in images])
        return SimpleNamespace(pooled=feats * self.scale, grid=feats.unsqueeze(1))


def test_images_as_queries_and_cross_modal_alignment(encoder, tmp_path):
    from PIL import Image

    paths = []
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255), (200, 200, 0)]):
        p = tmp_path / f"{i}.png"
        Image.new("RGB", (8, 8), colour).save(p)
        paths.append(str(p))
    rows = [Example(str(i), t, "en", label=lab, image=paths[i]) for i, (t, lab) in
            enumerate([("great", "positive"), ("awful", "negative"), ("fine", "neutral"), ("superb", "positive")])]
    m = LfdrtMethod(LfdrtConfig(**TINY, image_encoder="fake"), encoder, FakeImageEncoder())
    items = m.prepare_pretraining(rows, [])
    assert items.facts["images"] == 4
    out = m.forward_loss(next(iter(m.batches(items, 4, False, __import__("random").Random(0)))))
    assert float(out["cma"]) > 0
    preds = m.predict([rows[0], Example("t", "great", "en"), Example("m", "great", "en", image=str(tmp_path / "missing.png"))])
    assert [p.extras["image_used"] for p in preds] == [True, False, False]
    assert any("image not used" in w for w in preds[2].warnings)
    assert m.explain(rows[1])["query"] == "image" and m.explain(Example("t", "x", "en"))["query"] == "text"
