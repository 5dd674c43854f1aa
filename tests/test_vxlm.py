"""VXLM end to end on a tiny slice: static vectors, mapping, gate, training, save/load, bad inputs."""
from __future__ import annotations

import copy
import random

import numpy as np
import pytest
import torch

from xsent_core.methods.base import TrainConfig
from xsent_core.methods.ctam import VxlmConfig, VxlmMethod
from xsent_core.static_vectors import (
    StaticAccumulator,
    build_static_vectors,
    embed_words_alone,
    pool_words,
    span_mean_weights,
    word_token_spans,
)
from xsent_core.types import Example

ZAWGYI = "ေက်းဇူးတင္ပါတယ္ ပစၥည္းေကာင္းပါတယ္"  # "thank you, the product is good" in Zawgyi
MIXED = "ပစ္စည်း quality ကောင်းပါတယ် fast delivery"
EN_SPEC = "semeval:{data}/semeval16_restaurants/gold-en-train.txt#24"


def test_word_token_spans_and_pooling_by_hand():
    # <s> a1 a2 b1 </s>: word a = sub-tokens 1-2, word b = 3 (the last word ends before </s>)
    assert word_token_spans([1, 3], 2, 5) == [(1, 3), (3, 4)]
    # a word with no sub-token of its own points at the previous one and keeps one sub-token
    assert word_token_spans([1, 1], 2, 3) == [(1, 2), (1, 2)]
    states = torch.tensor([[0.0, 0.0], [1.0, 3.0], [3.0, 5.0], [10.0, 10.0], [0.0, 0.0]])
    torch.testing.assert_close(pool_words(states, [(1, 3), (3, 4)]), torch.tensor([[2.0, 4.0], [10.0, 10.0]]))


def test_span_mean_weights_by_hand():
    # three positions per word: [1, 3) halves, [3, 4) whole; a span of no width keeps its start;
    # a span past the row is clipped to it (start to the last position, end to the length)
    weights = span_mean_weights([(1, 3), (3, 4), (2, 2), (7, 9)], 5)
    expected = torch.tensor([
        [0.0, 0.5, 0.5, 0.0, 0.0],
        [0.0, 0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 1.0],
    ])
    torch.testing.assert_close(weights, expected)
    assert span_mean_weights(torch.zeros((0, 2), dtype=torch.long), 4).shape == (0, 4)


def test_static_accumulator_averages_over_occurrences():
    acc = StaticAccumulator(2, layer=3)
    acc.add(["Food", "!", "good"], np.array([[1.0, 0.0], [9.0, 9.0], [0.0, 1.0]]))
    acc.add(["food"], np.array([[3.0, 2.0]]))
    sv = acc.result()
    assert sv.words == ("food", "good")  # lower-cased, punctuation dropped, most frequent first
    np.testing.assert_allclose(sv.vectors, [[2.0, 1.0], [0.0, 1.0]])
    assert sv.counts == (2, 1) and sv.layer == 3
    assert acc.result(min_count=2).words == ("food",)
    np.testing.assert_allclose(sv.get("FOOD"), [2.0, 1.0])
    assert sv.get("missing") is None


@pytest.fixture(scope="module")
def encoder(builtin_encoder):
    # training changes the top layer: keep the session encoder untouched
    return copy.deepcopy(builtin_encoder)


def test_build_static_vectors_with_the_encoder(encoder):
    sv = build_static_vectors(encoder, [["good", "food"], ["food", "ကောင်း"]], layer=4)
    assert set(sv.words) == {"food", "good", "ကောင်း"} and sv.vectors.shape == (3, 384)
    alone = embed_words_alone(encoder, ["food", "ကောင်း"], layer=4)
    assert alone.shape == (2, 384) and np.isfinite(alone).all()


@pytest.fixture(scope="module")
def tiny_rows(shared_data):
    from xsent_core.recipes import load_data

    rows = load_data("gklmip:{data}/gklmip_myanmar_sentiment/train.json")
    by_label: dict[str, list[Example]] = {}
    for ex in rows:
        by_label.setdefault(ex.label, []).append(ex)
    rng = random.Random(0)
    picked = [ex for lab in sorted(by_label) for ex in rng.sample(by_label[lab], 6)]
    rng.shuffle(picked)
    return picked


