"""Image encoders: the builtin EfficientNet-Lite0 recognises real photos; open_clip and
Hugging Face backbones load from tiny random checkpoints built here."""
from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from xsent_core.encoders.image import (
    ImageFeatures,
    feature_cache_key,
    load_image_encoder,
)
from xsent_core.types import CheckpointError

TINY_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def builtin_image():
    return load_image_encoder("builtin")


@pytest.fixture(scope="module")
def photos():
    skdata = pytest.importorskip("skimage.data")
    return {"cat": Image.fromarray(skdata.chelsea()), "coffee": Image.fromarray(skdata.coffee())}


def test_builtin_recognises_photos(builtin_image, photos):
    with torch.inference_mode():
        logits = builtin_image.imagenet_logits(builtin_image.preprocess([photos["cat"], photos["coffee"]]))
    cat, coffee = logits.argmax(1).tolist()
    assert 281 <= cat <= 285  # tabby / tiger / Persian / Siamese / Egyptian cat
    assert coffee in (967, 968, 504)  # espresso / cup / coffee mug


def test_builtin_features(builtin_image, photos):
    info = builtin_image.info
    assert (info.feature_dim, info.grid_dim, info.grid_tokens, info.image_size) == (1280, 1280, 49, 224)
    assert not any(p.requires_grad for p in builtin_image.parameters())
    feats = builtin_image.encode([photos["cat"], photos["coffee"], photos["cat"]], batch_size=2)
    assert isinstance(feats, ImageFeatures)
    assert feats.pooled.shape == (3, 1280) and feats.grid.shape == (3, 49, 1280)
    # pooled is the average of the grid; batching does not change results
    torch.testing.assert_close(feats.grid.mean(1), feats.pooled, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(feats.pooled[0], feats.pooled[2], atol=1e-5, rtol=1e-5)
    assert builtin_image.encode([]).pooled.shape == (0, 1280)


def test_preprocess_any_shape(builtin_image):
    pixels = builtin_image.preprocess([Image.new("RGB", (500, 20)), Image.new("L", (3, 3))])
    assert pixels.shape == (2, 3, 224, 224)


def _tiny_clip_files(tmp_path):
    open_clip = pytest.importorskip("open_clip")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.model.CLIP(**TINY_CLIP).eval()
    config = tmp_path / "xsent-tiny-clip.json"
    config.write_text(json.dumps(TINY_CLIP), encoding="utf-8")
    weights = tmp_path / "tiny-clip.safetensors"
    save_file(model.state_dict(), str(weights))
    return model, config, weights


def test_open_clip_tiny_checkpoint(tmp_path, monkeypatch):
    import open_clip.factory

    model, config, weights = _tiny_clip_files(tmp_path)
    # a registered architecture name (open_clip's own registry, restored after the test)...
    monkeypatch.setitem(open_clip.factory._MODEL_CONFIGS, "xsent-tiny-clip", json.loads(config.read_text()))
    by_name = load_image_encoder(f"open_clip:xsent-tiny-clip:{weights}")
    # ...and a model-config JSON path give the same encoder
    by_json = load_image_encoder(f"open_clip:{config}:{weights}")
    image = Image.new("RGB", (48, 40), (200, 30, 30))
    for enc in (by_name, by_json):
        assert (enc.info.feature_dim, enc.info.grid_dim, enc.info.grid_tokens) == (16, 32, 16)
        feats = enc.encode([image, image])
        assert feats.pooled.shape == (2, 16) and feats.grid.shape == (2, 16, 32)
        with torch.inference_mode():
            expected = model.encode_image(enc.preprocess([image]))
        torch.testing.assert_close(feats.pooled[:1], expected, atol=1e-5, rtol=1e-5)
    assert by_name.info.fingerprint != by_json.info.fingerprint  # specs differ


def test_hf_vision_tiny_folder(tmp_path):
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    config = Dinov2Config(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, patch_size=8, image_size=32
    )
    Dinov2Model(config).save_pretrained(tmp_path / "dino")
    BitImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        tmp_path / "dino"
    )
    enc = load_image_encoder(f"hf:{tmp_path / 'dino'}")
    assert (enc.info.feature_dim, enc.info.grid_dim, enc.info.grid_tokens) == (32, 32, 16)
    feats = enc.encode([Image.new("RGB", (64, 50), (0, 90, 200))])
    assert feats.pooled.shape == (1, 32) and feats.grid.shape == (1, 16, 32)


def test_bad_specs(tmp_path):
    with pytest.raises(CheckpointError, match="unknown image encoder"):
        load_image_encoder("resnet50")
    with pytest.raises(CheckpointError, match="open_clip checkpoint not found"):
        load_image_encoder(f"open_clip:ViT-B-32:{tmp_path / 'missing.pt'}")
    with pytest.raises(CheckpointError, match="open_clip:ARCH:CHECKPOINT_PATH"):
        load_image_encoder("open_clip:ViT-B-32")
    with pytest.raises(CheckpointError, match="not in the local Hugging Face cache"):
        load_image_encoder("hf:xsent-tests/no-such-vision-model")


def test_feature_cache_key(tmp_path, builtin_image):
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    Image.new("RGB", (4, 4), (1, 2, 3)).save(a)
    b.write_bytes(a.read_bytes())
    Image.new("RGB", (4, 4), (9, 9, 9)).save(c)
    assert feature_cache_key(a, "builtin") == feature_cache_key(b, "builtin")
    assert feature_cache_key(a, "builtin") != feature_cache_key(c, "builtin")
    assert feature_cache_key(a, "builtin") != feature_cache_key(a, "hf:other")
    assert len(feature_cache_key(a, "builtin")) == 64
    assert builtin_image.feature_cache_key(a) == feature_cache_key(a, "builtin")
