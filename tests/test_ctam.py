"""CTAM end to end on a tiny slice: pairing, the three losses, student-only prediction,
explain() with a translation and with the nearest English training sentence."""
from __future__ import annotations

import copy
import random

import pytest
import torch

from xsent_core.methods.base import TrainConfig
from xsent_core.methods.ctam import CtamConfig, CtamMethod
from xsent_core.types import Example, XsentError

EN_SPEC = "semeval:{data}/semeval16_restaurants/gold-en-train.txt#60"


@pytest.fixture(scope="module")
def rows(shared_data):
    from xsent_core.recipes import load_data

    data = load_data("gklmip:{data}/gklmip_myanmar_sentiment/train.json")
    rng = random.Random(1)
    picked = [ex for lab in ("negative", "neutral", "positive") for ex in rng.sample([r for r in data if r.label == lab], 5)]
    rng.shuffle(picked)
    return picked


@pytest.fixture(scope="module")
def trained(builtin_encoder, rows):
    from xsent_core.training import fit

    torch.manual_seed(0)
    cfg = CtamConfig(train_from_layer=11, static_layer=11, static_min_count=1, target_corpus=EN_SPEC, pair_top_k=2)
    model = CtamMethod(cfg, copy.deepcopy(builtin_encoder))
    items = model.prepare(rows)
    result = fit(model, items, TrainConfig(epochs=1, max_steps=2, batch_size=5, warmup_ratio=0.0), progress=False)
    return model, items, result


def test_pairs_follow_labels_and_bank_is_kept(trained):
    model, items, result = trained
    assert result.status == "finished"
    assert len(items) == 15
    english_labels = {int(t["label"]) for it in items for t in it["teachers"]}
    for it in items:
        assert 1 <= len(it["teachers"]) <= 2
        if int(it["label"]) in english_labels:  # a label the English rows lack falls back to any label
            assert all(int(t["label"]) == int(it["label"]) for t in it["teachers"])
    assert model.config.bank_size == len(model.bank_sentences) > 0
    assert model.bank_vectors.shape == (model.config.bank_size, 384)


def test_forward_loss_has_the_three_terms_and_weights(trained):
    model, items, _ = trained
    model.train()
    torch.manual_seed(0)
    batch = model.collate(items[:4])
    assert set(batch) == {"student", "teacher"}
    out = model.forward_loss(batch)
    assert {"loss", "classification", "reconstruction", "domain"} <= set(out)
    total = 1.0 * out["classification"] + 0.4 * out["reconstruction"] + 0.1 * out["domain"]
    assert out["loss"].item() == pytest.approx(total.item(), rel=1e-5)
    model.zero_grad()
    out["loss"].backward()
    for name in ("student_gru.weight_ih_l0", "teacher_gru.weight_ih_l0", "attn_weight", "discriminator.0.weight", "gate.proj.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    model.zero_grad()
    model.eval()


def test_reversal_sends_the_opposite_domain_gradient_to_the_encoder(trained):
    """With only L_S, the pooled features' gradient is minus the discriminator's wish."""
    from xsent_core.methods.ctam import losses
    from xsent_core.nn import reverse_gradient

    model, _, _ = trained
    feats = torch.randn(4, 384, requires_grad=True)
    domains = torch.tensor([0.0, 0.0, 1.0, 1.0])
    losses.domain_loss(model.discriminator(feats).squeeze(-1), domains).backward()
    plain = feats.grad.clone()
    feats.grad = None
    losses.domain_loss(model.discriminator(reverse_gradient(feats, 0.5)).squeeze(-1), domains).backward()
    torch.testing.assert_close(feats.grad, -0.5 * plain)
    model.zero_grad()


def test_prediction_is_the_student_alone(trained, rows):
    model, _, _ = trained
    plain = model.predict(rows[:4])
    with_translation = model.predict(
        [Example(id=r.id, text=r.text, lang=r.lang, meta={"translation": "The food was great."}) for r in rows[:4]]
    )
    for a, b in zip(plain, with_translation):
        assert a.probs == b.probs


def test_explain_with_translation_and_with_nearest_sentence(trained, rows):
    model, _, _ = trained
    ex = rows[0]
    out = model.explain(ex, translation="The service was very slow .")
    assert out["teacher"]["source"] == "translation"
    att = out["attention"]
    n, m = len(att["student_tokens"]), len(att["teacher_tokens"])
    assert att["teacher_tokens"] == ["The", "service", "was", "very", "slow", "."]
    assert n == len(out["words"]) and m == 6
    t2s = torch.tensor(att["teacher_to_student"])
    s2t = torch.tensor(att["student_to_teacher"])
    assert t2s.shape == (m, n) and s2t.shape == (n, m)
    torch.testing.assert_close(t2s.sum(1), torch.ones(m), atol=1e-3, rtol=0)
    torch.testing.assert_close(s2t.sum(1), torch.ones(n), atol=1e-3, rtol=0)
    assert sum(att["pooled_student_to_teacher"]) == pytest.approx(1.0, abs=1e-3)
    # the label does not depend on the teacher
    nearest = model.explain(ex)
    assert nearest["teacher"]["source"] == "nearest_training_sentence"
    assert nearest["teacher"]["text"] in model.bank_sentences
    assert -1 <= nearest["teacher"]["similarity"] <= 1
    assert nearest["probs"] == out["probs"]
    # a translation given in the example's meta is used too
    meta = model.explain(Example(id="m", text=ex.text, meta={"translation": "Great value ."}))
    assert meta["teacher"] == {"text": "Great value .", "source": "translation", "similarity": None}
    assert model.explain(Example(id="e", text=""))["attention"] is None


def test_save_load_round_trip(trained, rows, tmp_path):
    from xsent_core.registry import load_model, save_model

    model, _, _ = trained
    save_model(model, tmp_path / "ctam", half=True)
    loaded = load_model(tmp_path / "ctam", expected_method="ctam")
    assert loaded.bank_sentences == model.bank_sentences
    assert [p.label for p in loaded.predict(rows[:5])] == [p.label for p in model.predict(rows[:5])]
    assert loaded.explain(rows[0])["teacher"]["source"] == "nearest_training_sentence"


def test_prepare_needs_student_rows(builtin_encoder):
    model = CtamMethod(CtamConfig(train_from_layer=11, static_layer=11, target_corpus=None), copy.deepcopy(builtin_encoder))
    with pytest.raises(XsentError, match="student"):
        model.prepare([Example(id="1", text="good food", lang="en", label="positive")])
    with pytest.raises(XsentError, match="English"):
        model.prepare([Example(id="1", text="ကောင်းပါတယ်", lang="my", label="positive")])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["vxlm", "ctam"])