@pytest.fixture(scope="module")
def trained(encoder, tiny_rows, tmp_path_factory):
    from xsent_core.training import fit

    torch.manual_seed(0)
    cfg = VxlmConfig(train_from_layer=11, static_layer=11, static_min_count=1, target_corpus=EN_SPEC,
                     dictionary_holdout=0.3)
    model = VxlmMethod(cfg, encoder)
    items = model.prepare(tiny_rows)
    before = {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}
    result = fit(model, items, TrainConfig(epochs=1, max_steps=2, batch_size=8, warmup_ratio=0.0), progress=False)
    return model, items, before, result


def test_prepare_builds_table_and_mapping(trained):
    model, items, _, _ = trained
    report = model.static_report
    assert report["source_words"] > 0 and report["target_words"] > 0
    assert model.config.vocab_size == report["table_rows"] == len(model.static_words)
    assert report["init"] == "dictionary" and report["seed_pairs"] > 0
    assert report["evaluation"] is not None  # precision@1 on the held-out 30 %
    w = model.map_w
    torch.testing.assert_close(w @ w.T, torch.eye(384), atol=1e-4, rtol=0)
    norms = model.static_table.norm(dim=-1)
    torch.testing.assert_close(norms, torch.ones_like(norms), atol=1e-4, rtol=0)
    burmese = [w for w, s in zip(model.static_words, model.static_source.tolist()) if s]
    assert burmese and all(any("\u1000" <= c <= "\u109f" for c in w) for w in burmese)
    assert all(len(it["keys"]) == len(it["raw_static"]) == len(it["spans"]) for it in items)


def test_training_steps_change_parameters(trained):
    model, _, before, result = trained
    assert result.status == "finished" and result.steps == 2
    changed = [k for k, v in model.named_parameters() if v.requires_grad and not torch.equal(v, before[k])]
    assert any(k.startswith("gate.") for k in changed) and any(k.startswith("encoder.") for k in changed)
    assert "head.weight" in changed and "vec_scale" in changed


def test_forward_loss_components(trained):
    model, items, _, _ = trained
    model.train()
    out = model.forward_loss(model.collate(items[:4]))
    assert set(out) == {"loss", "classification", "gate_mean"}
    assert torch.isfinite(out["loss"]) and 0 < out["gate_mean"].item() < 1
    model.eval()


def test_oov_word_gets_its_own_mapped_vector(trained):
    model, _, _, _ = trained
    raw = torch.randn(2, 384)
    vec, found = model.static_vectors_for(["zzqx-not-a-word", model.static_words[0]], raw, torch.tensor([False, False]))
    assert found.tolist() == [False, True]
    torch.testing.assert_close(vec[1], model.static_table[0])
    assert vec[0].norm().item() == pytest.approx(1.0, abs=1e-5)


def test_explain_gate_per_token_and_dimension(trained, tiny_rows):
    from xsent_core.text import normalize

    model, _, _, _ = trained
    ex = next(r for r in tiny_rows if not normalize(r.text).converted_from_zawgyi)
    out = model.explain(ex)
    assert out["label"] in ("negative", "neutral", "positive")
    assert abs(sum(out["probs"].values()) - 1) < 1e-5
    words = out["words"]
    assert words and len(out["gate_per_dimension"]) == len(words)
    assert all(len(row) == 384 for row in out["gate_per_dimension"])
    for w, row in zip(words, out["gate_per_dimension"]):
        assert 0 < w["gate"] < 1 and w["gate"] == pytest.approx(np.mean(row), abs=1e-3)
        # offsets point into the text as typed (which may hold zero-width spaces)
        assert normalize(ex.text[w["start"] : w["end"]]).text == w["text"]
        assert w["static_from"] in ("corpus", "this sentence")
    assert any(w["nearest_english"] for w in words)


