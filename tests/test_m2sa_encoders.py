"""M2SA with non-builtin encoders: a Hugging Face text model folder and a HF vision
model folder (tiny random configs built here), trained, saved and reloaded."""
from __future__ import annotations

import pytest
import torch
from PIL import Image

from xsent_core.methods.base import TrainConfig
from xsent_core.methods.m2sa import M2saConfig, M2saMethod
from xsent_core.training import fit
from xsent_core.types import Example


@pytest.fixture(scope="module")
def hf_folders(tmp_path_factory, builtin_encoder):
    from transformers import BertConfig, BertModel, ViTConfig, ViTModel

    root = tmp_path_factory.mktemp("m2sa-hf")
    torch.manual_seed(0)
    text = root / "bert"
    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    BertModel(BertConfig(vocab_size=len(builtin_encoder.tokenizer), max_position_embeddings=64, **small)).save_pretrained(text)
    builtin_encoder.tokenizer.save_pretrained(text)
    vision = root / "vit"
    ViTModel(ViTConfig(image_size=32, patch_size=8, **small)).save_pretrained(vision)
    return text, vision


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    folder = tmp_path_factory.mktemp("m2sa-hf-images")
    out = []
    for i, (label, colour) in enumerate([("negative", (0, 0, 0)), ("neutral", (128, 128, 128)), ("positive", (255, 200, 0))] * 4):
        path = folder / f"{i}.png"
        Image.new("RGB", (40, 30), colour).save(path)
        out.append(Example(id=str(i), text=f"tweet number {i}", label=label, image=str(path), lang="en"))
    return out


@pytest.mark.parametrize("pooling", ["pooler", "cls"])
def test_hf_text_and_vision_round_trip(hf_folders, rows, tmp_path, pooling, monkeypatch):
    from xsent_core.registry import load_model, save_model

    monkeypatch.setenv("XSENT_HOME", str(tmp_path / "home"))  # keep this test's feature cache to itself
    text, vision = hf_folders
    config = M2saConfig(encoder=str(text), image_encoder=f"hf:{vision}", train_from_layer=1, text_pooling=pooling)
    model = M2saMethod.create(config)
    assert model.config.resolved_prefix() == ""  # HF models read the text as is
    items, report = model.prepare_with_report(rows)
    assert report["with_image"] == len(rows) and len(items) == len(rows)
    fit(model, items, TrainConfig(epochs=1, max_steps=2, batch_size=6), progress=False)
    state = model.trained_state_dict()
    assert state["head.weight"].shape == (3, 32 + 32)
    assert any(".pooler." in k for k in state) == (pooling == "pooler")  # an unused pooler is not saved
    assert any(k.startswith("encoder.model.encoder.layer.1.") for k in state)
    assert not any(k.startswith("encoder.model.encoder.layer.0.") for k in state)
    before = model.predict(rows[:3])
    save_model(model, tmp_path / "m")
    again = load_model(tmp_path / "m", expected_method="m2sa")
    after = again.predict(rows[:3])
    assert [p.probs for p in after] == [p.probs for p in before]
    assert all(p.extras["image_used"] for p in after)
