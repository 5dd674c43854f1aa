"""M2SA: losses and logit split by hand, config checks, the tiny recipe end to end,
save/load round trips, explain() and awkward text inputs."""
from __future__ import annotations

import math

import pytest
import torch

from xsent_core.methods.m2sa import PRESETS, M2saConfig, M2saMethod
from xsent_core.methods.m2sa.losses import classification_loss, logit_parts, modality_shares
from xsent_core.methods.m2sa.train import EarlyStopping
from xsent_core.types import CheckpointError, Example, SENTIMENT_LABELS


# -- pure functions, worked by hand -------------------------------------------------------------
def test_classification_loss_by_hand():
    logits = torch.tensor([[2.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    labels = torch.tensor([0, 1])
    # row 0: -log(e^2 / (e^2 + 2)) = log(1 + 2 e^-2) = log(1.2706706) = 0.2395447
    # row 1: -log(1 / (e^2 + 2)) = log(9.3890561) = 2.2395447; mean = 1.2395447
    assert classification_loss(logits, labels).item() == pytest.approx(1.2395447, abs=1e-6)


def test_logit_parts_and_shares_by_hand():
    # C = 3 classes, text dim 2, image dim 1
    weight = torch.tensor([[1.0, 2.0, 3.0], [0.0, 1.0, -1.0], [1.0, 0.0, 0.0]])
    bias = torch.tensor([0.5, 0.0, -0.5])
    t, v = torch.tensor([[1.0, 1.0]]), torch.tensor([[2.0]])
    parts = logit_parts(weight, bias, t, v)
    # text  = W_t t = [1+2, 0+1, 1+0] = [3, 1, 1]
    # image = W_v v = [3*2, -1*2, 0*2] = [6, -2, 0]
    assert parts["text"].tolist() == [[3.0, 1.0, 1.0]]
    assert parts["image"].tolist() == [[6.0, -2.0, 0.0]]
    total = parts["text"] + parts["image"] + parts["bias"]  # [9.5, -1, 0.5]
    torch.testing.assert_close(total, torch.nn.functional.linear(torch.cat([t, v], -1), weight, bias))
    shares = modality_shares(parts["text"], parts["image"], torch.tensor([0]))
    # centred at class 0: text 3 - 5/3 = 4/3, image 6 - 4/3 = 14/3 -> text share 4/18 = 2/9
    assert shares["text"].item() == pytest.approx(2 / 9)
    assert shares["image"].item() == pytest.approx(7 / 9)
    assert shares["text_margin"].item() == pytest.approx(4 / 3)
    assert shares["image_margin"].item() == pytest.approx(14 / 3)


def test_shares_single_modality_and_zero():
    weight, bias = torch.eye(3), torch.zeros(3)
    parts = logit_parts(weight, bias, torch.tensor([[1.0, 0.0, 0.0]]), None)
    shares = modality_shares(parts["text"], parts["image"], torch.tensor([0]))
    assert shares["text"].item() == 1.0 and shares["image"].item() == 0.0
    zero = modality_shares(torch.zeros(1, 3), torch.zeros(1, 3), torch.tensor([2]))
    assert zero["text"].item() == 0.5  # nothing decided by either: split evenly, no NaN


def test_config_is_checked():
    with pytest.raises(CheckpointError, match="modality"):
        M2saConfig(modality="audio")
    with pytest.raises(CheckpointError, match="bad_images"):
        M2saConfig(bad_images="ignore")
    with pytest.raises(CheckpointError, match="text_pooling"):
        M2saConfig(text_pooling="max")
    assert M2saConfig().resolved_prefix() == "query: " and M2saConfig().resolved_pooling() == "mean"
    hf = M2saConfig(encoder="xlm-roberta-base")
    assert hf.resolved_prefix() == "" and hf.resolved_pooling() == "cls"


def test_presets():
    assert {"m2sa-builtin", "m2sa-paper", "m2sa-tiny"} <= set(PRESETS)
    builtin = PRESETS["m2sa-builtin"]
    assert set(builtin.data["test"]) == {"en", "es", "fr", "nl", "ru"}
    assert len(builtin.data["train"]) == 5 and builtin.train.select_metric == "macro_f1"
    paper = PRESETS["m2sa-paper"]
    assert paper.config["encoder"] == "cardiffnlp/twitter-xlm-roberta-base-sentiment-multilingual"
    assert paper.train.lr == 5e-5 and paper.train.batch_size == 8 and paper.train.epochs == 50
    assert paper.config["early_stopping_patience"] == 3
    for preset in PRESETS.values():
        M2saConfig(**preset.config)  # every preset's config is valid


def test_early_stopping_counts_evaluations_without_gain():
    stop = EarlyStopping("macro_f1", patience=2)
    for step, score in enumerate([0.3, 0.5, 0.4, 0.5, 0.45], start=1):
        stop("eval", None, {"step": step, "macro_f1": score})
    # 0.5 at step 2 is the best; 0.4 and 0.5 (not better) -> stop at step 4
    assert stop.stop.is_set() and stop.stopped_at == 4
    off = EarlyStopping("macro_f1", patience=0)
    for step in range(5):
        off("eval", None, {"step": step, "macro_f1": 0.1})
    assert not off.stop.is_set()


# -- the tiny recipe end to end -------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from xsent_core.recipes import run_preset

    out = tmp_path_factory.mktemp("m2sa") / "m2sa-tiny"
    report = run_preset("m2sa", "m2sa-tiny", out, progress=False, evaluate_tests=False)
    assert report["status"] == "finished" and report["steps"] == 3  # 37 labelled rows, batch 16
    assert report["images"]["with_image"] == 0 and report["images"]["rows"] > 20
    return out


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    from xsent_core.registry import load_model

    return load_model(tiny_dir, expected_method="m2sa")


ROWS = [
    Example(id="en", text="The pizza was great but the waiter was rude.", lang="en"),
    Example(id="fr", text="Le service était lent.", lang="fr"),
    Example(id="my", text="ဒီဆိုင်က အစားအသောက် အရမ်းကောင်းတယ်"),
]


def test_saved_weights_are_small_and_round_trip(tiny, tiny_dir, tmp_path):
    from xsent_core.registry import load_model, save_model

    state = tiny.trained_state_dict()
    assert not any(k.startswith("image_encoder.") for k in state)  # frozen: rebuilt from its spec
    assert "no_image" in state and "head.weight" in state
    assert state["head.weight"].shape == (3, 384 + 1280)
    before = [p.probs for p in tiny.predict(ROWS)]
    save_model(tiny, tmp_path / "again")
    again = load_model(tmp_path / "again")
    assert [p.probs for p in again.predict(ROWS)] == before
    save_model(tiny, tmp_path / "half", half=True)
    half = load_model(tmp_path / "half")
    for a, b in zip(before, [p.probs for p in half.predict(ROWS)]):
        for lab in SENTIMENT_LABELS:
            assert abs(a[lab] - b[lab]) < 2e-3
    assert (tmp_path / "half" / "model.safetensors").stat().st_size < 10 * 2**20


def test_predict_text_rows_reports_modality_share(tiny):
    preds = tiny.predict(ROWS)
    for p in preds:
        assert p.error is None and p.label in SENTIMENT_LABELS
        assert abs(sum(p.probs.values()) - 1) < 1e-5
        assert p.extras["image_used"] is False
        assert p.extras["modality_share"] == {"text": 1.0, "image": 0.0}  # no image: the text decided


def test_explain_parts_add_up_to_logits(tiny):
    out = tiny.explain(ROWS[0])
    assert out["label"] in SENTIMENT_LABELS and out["image_used"] is False
    for lab in SENTIMENT_LABELS:
        parts = out["logit_parts"]
        assert parts["text"][lab] + parts["image"][lab] + parts["prior"][lab] == pytest.approx(out["logits"][lab], abs=1e-5)
        assert parts["image"][lab] == 0.0  # the "no image" vector's part is in the prior
    probs = torch.tensor([out["logits"][lab] for lab in SENTIMENT_LABELS]).softmax(-1)
    assert probs.tolist() == pytest.approx([out["probs"][lab] for lab in SENTIMENT_LABELS], abs=1e-6)
    assert math.isclose(sum(out["modality_share"].values()), 1.0)


def test_awkward_text_inputs(tiny):
    zawgyi = "ဒီဆိုင္က အစားအေသာက္ အရမ္းေကာင္းတယ္"
    rows = [
        Example(id="empty", text=""),
        Example(id="zawgyi", text=zawgyi),
        Example(id="long", text="good food " * 20_000),
    ]
    preds = tiny.predict(rows)
    assert all(p.error is None and p.label in SENTIMENT_LABELS for p in preds)
    assert any("no content" in w for w in preds[0].warnings)
    assert any("sub-tokens" in w or "truncat" in w for w in preds[2].warnings)
    assert tiny.explain(rows[0])["label"] in SENTIMENT_LABELS


def test_evaluate_per_language(tiny):
    rows = [
        Example(id="1", text="Great food.", lang="en", label="positive"),
        Example(id="2", text="Terrible service.", lang="en", label="negative"),
        Example(id="3", text="Très bon.", lang="fr", label="positive"),
    ]
    scores = tiny.evaluate(rows)
    assert scores["n"] == 3 and scores["errors"] == 0
    assert {"macro_f1_en", "macro_f1_fr", "accuracy", "macro_f1"} <= set(scores)


def test_modality_needs_its_encoder():
    from xsent_core.types import InputError

    with pytest.raises(InputError, match="needs a text encoder"):
        M2saMethod(M2saConfig(modality="text"), None, None)
    with pytest.raises(InputError, match="needs an image encoder"):
        M2saMethod(M2saConfig(modality="image"), None, None)