def test_bad_inputs_give_warnings_not_crashes(trained):
    model, _, _, _ = trained
    long_text = "ကောင်းပါတယ် " * 10000  # 120k characters
    examples = [
        Example(id="empty", text=""),
        Example(id="zg", text=ZAWGYI),
        Example(id="mixed", text=MIXED),
        Example(id="long", text=long_text),
        Example(id="oov", text="qqzzxv ဇဇဇဇ"),
    ]
    preds = model.predict(examples)
    assert len(preds) == 5 and all(p.label for p in preds)
    assert any("empty text" in w for w in preds[0].warnings)
    assert any("Zawgyi" in w for w in preds[1].warnings)
    assert any("mixed Burmese-English" in w for w in preds[2].warnings)
    assert any("only the first" in w or "truncated" in w.lower() for w in preds[3].warnings)
    out = model.explain(examples[1])
    assert out["words"] and any("Zawgyi" in w for w in out["warnings"])
    assert all(0 <= w["start"] < w["end"] <= len(ZAWGYI) for w in out["words"])
    oov = model.explain(examples[4])
    assert any(w["static_from"] == "this sentence" for w in oov["words"])
    assert model.explain(examples[0])["words"] == []


def test_save_load_round_trip_identical_predictions(trained, tiny_rows, tmp_path):
    from xsent_core.registry import load_model, save_model

    model, _, _, _ = trained
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m", expected_method="vxlm")
    assert loaded.static_words == model.static_words
    rows = tiny_rows[:6] + [Example(id="zg", text=ZAWGYI)]
    a = model.predict(rows)
    b = loaded.predict(rows)
    for p, q in zip(a, b):
        assert p.label == q.label
        for k in p.probs:
            assert p.probs[k] == pytest.approx(q.probs[k], abs=1e-5)
    # fp16 shipping keeps the labels
    save_model(model, tmp_path / "h", half=True)
    half = load_model(tmp_path / "h")
    assert [p.label for p in half.predict(rows)] == [p.label for p in a]


def test_evaluate(trained, tiny_rows):
    model, _, _, _ = trained
    scores = model.evaluate(tiny_rows[:8])
    # the evaluation module's headline: majority baseline and per-class F1 beside accuracy and macro-F1
    assert {"accuracy", "macro_f1", "n", "majority_macro_f1", "f1_negative", "f1_neutral", "f1_positive"} <= set(scores)
    assert scores["n"] == 8


def test_config_checks(encoder):
    from xsent_core.types import XsentError

    with pytest.raises(XsentError, match="static_layer"):
        VxlmMethod(VxlmConfig(train_from_layer=8, static_layer=10), encoder)
    with pytest.raises(XsentError, match="hidden size"):
        VxlmMethod(VxlmConfig(dim=10), encoder)


def test_user_dictionary_refits_the_map_without_changing_the_model(trained, tmp_path):
    from xsent_core.alignment import PAPER_CONCEPTS, analyse_model
    from xsent_core.paths import repo_root
    from xsent_core.types import InputError

    model, _, _, _ = trained
    stored = model.map_w.clone()
    result = analyse_model(model, PAPER_CONCEPTS, dictionary=repo_root() / "assets" / "dictionaries" / "my-en.tsv")
    assert torch.equal(model.map_w, stored)
    report = result.mapping_report
    assert report["seed_pairs"] > 0 and report["evaluation"] is not None
    assert "cosine_distance_after" in result.table and len(result.table) == 5
    default = analyse_model(model)
    assert default.mapping_report is None
    assert (default.table["cosine_distance_before"] == result.table["cosine_distance_before"]).all()
    empty = tmp_path / "empty.tsv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="no word pairs"):
        analyse_model(model, dictionary=empty)


