"""M2SA's image path: it learns, features are cached by file hash, and bad images
fail one row (with a reason) instead of the batch, in the API and the CLI."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from PIL import Image

from xsent_core.methods.base import TrainConfig
from xsent_core.methods.m2sa import M2saConfig, M2saMethod
from xsent_core.methods.m2sa.model import NOT_TRAINED_ON_IMAGES, TEXT_ONLY_MODEL
from xsent_core.training import fit
from xsent_core.types import Example

# Texts carry no information: each appears equally often with every label.
NEUTRAL_TEXTS = ("Here is the picture.", "Voici la photo.", "Смотрите фото.")
# The label depends only on which picture a crop comes from.
SOURCES = {"negative": "camera", "neutral": "coffee", "positive": "chelsea"}
TRAIN_PER_CLASS, TEST_PER_CLASS = 9, 6


def _crops(name: str, n: int, rng: random.Random) -> list[Image.Image]:
    import skimage.data

    arr = getattr(skimage.data, name)()
    img = Image.fromarray(arr)  # camera() is greyscale: load_image must turn it into RGB
    w, h = img.size
    out = []
    for _ in range(n):
        s = rng.uniform(0.55, 0.95)
        cw, ch = int(w * s), int(h * s)
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        crop = img.crop((x, y, x + cw, y + ch))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        out.append(crop)
    return out


@pytest.fixture(scope="module")
def image_set(tmp_path_factory):
    """Train/test Examples whose label depends only on the image (saved as PNG/JPEG files)."""
    root = tmp_path_factory.mktemp("m2sa-images")
    rng = random.Random(0)
    split_rows = {"train": [], "test": []}
    for label, source in SOURCES.items():
        crops = _crops(source, TRAIN_PER_CLASS + TEST_PER_CLASS, rng)
        for k, crop in enumerate(crops):
            split = "train" if k < TRAIN_PER_CLASS else "test"
            path = root / f"{source}-{k}.{'png' if k % 2 else 'jpg'}"
            crop.save(path)
            split_rows[split].append(
                Example(id=path.stem, text=NEUTRAL_TEXTS[k % len(NEUTRAL_TEXTS)], label=label, image=str(path))
            )
    return split_rows


@pytest.fixture(scope="module")
def encoders():
    from xsent_core.encoders.image import load_image_encoder
    from xsent_core.encoders.registry import load_text_encoder

    return load_text_encoder("builtin"), load_image_encoder("builtin")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh cache root: the feature cache starts empty (encoders are already loaded)."""
    monkeypatch.setenv("XSENT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _train(model: M2saMethod, rows, epochs: int = 15):
    items, report = model.prepare_with_report(rows)
    # all text layers frozen (train_from_layer=12): only the head (and image norm) learn
    fit(model, items, TrainConfig(epochs=epochs, batch_size=12, head_lr=3e-3, warmup_ratio=0.0, seed=0),
        progress=False)
    return report


def _accuracy(model: M2saMethod, rows) -> float:
    preds = model.predict(rows)
    return float(np.mean([p.label == ex.label for p, ex in zip(preds, rows)]))


@pytest.fixture(scope="module")
def trained_both(image_set, encoders):
    """The paper's model (text + image), trained once for this module (head only)."""
    text_enc, image_enc = encoders
    torch.manual_seed(0)
    model = M2saMethod(M2saConfig(modality="both", train_from_layer=12), text_enc, image_enc)
    report = _train(model, image_set["train"])
    return model, report


def test_image_path_learns_where_text_cannot(image_set, encoders, trained_both):
    text_enc, image_enc = encoders
    both, report = trained_both
    assert report["with_image"] == 3 * TRAIN_PER_CLASS and report["bad_images"] == []
    assert int(both.images_seen) > 0 and both.trained_on_images
    acc_both = _accuracy(both, image_set["test"])

    torch.manual_seed(0)
    text_only = M2saMethod(M2saConfig(modality="text", train_from_layer=12), text_enc, None)
    report_text = _train(text_only, image_set["train"])
    assert report_text["images_ignored"] == 3 * TRAIN_PER_CLASS
    acc_text = _accuracy(text_only, image_set["test"])

    torch.manual_seed(0)
    image_only = M2saMethod(M2saConfig(modality="image"), None, image_enc)
    _train(image_only, image_set["train"])
    acc_image = _accuracy(image_only, image_set["test"])

    assert acc_both >= 0.9, acc_both
    assert acc_image >= 0.9, acc_image
    # each test text appears once with every label, so a text-only model is at chance exactly
    assert acc_text <= 0.34, acc_text

    # with an image, the image half carries most of the decision
    shares = [p.extras["modality_share"]["image"] for p in both.predict(image_set["test"])]
    assert np.mean(shares) > 0.5
    out = both.explain(image_set["test"][0])
    assert out["image_used"] is True
    for lab in out["logits"]:
        total = sum(out["logit_parts"][part][lab] for part in ("text", "image", "prior"))
        assert total == pytest.approx(out["logits"][lab], abs=1e-4)
    assert text_only.predict(image_set["test"][:1])[0].warnings == (TEXT_ONLY_MODEL,)


def test_features_are_cached_by_file_hash(image_set, encoders, home, tmp_path, monkeypatch):
    text_enc, image_enc = encoders
    rows = image_set["train"][:6]
    model = M2saMethod(M2saConfig(modality="image"), None, image_enc)
    _, first = model.prepare_with_report(rows)
    assert first["images_encoded"] == 6 and first["images_from_cache"] == 0
    files = list((home / "features").rglob("*.safetensors"))
    assert len(files) == 6
    assert all(f.parent.parent.name.startswith("builtin-") for f in files)

    # the same bytes under another name are found again; the encoder is never run
    copy = tmp_path / "renamed.png"
    copy.write_bytes(open(rows[0].image, "rb").read())
    renamed = Example(id="copy", text="", label="neutral", image=str(copy))

    def boom(*args, **kwargs):
        raise AssertionError("image encoder ran despite the cache")

    monkeypatch.setattr(image_enc, "forward", boom)
    _, second = model.prepare_with_report([*rows, renamed])
    assert second["images_from_cache"] == 7 and second["images_encoded"] == 0
    assert all(p.error is None for p in model.predict([*rows, renamed]))


def test_bad_images_are_listed_and_skipped(image_set, encoders, tmp_path):
    text_enc, image_enc = encoders
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    rows = [
        *image_set["train"][:4],
        Example(id="missing", text="Look!", label="positive", image=str(tmp_path / "nope.jpg")),
        Example(id="corrupt", text="Look!", label="negative", image=str(corrupt)),
        Example(id="text", text="No picture here.", label="neutral"),
    ]
    skip = M2saMethod(M2saConfig(modality="both", train_from_layer=12), text_enc, image_enc)
    items, report = skip.prepare_with_report(rows)
    assert [b["id"] for b in report["bad_images"]] == ["missing", "corrupt"]
    assert "not found" in report["bad_images"][0]["error"] and "corrupt" in report["bad_images"][1]["error"]
    assert len(items) == 5 and report["skipped"] == 2
    as_text = M2saMethod(M2saConfig(modality="both", train_from_layer=12, bad_images="text"), text_enc, image_enc)
    items, report = as_text.prepare_with_report(rows)
    assert len(items) == 7 and sum(it.image is None for it in items) == 3
    strict = M2saMethod(M2saConfig(modality="both", train_from_layer=12, bad_images="error"), text_enc, image_enc)
    from xsent_core.types import InputError

    with pytest.raises(InputError, match="2 training rows have unreadable images: missing: .*corrupt"):
        strict.prepare_with_report(rows)


@pytest.fixture(scope="module")
def image_model_dir(trained_both, tmp_path_factory):
    """The module's text + image model, saved as a shipped model would be (fp16)."""
    from xsent_core.registry import save_model

    out = tmp_path_factory.mktemp("m2sa-model") / "with-images"
    save_model(trained_both[0], out, half=True)
    return out


def _rows_file(tmp_path, image_set):
    """JSONL with images relative to the file: good, missing, corrupt, none, and empty text + image."""
    folder = tmp_path / "batch"
    (folder / "img").mkdir(parents=True)
    good = image_set["test"][0]
    (folder / "img" / "good.jpg").write_bytes(open(good.image, "rb").read())
    (folder / "img" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    rows = [
        {"id": "good", "text": "Here is the picture.", "image": "img/good.jpg"},
        {"id": "missing", "text": "Look at this!", "image": "img/missing.jpg"},
        {"id": "corrupt", "text": "Look at this!", "image": "img/corrupt.png"},
        {"id": "text", "text": "The food was excellent."},
        {"id": "image-only", "text": "", "image": "img/good.jpg"},
    ]
    path = folder / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_cli_predict_with_images_reports_bad_rows(image_set, image_model_dir, tmp_path, capsys):
    from xsent_core.cli import main

    rows = _rows_file(tmp_path, image_set)
    out = tmp_path / "out.jsonl"
    code = main(["predict", "--method", "m2sa", "--model", str(image_model_dir), "--input", str(rows),
                 "--output", str(out), "--batch-size", "16"])
    assert code == 0, capsys.readouterr().err
    got = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert list(got) == ["good", "missing", "corrupt", "text", "image-only"]
    for rid in ("missing", "corrupt"):
        assert "label" not in got[rid] and "error" in got[rid]
    assert "not found" in got["missing"]["error"] and "missing.jpg" in got["missing"]["error"]
    assert "corrupt" in got["corrupt"]["error"] or "not an image" in got["corrupt"]["error"]
    for rid in ("good", "text", "image-only"):
        assert got[rid]["label"] in got[rid]["probs"] and "error" not in got[rid]
    assert got["good"]["extras"]["image_used"] is True
    assert got["text"]["extras"]["image_used"] is False
    assert got["image-only"]["extras"]["image_used"] is True  # empty text is fine when there is an image


def test_model_trained_without_images_says_so(image_set, encoders, tmp_path):
    text_enc, image_enc = encoders
    model = M2saMethod(M2saConfig(modality="both", train_from_layer=12), text_enc, image_enc)
    assert not model.trained_on_images
    rows = [
        image_set["test"][0],
        Example(id="missing", text="x", image=str(tmp_path / "missing.jpg")),
        Example(id="plain", text="Nice."),
    ]
    preds = model.predict(rows)
    assert preds[0].error is None and NOT_TRAINED_ON_IMAGES in preds[0].warnings
    assert preds[0].extras["image_used"] is False
    assert preds[1].error is not None and "not found" in preds[1].error
    assert preds[2].error is None


def test_image_only_model_needs_an_image(encoders):
    _, image_enc = encoders
    model = M2saMethod(M2saConfig(modality="image"), None, image_enc)
    pred = model.predict([Example(id="t", text="only words")])[0]
    assert pred.label is None and "needs an image" in pred.error


def test_cli_default_model_predicts_a_batch_with_images(image_set, tmp_path, capsys):
    """`predict --method m2sa` with no --model uses the shipped weights (trained on text only)."""
    from xsent_core.cli import default_model_dir, main

    assert (default_model_dir("m2sa") / "model.safetensors").is_file(), "shipped assets/models/m2sa is missing"
    rows = _rows_file(tmp_path, image_set)
    out = tmp_path / "out.jsonl"
    code = main(["predict", "--method", "m2sa", "--input", str(rows), "--output", str(out)])
    assert code == 0, capsys.readouterr().err
    got = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert "error" in got["missing"] and "error" in got["corrupt"]
    assert got["good"]["label"] in got["good"]["probs"] and NOT_TRAINED_ON_IMAGES in got["good"]["warnings"]
    assert got["text"]["label"] in got["text"]["probs"] and "warnings" not in got["text"]