def test_tiny_preset_through_run_preset(method, tmp_path, shared_data):
    """The CLI path: preset -> prepare (builds the static table) -> fit -> save -> load -> evaluate."""
    from xsent_core.recipes import run_preset
    from xsent_core.registry import load_model, read_model_card

    report = run_preset(method, f"{method}-tiny", tmp_path / method, progress=False, half=True)
    assert report["status"] == "finished" and report["steps"] == 3
    card = read_model_card(tmp_path / method)
    assert card.method == method and card.config["vocab_size"] > 0
    model = load_model(tmp_path / method)
    assert model.predict([Example(id="x", text="ကောင်းပါတယ်")])[0].label


def test_zero_resource_students_carry_no_label_and_only_english_trains_the_head(builtin_encoder, rows):
    import torch.nn.functional as F

    cfg = CtamConfig(train_from_layer=11, static_layer=11, static_min_count=1, target_corpus=EN_SPEC, pair_top_k=2,
                     setting="zero-resource")
    model = CtamMethod(cfg, copy.deepcopy(builtin_encoder))
    unlabelled = [Example(id="u", text="ဝန်ဆောင်မှု ကောင်းပါတယ်", lang="my")]  # unlabelled rows are students too
    items = model.prepare(rows + unlabelled)
    assert len(items) == len(rows) + 1
    assert all(int(it["label"]) == -1 for it in items)
    # teachers are the nearest English rows whatever their label
    assert len({int(t["label"]) for it in items for t in it["teachers"]}) > 1
    english = [int(t["label"]) for it in items for t in it["teachers"]]
    assert min(english) >= 0
    model.train()
    torch.manual_seed(0)
    batch = model.collate(items[:4])
    out = model.forward_loss(batch)
    model.eval()
    with torch.no_grad():  # L_T = the teachers' cross-entropy alone (dropout off to recompute it)
        t = model.path(batch["teacher"], model.teacher_gru)
        expected = F.cross_entropy(model.logits(t), batch["teacher"]["label"])
        recomputed = model.forward_loss(batch)["classification"]
    torch.testing.assert_close(recomputed, expected)
    assert torch.isfinite(out["loss"]) and float(out["reconstruction"]) > 0


def test_layer_wise_alignment_adds_one_reconstruction_term_per_layer(builtin_encoder, rows):
    """align_layers=2: L_R is the mean of the top BiGRU term and the layer-10 word-state term."""
    from xsent_core.methods.ctam import losses

    cfg = CtamConfig(train_from_layer=10, static_layer=10, static_min_count=1, target_corpus=EN_SPEC, pair_top_k=2,
                     align_layers=2, detach_teacher=False)
    model = CtamMethod(cfg, copy.deepcopy(builtin_encoder))
    assert len(model.layer_attn_weight) == 1
    items = model.prepare(rows)
    model.eval()  # no dropout: the terms can be recomputed
    torch.manual_seed(0)
    batch = model.collate(items[:4])
    out = model.forward_loss(batch)
    s, t = model.path(batch["student"], model.student_gru), model.path(batch["teacher"], model.teacher_gru)
    # the layer's word states are what run_layers gives after layer 11 of 12, pooled per word
    hidden = builtin_encoder.run_layers(batch["student"]["lower"].float(), batch["student"]["attention_mask"], 10, 11)
    torch.testing.assert_close(s["layer_words"][0], torch.bmm(batch["student"]["pool"], hidden), atol=1e-4, rtol=1e-4)
    att = losses.dual_attention(s["layer_words"][0], s["word_mask"], t["layer_words"][0], t["word_mask"],
                                model.layer_attn_weight[0], model.layer_attn_bias[0])
    layer_term = losses.reconstruction_loss(att.context, t["layer_words"][0], att.pooled_student_to_teacher, t["word_mask"])
    torch.testing.assert_close(out["reconstruction"], (out["reconstruction_top"] + layer_term.detach()) / 2)
    # the extra layer's attention trains; with detach_teacher=False its term also reaches the teacher's states
    model.zero_grad()
    out["loss"].backward()
    assert float(model.layer_attn_weight[0].grad.abs().sum()) > 0
    teacher_words = t["layer_words"][0]
    assert torch.autograd.grad(layer_term, teacher_words, retain_graph=True)[0].abs().sum() > 0
    with pytest.raises(XsentError, match="align_layers=3"):
        CtamMethod(CtamConfig(train_from_layer=10, static_layer=10, align_layers=3), copy.deepcopy(builtin_encoder))