def test_imbalance_options_shift_the_burmese_cross_entropy_by_the_training_prior(trained, encoder):
    """logit_adjust tau: CE on logits + tau * log(prior) (Menon et al.); prepare() counts the labels it saw."""
    import dataclasses

    import torch.nn.functional as F

    from xsent_core.types import CheckpointError

    model, items, _, _ = trained
    assert model.class_counts.tolist() == [6.0, 6.0, 6.0]  # 6 rows of each label in tiny_rows
    logits = torch.tensor([[2.0, 0.0, 1.0], [0.0, 1.0, 3.0]])
    labels = torch.tensor([0, 2])
    torch.testing.assert_close(model.sentence_loss(logits, labels), F.cross_entropy(logits, labels))  # tau = 0
    adjusted = VxlmMethod(dataclasses.replace(model.config, logit_adjust=1.0), encoder)
    adjusted.count_labels([{"label": torch.tensor(k)} for k in [0] + [1] + [2] * 8])
    # add-one smoothing: prior (2, 2, 9) / 13
    prior = torch.log(torch.tensor([2.0, 2.0, 9.0]) / 13)
    torch.testing.assert_close(adjusted.sentence_loss(logits, labels), F.cross_entropy(logits + prior, labels))
    with pytest.raises(CheckpointError, match="class_weighting"):
        VxlmMethod(dataclasses.replace(model.config, class_weighting="loud"), encoder)


def test_sentence_loss_skips_unlabelled_rows_by_hand(trained):
    """label -1 (a zero-resource student) adds nothing: the loss is the CE of the labelled rows."""
    import torch.nn.functional as F

    model, _, _, _ = trained
    logits = torch.tensor([[2.0, 0.0, 1.0], [0.0, 1.0, 3.0], [5.0, 0.0, 0.0]], requires_grad=True)
    labels = torch.tensor([0, -1, 2])
    expected = F.cross_entropy(logits[[0, 2]], torch.tensor([0, 2]))
    torch.testing.assert_close(model.sentence_loss(logits, labels), expected)
    none = model.sentence_loss(logits, torch.tensor([-1, -1, -1]))
    assert float(none.detach()) == 0.0 and none.requires_grad
    none.backward()
    assert float(logits.grad.abs().sum()) == 0.0


def test_zero_resource_trains_on_english_labels_only(encoder, tiny_rows):
    """Burmese rows build the static table; the training items are the English labelled rows."""
    import dataclasses

    cfg = VxlmConfig(train_from_layer=11, static_layer=11, static_min_count=1, target_corpus=EN_SPEC,
                     setting="zero-resource")
    model = VxlmMethod(cfg, copy.deepcopy(encoder))
    items = model.prepare(tiny_rows)
    assert items and all(it["lang"] == "en" and int(it["label"]) >= 0 for it in items)
    from xsent_core.recipes import load_data

    english = [ex for ex in load_data(EN_SPEC) if ex.label is not None]
    assert len(items) == len(english)
    counts = [sum(ex.label == lab for ex in english) for lab in ("negative", "neutral", "positive")]
    assert model.class_counts.tolist() == counts  # the prior the imbalance options correct is English's
    burmese = [w for w, s in zip(model.static_words, model.static_source.tolist()) if s]
    assert burmese  # the Burmese text still reached the static table
    no_english = VxlmMethod(dataclasses.replace(cfg, target_corpus=None), copy.deepcopy(encoder))
    with pytest.raises(Exception, match="English labels"):
        no_english.prepare(tiny_rows)


def test_setting_and_adaptation_checks(encoder):
    from xsent_core.types import XsentError

    with pytest.raises(XsentError, match="setting="):
        VxlmMethod(VxlmConfig(setting="unsupervised"), copy.deepcopy(encoder))
    # the static vectors' layer must stay below every adapted layer
    with pytest.raises(XsentError, match="first adapted layer \\(6"):
        VxlmMethod(VxlmConfig(adapt="lora", lora_from_layer=6, static_layer=8), copy.deepcopy(encoder))
    with pytest.raises(XsentError, match="first adapted layer \\(0"):
        VxlmMethod(VxlmConfig(adapt="full"), copy.deepcopy(encoder))


