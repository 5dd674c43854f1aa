"""Model folders: round trip, and clear refusals for missing, corrupt or foreign checkpoints."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch

from tests.toy_method import ToyConfig, ToyMethod, toy_examples
from xsent_core.config import config_from_dict
from xsent_core.registry import load_model, method_class, read_model_card, save_model
from xsent_core.types import CheckpointError

CLASSES = {"toy": ToyMethod}


@pytest.fixture()
def saved(tmp_path):
    torch.manual_seed(0)
    model = ToyMethod(ToyConfig())
    path = save_model(model, tmp_path / "toy", metrics={"accuracy": 0.5})
    return model, path


def test_round_trip_identical_predictions(saved):
    model, path = saved
    loaded = load_model(path, expected_method="toy", classes=CLASSES)
    rows = toy_examples(9)
    assert [p.probs for p in loaded.predict(rows)] == [p.probs for p in model.predict(rows)]
    assert read_model_card(path).metrics == {"accuracy": 0.5}


def test_half_precision_save_is_close(tmp_path, saved):
    model, _ = saved
    path = save_model(model, tmp_path / "half", half=True)
    loaded = load_model(path, classes=CLASSES)
    for a, b in zip(model.predict(toy_examples(6)), loaded.predict(toy_examples(6))):
        assert a.label == b.label
        assert all(abs(a.probs[k] - b.probs[k]) < 1e-2 for k in a.probs)


def test_save_replaces_atomically(tmp_path, saved):
    model, path = saved
    save_model(model, path, metrics={"accuracy": 0.9})
    assert read_model_card(path).metrics == {"accuracy": 0.9}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_missing_folder(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "nope", classes=CLASSES)


def test_wrong_method_is_named(saved):
    _, path = saved
    with pytest.raises(CheckpointError, match="holds a 'toy' model, not a 'tagger' model"):
        load_model(path, expected_method="tagger", classes=CLASSES)


def test_other_encoder_is_refused_naming_both(saved, monkeypatch):
    _, path = saved
    meta = json.loads((path / "config.json").read_text())
    meta["encoder_fingerprint"] = "xlm-roberta-base/768x12"
    (path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="xlm-roberta-base/768x12.*'none'"):
        load_model(path, classes=CLASSES)


def test_corrupt_weights(saved):
    _, path = saved
    (path / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(path, classes=CLASSES)


def test_shape_mismatch(saved):
    _, path = saved
    meta = json.loads((path / "config.json").read_text())
    meta["config"]["hidden"] = 32
    (path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="shape"):
        load_model(path, classes=CLASSES)


def test_invalid_config_json(saved):
    _, path = saved
    (path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="invalid JSON at line 1"):
        load_model(path, classes=CLASSES)


def test_not_an_xsent_model(saved):
    _, path = saved
    (path / "config.json").write_text(json.dumps({"architectures": ["BertModel"]}))
    with pytest.raises(CheckpointError, match="not an xsent model"):
        load_model(path, classes=CLASSES)


def test_unknown_method():
    with pytest.raises(CheckpointError, match="unknown method 'nope'"):
        method_class("nope")


@dataclass(frozen=True)
class _Cfg:
    a: int = 1
    b: float = 0.5
    c: str | None = None
    d: tuple[str, ...] = ()


def test_config_validation():
    assert config_from_dict(_Cfg, {"a": 2, "b": 1, "d": ["x"]}) == _Cfg(a=2, b=1.0, d=("x",))
    with pytest.raises(CheckpointError, match="unknown config keys"):
        config_from_dict(_Cfg, {"zzz": 1})
    with pytest.raises(CheckpointError, match="expected an integer"):
        config_from_dict(_Cfg, {"a": "2"})
    with pytest.raises(CheckpointError, match="matches none"):
        config_from_dict(_Cfg, {"c": 3})
