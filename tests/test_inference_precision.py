"""int8 inference: which layers are swapped, what a saved model serves at, and refusals."""
from __future__ import annotations

import json

import pytest
import torch

from tests.tiny_encoder import make_tiny_bert
from xsent_core.encoders.quantize import SmoothedLinear, is_quantized, keeps_fp32, quantize_text_encoder, smooth_linears
from xsent_core.methods.classifier import ClassifierConfig, ClassifierMethod
from xsent_core.methods.tagger import TaggerConfig, TaggerMethod
from xsent_core.registry import load_model, read_model_card, record_card_fields, record_inference_check, save_model
from xsent_core.types import Example


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return str(make_tiny_bert(tmp_path_factory.mktemp("encoders") / "tiny-bert"))


def rows() -> list[Example]:
    return [Example(id=str(i), text=t) for i, t in enumerate(["the food was great", "the waiter was rude", "ok", "x " * 40])]


def test_only_the_text_encoder_linears_are_swapped_and_outputs_stay_close(tiny_bert):
    torch.manual_seed(0)
    model = ClassifierMethod.create(ClassifierConfig(encoder=tiny_bert, train_from_layer=1)).eval()
    linears = [n for n, m in model.encoder.model.named_modules() if type(m) is torch.nn.Linear]
    before = model.predict(rows())
    used = [n for n in linears if "pooler" not in n]  # the pooler never runs: not calibrated, not swapped
    assert quantize_text_encoder(model.encoder) == len([n for n in used if not keeps_fp32(n)]) > 0
    assert is_quantized(model.encoder)
    still_float = [n for n, m in model.encoder.model.named_modules() if type(m) is torch.nn.Linear]
    assert still_float == [n for n in linears if keeps_fp32(n) or "pooler" in n] and all(n.endswith(("layer.0.output.dense", "layer.1.output.dense", "pooler.dense")) for n in still_float)
    assert not is_quantized(model.head)  # heads keep their float weights
    after = model.predict(rows())
    for a, b in zip(before, after):
        assert max(abs(a.probs[k] - b.probs[k]) for k in a.probs) < 0.05
    assert quantize_text_encoder(model.encoder) == 0  # nothing left to swap


def test_smoothing_moves_the_scale_into_the_weights_without_changing_the_product(tiny_bert):
    torch.manual_seed(0)
    linear = torch.nn.Linear(3, 2)
    x = torch.tensor([[1.0, -40.0, 0.5], [2.0, 10.0, -0.25]])
    expected = linear(x)
    scale = torch.tensor([1.0, 8.0, 0.5])
    smoothed = torch.nn.Linear(3, 2)
    smoothed.weight.data = linear.weight.data * scale[None, :]
    smoothed.bias.data = linear.bias.data.clone()
    assert torch.allclose(SmoothedLinear(1.0 / scale, smoothed)(x), expected, atol=1e-6)

    model = ClassifierMethod.create(ClassifierConfig(encoder=tiny_bert, train_from_layer=1)).eval()
    texts = ["the food was great", "le service était lent"]
    before = model.encoder.embed_sentences(texts)
    names = smooth_linears(model.encoder, texts, alpha=0.8)
    assert names and not any(keeps_fp32(n) for n in names)
    wrapped = dict(model.encoder.model.named_modules())
    assert all(isinstance(wrapped[n], SmoothedLinear) for n in names)
    assert torch.allclose(torch.from_numpy(model.encoder.embed_sentences(texts)), torch.from_numpy(before), atol=1e-5)


def test_a_saved_model_serves_at_its_recorded_precision(tiny_bert, tmp_path):
    torch.manual_seed(0)
    path = save_model(TaggerMethod.create(TaggerConfig(encoder=tiny_bert, train_from_layer=1)), tmp_path / "tagger")
    assert read_model_card(path).measured_precision == "fp32"  # never checked: fp32
    assert load_model(path).precision == "fp32"
    forced = load_model(path, precision="int8")
    assert forced.precision == "int8" and is_quantized(forced)
    assert len(forced.predict(rows())) == 4

    record_inference_check(path, {"precision": "int8", "worst_abs_delta": 0.001})
    assert read_model_card(path).inference["worst_abs_delta"] == 0.001
    assert load_model(path).precision == "int8"
    assert load_model(path, precision="fp32").precision == "fp32"
    assert [p.name for p in tmp_path.joinpath("tagger").iterdir() if p.name.startswith(".")] == []

    record_card_fields(path, {"training": {**read_model_card(path).training, "seconds": 12.5}})
    card = read_model_card(path)
    assert card.training["seconds"] == 12.5 and card.inference["worst_abs_delta"] == 0.001  # other fields kept

    record_inference_check(path, {"precision": "int8-fast"})  # not a precision this version knows
    assert load_model(path).precision == "fp32"
    meta = json.loads((path / "config.json").read_text(encoding="utf-8"))
    meta["inference"] = "int8"  # hand-edited into the wrong type
    (path / "config.json").write_text(json.dumps(meta), encoding="utf-8")
    assert read_model_card(path).inference == {} and load_model(path).precision == "fp32"


def test_unknown_precision_and_int8_training_are_refused(tiny_bert, tmp_path):
    path = save_model(TaggerMethod.create(TaggerConfig(encoder=tiny_bert, train_from_layer=1)), tmp_path / "tagger")
    with pytest.raises(ValueError, match="unknown inference precision 'fp8'"):
        load_model(path, precision="fp8")
    with pytest.raises(ValueError, match="int8 is an inference precision"):
        load_model(path, precision="int8", for_training=True)
    assert not is_quantized(load_model(path, for_training=True))