def test_lora_vxlm_saves_adapters_and_reloads_with_identical_predictions(builtin_encoder, tiny_rows, tmp_path):
    from safetensors.torch import load_file

    from xsent_core.registry import load_model, save_model
    from xsent_core.training import fit

    torch.manual_seed(0)
    cfg = VxlmConfig(adapt="lora", lora_from_layer=11, static_layer=11, lora_rank=4, lora_alpha=8.0,
                     static_min_count=1, target_corpus=EN_SPEC)
    model = VxlmMethod(cfg, copy.deepcopy(builtin_encoder))  # pristine: a loaded LoRA model rebuilds on it
    assert model.live_layer == 11
    items = model.prepare(tiny_rows)
    fit(model, items, TrainConfig(epochs=1, max_steps=3, batch_size=8, lr=1e-2, warmup_ratio=0.0), progress=False)
    model.eval()
    before = model.predict(tiny_rows[:6])
    save_model(model, tmp_path / "m", half=False)
    saved = load_file(str(tmp_path / "m" / "model.safetensors"))
    encoder_keys = [k for k in saved if k.startswith("encoder.")]
    assert encoder_keys and all(".lora_" in k and ".11." in k for k in encoder_keys)
    assert any(float(saved[k].abs().sum()) > 0 for k in encoder_keys if "lora_B" in k)
    loaded = load_model(tmp_path / "m", expected_method="vxlm")
    assert not any(hasattr(m, "lora_A") for m in loaded.modules())  # folded: predicts at plain speed
    after = loaded.predict(tiny_rows[:6])
    assert [p.label for p in after] == [p.label for p in before]
    for a, b in zip(after, before):
        assert max(abs(a.probs[k] - b.probs[k]) for k in a.probs) < 1e-4


def test_words_read_as_running_text_cost_fewer_subtokens_and_keep_the_words(trained, tiny_rows, encoder):
    import dataclasses

    from xsent_core.types import XsentError

    model, _, _, _ = trained
    separate = model.config
    try:
        model.config = dataclasses.replace(separate, tokenize_words_as="text")
        running = model.encode_examples(tiny_rows)
        explained = model.explain(tiny_rows[0])
        predicted = model.predict(tiny_rows[:4])
    finally:
        model.config = separate
    alone = model.encode_examples(tiny_rows)
    # the same words; a long row truncated at max_length keeps more of them as running text
    assert all(r["keys"][: len(a["keys"])] == a["keys"] for r, a in zip(running, alone))
    assert sum(len(it["keys"]) for it in running) > sum(len(it["keys"]) for it in alone)
    assert sum(len(it["ids"]) for it in running) < 0.9 * sum(len(it["ids"]) for it in alone)
    assert [w["text"] for w in explained["words"]] == [w["text"] for w in model.explain(tiny_rows[0])["words"]]
    assert all(abs(sum(p.probs.values()) - 1) < 1e-4 for p in predicted)
    with pytest.raises(XsentError, match="tokenize_words_as="):
        VxlmMethod(VxlmConfig(tokenize_words_as="bytes"), copy.deepcopy(encoder))


def test_collate_puts_each_rows_static_vectors_and_spans_in_its_row(trained):
    # collate looks the whole batch's words up at once; every row must still get its own words' vectors
    model, items, _, _ = trained
    batch_items = [items[0], {**items[1], "keys": [], "raw_static": items[1]["raw_static"][:0],
                              "source": items[1]["source"][:0], "spans": items[1]["spans"][:0]}, items[2]]
    batch = model.collate(batch_items)
    for b, it in enumerate(batch_items):
        n = len(it["keys"])
        assert batch["word_mask"][b].sum().item() == n
        if n:
            alone, _ = model.static_vectors_for(it["keys"], it["raw_static"], it["source"])
            torch.testing.assert_close(batch["h_vec"][b, :n], alone)
        assert not batch["h_vec"][b, n:].any()
        for w, (s, e) in enumerate(it["spans"].tolist()):
            assert batch["pool"][b, w, s:e].sum().item() == pytest.approx(1.0)
        assert not batch["pool"][b, n:].any()
