"""Encoder adaptation: top-k, LoRA on every layer (peft), full; saved folders and merged inference."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from tests.tiny_encoder import make_tiny_bert
from xsent_core.adaptation import first_live_layer
from xsent_core.methods.base import TrainConfig
from xsent_core.methods.classifier import ClassifierConfig, ClassifierMethod
from xsent_core.methods.tagger import TaggerConfig, TaggerMethod
from xsent_core.registry import load_model, save_model
from xsent_core.training import fit
from xsent_core.encoders.lora import fold_adapters
from xsent_core.types import AspectSpan, CheckpointError, Example, XsentError


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return str(make_tiny_bert(tmp_path_factory.mktemp("encoders") / "tiny-bert"))


def rows() -> list[Example]:
    out = []
    for i in range(16):
        good = i % 2 == 0
        text = "the food was great" if good else "the waiter was rude"
        pol = "positive" if good else "negative"
        out.append(Example(id=str(i), text=text, lang="en", label=pol, spans=(AspectSpan(4, 8 if good else 10, text[4 : 8 if good else 10], pol),)))
    return out


def trainable(model: torch.nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_modes_train_what_they_say(tiny_bert):
    topk = TaggerMethod.create(TaggerConfig(encoder=tiny_bert, adapt="top-k", train_from_layer=1))
    assert all(".layer.1." in n or n.startswith("head.") for n in trainable(topk))
    assert first_live_layer(topk.config) == 1
    lora = TaggerMethod.create(TaggerConfig(encoder=tiny_bert, adapt="lora", lora_rank=2, train_from_layer=1))
    enc = {n for n in trainable(lora) if n.startswith("encoder.")}
    # six projections x two layers x (A, B)
    assert len(enc) == 24 and all(".lora_" in n for n in enc)
    assert any(".layer.0." in n for n in enc)  # every layer, whatever train_from_layer says
    assert first_live_layer(lora.config) == 0
    top_lora = TaggerMethod.create(TaggerConfig(encoder=tiny_bert, adapt="lora", lora_rank=2, lora_from_layer=1))
    enc = {n for n in trainable(top_lora) if n.startswith("encoder.")}
    assert len(enc) == 12 and all(".layer.1." in n and ".lora_" in n for n in enc)
    assert first_live_layer(top_lora.config) == 1  # layer 0 is frozen and cached
    with pytest.raises(CheckpointError, match="lora_from_layer=2 outside"):
        TaggerMethod.create(TaggerConfig(encoder=tiny_bert, adapt="lora", lora_from_layer=2))
    full = TaggerMethod.create(TaggerConfig(encoder=tiny_bert, adapt="full", train_from_layer=1))
    assert any(".layer.0." in n for n in trainable(full))
    assert not any("embeddings" in n for n in trainable(full))
    with pytest.raises(CheckpointError, match="adapt="):
        TaggerMethod.create(TaggerConfig(encoder=tiny_bert, adapt="prefix"))
    with pytest.raises(CheckpointError, match="below_layer=8 outside"):
        TaggerMethod.create(TaggerConfig(encoder=tiny_bert, adapt="top-k", train_from_layer=8))


@pytest.mark.parametrize(
    "cls,config,from_layer", [(TaggerMethod, TaggerConfig, 0), (ClassifierMethod, ClassifierConfig, 0), (TaggerMethod, TaggerConfig, 1)]
)
def test_lora_model_saves_adapters_only_and_reloads_merged_with_identical_output(tmp_path, tiny_bert, cls, config, from_layer):
    torch.manual_seed(0)
    model = cls.create(config(encoder=tiny_bert, adapt="lora", lora_rank=4, lora_alpha=8.0, lora_from_layer=from_layer))
    data = rows()
    fit(model, model.prepare(data), TrainConfig(epochs=3, batch_size=8, lr=1e-2, device="cpu"), progress=False)
    model.eval()
    before = model.predict(data)
    save_model(model, tmp_path / "m", half=False)
    saved = load_file(str(tmp_path / "m" / "model.safetensors"))
    encoder_keys = [k for k in saved if k.startswith("encoder.")]
    assert encoder_keys and all(".lora_" in k for k in encoder_keys)
    # the adapters moved away from zero: training reached them
    assert any(float(saved[k].abs().sum()) > 0 for k in encoder_keys if "lora_B" in k)
    # to predict: adapters folded into plain Linears, no peft module left
    folded = load_model(tmp_path / "m")
    assert not any(hasattr(m, "lora_A") for m in folded.modules())
    assert [p.spans for p in folded.predict(data)] == [p.spans for p in before]
    assert [p.label for p in folded.predict(data)] == [p.label for p in before]
    # to train further: peft adapters back, merged for inference
    loaded = load_model(tmp_path / "m", for_training=True)
    layers = [m for m in loaded.modules() if hasattr(m, "merged") and hasattr(m, "lora_A")]
    assert layers and all(m.merged for m in layers)  # merged for inference speed
    after = loaded.predict(data)
    assert [p.label for p in after] == [p.label for p in before]
    assert [p.spans for p in after] == [p.spans for p in before]
    ids = torch.tensor([[2, 10, 11, 3]])
    with torch.inference_mode():
        assert torch.allclose(folded.encoder(ids, torch.ones_like(ids)), loaded.encoder(ids, torch.ones_like(ids)), atol=1e-5)
    # back to training unmerges; eval merges again; outputs unchanged through the round trip
    loaded.train()
    assert not any(m.merged for m in layers)
    loaded.eval()
    assert [p.spans for p in loaded.predict(data)] == [p.spans for p in before]


def test_folded_model_resaves_its_adapters_and_refuses_training(tmp_path, tiny_bert):
    torch.manual_seed(2)
    model = TaggerMethod.create(TaggerConfig(encoder=tiny_bert, adapt="lora", lora_rank=2, lora_alpha=4.0))
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.5)
    save_model(model, tmp_path / "a")
    folded = load_model(tmp_path / "a")
    save_model(folded, tmp_path / "b")  # the encoder weights stay pretrained on disk: only adapters + head
    assert load_file(str(tmp_path / "b" / "model.safetensors")).keys() == load_file(str(tmp_path / "a" / "model.safetensors")).keys()
    data = rows()
    again = load_model(tmp_path / "b")
    assert [p.spans for p in again.predict(data)] == [p.spans for p in folded.predict(data)]
    from xsent_core.adaptation import trainable_summary

    assert trainable_summary(folded) == trainable_summary(model)  # the card counts the folded adapters as trained
    with pytest.raises(XsentError, match="for_training=True"):
        fit(folded, folded.prepare(data), TrainConfig(epochs=1, batch_size=8, device="cpu"), progress=False)
    trainable_again = load_model(tmp_path / "a", for_training=True)
    fit(trainable_again, trainable_again.prepare(data), TrainConfig(epochs=1, batch_size=8, device="cpu"), progress=False)


def test_fold_adapters_adds_the_scaled_product_hand_checked():
    layer = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        layer[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    a = torch.tensor([[1.0, 2.0]])  # rank 1: A is 1x2, B is 2x1
    b = torch.tensor([[3.0], [-1.0]])
    fold_adapters(layer, {"0.lora_A.default.weight": a, "0.lora_B.default.weight": b}, scale=0.5)
    # W + 0.5 * [[3, 6], [-1, -2]]
    assert torch.equal(layer[0].weight, torch.tensor([[2.5, 3.0], [-0.5, 0.0]]))
    with pytest.raises(ValueError, match="both lora_A and lora_B"):
        fold_adapters(layer, {"0.lora_A.default.weight": a}, scale=1.0)
    with pytest.raises(ValueError, match="no such projection"):
        fold_adapters(layer, {"1.lora_A.default.weight": a, "1.lora_B.default.weight": b}, scale=1.0)
    with pytest.raises(ValueError, match="does not fit"):
        fold_adapters(layer, {"0.lora_A.default.weight": torch.ones(1, 3), "0.lora_B.default.weight": b}, scale=1.0)
    with pytest.raises(ValueError, match="not a LoRA adapter"):
        fold_adapters(layer, {"0.weight": a}, scale=1.0)


def test_lora_file_without_adapters_is_refused(tmp_path, tiny_bert):
    model = TaggerMethod.create(TaggerConfig(encoder=tiny_bert, adapt="lora", lora_rank=2))
    save_model(model, tmp_path / "m")
    from safetensors.torch import save_file

    weights = tmp_path / "m" / "model.safetensors"
    save_file({k: v for k, v in load_file(str(weights)).items() if ".lora_" not in k}, str(weights))
    with pytest.raises(CheckpointError, match="no adapter tensors"):
        load_model(tmp_path / "m")
    with pytest.raises(CheckpointError, match="trained tensors missing"):
        load_model(tmp_path / "m", for_training=True)


def test_loading_weights_into_a_merged_model_is_safe(tmp_path, tiny_bert):
    torch.manual_seed(1)
    a = TaggerMethod.create(TaggerConfig(encoder=tiny_bert, adapt="lora", lora_rank=2)).train()  # unmerged
    for name, p in a.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.5)
    a.eval()
    b = TaggerMethod.create(TaggerConfig(encoder=tiny_bert, adapt="lora", lora_rank=2)).eval()  # merged, B = 0
    b.load_state_dict(a.trained_state_dict(), strict=False)
    data = rows()
    assert [p.spans for p in b.predict(data)] == [p.spans for p in a.predict(data)]
    ids = torch.tensor([[2, 10, 11, 3]])
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        assert torch.allclose(a.encoder(ids, mask), b.encoder(ids, mask), atol=1e-5)


def test_lora_checkpoint_refuses_a_top_k_config(tmp_path, tiny_bert):
    model = TaggerMethod.create(TaggerConfig(encoder=tiny_bert, adapt="lora", lora_rank=2))
    save_model(model, tmp_path / "m")
    import json

    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    meta["config"].update(adapt="top-k", train_from_layer=1)
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="does not have"):
        load_model(tmp_path / "m")


def test_shipped_lora_tagger_loads_to_predict_without_peft():
    """The cold-start saving the fold exists for: no peft import on the app's load path."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    code = (
        "import sys; from xsent_core.registry import load_model; from xsent_core.types import Example\n"
        "m = load_model('assets/models/tagger'); assert m.config.adapt == 'lora', m.config.adapt\n"
        "p = m.predict([Example(id='1', text='The fish was fresh.', lang='en')])[0]\n"
        "print([s.polarity for s in p.spans], 'peft' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "['positive'] False"
