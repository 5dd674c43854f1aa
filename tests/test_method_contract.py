"""The contract every registered method honours, checked the same way for each (after flair's shared model test).

Each method's smoke preset trains for a few steps; then: its loss on a dev batch is finite and
every term is reported; predictions on awkward input (empty, Zawgyi, 100,000 characters, Burmese,
emoji) are valid with spans inside the text; explain() is JSON; save -> load predicts the same;
no file written is a pickle.
"""
from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import pytest
import torch

from xsent_core.methods.panels import panels_of
from xsent_core.registry import available_methods, load_model, presets, save_model
from xsent_core.types import SENTIMENT_LABELS, Example

ZAWGYI = "ဒီဆိုင္က အစားအေသာက္ အရမ္းေကာင္းတယ္"  # "this shop's food is very good", typed in Zawgyi
INPUTS = [
    Example(id="plain", text="The fish was fresh but the service was painfully slow."),
    Example(id="empty", text=""),
    Example(id="spaces", text="   \n\t "),
    Example(id="burmese", text="ဒီဆိုင်က ဝန်ဆောင်မှု အရမ်းဆိုးတယ်"),
    Example(id="zawgyi", text=ZAWGYI),
    Example(id="emoji", text="Great pho 🍜🍜 but the wait… 😤 (45 min)"),
    Example(id="huge", text="The soup was cold and the staff were rude. " * 2400),  # ~100,000 characters
]
PICKLE_STARTS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def smoke_preset(method: str) -> str:
    found = [name for name, p in presets(method).items() if p.smoke]
    assert found, f"{method} has no smoke preset (Preset(..., smoke=True)) for quick checks"
    return sorted(found, key=len)[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shared_data):
    from xsent_core.recipes import run_preset

    made: dict[str, Path] = {}

    def get(method: str) -> Path:
        if method not in made:
            out = tmp_path_factory.mktemp(f"contract-{method}") / "model"
            run_preset(method, smoke_preset(method), out, progress=False, evaluate_tests=False)
            made[method] = out
        return made[method]

    return get


def dev_examples(method: str, model) -> list[Example]:
    from xsent_core.recipes import load_data

    preset = presets(method)[smoke_preset(method)]
    spec = preset.data.get("dev") or preset.data.get("train")
    rows = load_data(spec)
    if model.task == "sentence":
        rows = [ex for ex in rows if ex.label is not None]
    return rows[:4]


def assert_valid(prediction, example: Example, task: str) -> None:
    assert prediction.label is None or prediction.label in SENTIMENT_LABELS
    if prediction.probs:
        assert set(prediction.probs) <= set(SENTIMENT_LABELS)
        assert all(0.0 <= p <= 1.0 for p in prediction.probs.values())
        assert math.isclose(sum(prediction.probs.values()), 1.0, abs_tol=1e-3)
    if task == "sentence" and example.text.strip():
        assert prediction.label in SENTIMENT_LABELS, (example.id, prediction)
    for span in prediction.spans or ():
        assert 0 <= span.start < span.end <= len(example.text), (example.id, span)
        assert example.text[span.start:span.end] == span.text
        assert span.polarity in SENTIMENT_LABELS
    json.dumps(prediction.to_dict())


def no_pickles(folder: Path) -> None:
    for f in folder.rglob("*"):
        if not f.is_file():
            continue
        head = f.read_bytes()[:2]
        assert head not in PICKLE_STARTS, f"{f} is a pickle"
        if zipfile.is_zipfile(f):  # torch.save's format: a zip holding data.pkl
            assert not any(n.endswith(".pkl") for n in zipfile.ZipFile(f).namelist()), f"{f} holds a pickle"


@pytest.mark.parametrize("method", available_methods())
def test_method_contract(method, trained, tmp_path):
    folder = trained(method)
    model = load_model(folder, expected_method=method)
    assert model.task in ("spans", "sentence")

    # the loss of a real batch: finite, with every term reported beside the total
    model.train()
    import random

    # batches the way the training loop makes them
    batch = next(iter(model.batches(model.prepare(dev_examples(method, model)), 4, False, random.Random(0))))
    losses = model.forward_loss(batch)
    assert "loss" in losses and torch.isfinite(losses["loss"]).all(), losses
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in losses.values())
    model.eval()

    predictions = model.predict(INPUTS)
    assert len(predictions) == len(INPUTS)
    for example, prediction in zip(INPUTS, predictions):
        assert_valid(prediction, example, model.task)
    huge = predictions[-1]
    assert any("truncat" in w.lower() for w in huge.warnings), huge.warnings

    # batches are formed by length; each answer still lands on its own row
    alone = [model.predict([example])[0] for example in INPUTS[:6]]
    for a, b in zip(alone, model.predict(INPUTS[:6][::-1], batch_size=2)[::-1]):
        assert_same(a, b)

    for example in (INPUTS[0], INPUTS[3]):
        explanation = model.explain(example)
        json.dumps(explanation)
        # what the Inspect tab draws: typed panels that rebuild, and one whenever the spec says it shows something
        panels = panels_of(json.loads(json.dumps(explanation)))
        assert bool(panels) == bool(model.spec().shows) or not example.text.strip(), (method, example.text, panels)

    again = save_model(model, tmp_path / "copy")
    reloaded = load_model(again, expected_method=method)
    for a, b in zip(predictions[:6], reloaded.predict(INPUTS[:6])):
        assert_same(a, b)
    no_pickles(folder)
    no_pickles(again)


def assert_same(a, b) -> None:
    assert a.label == b.label and [(s.start, s.end, s.polarity) for s in a.spans or ()] == \
        [(s.start, s.end, s.polarity) for s in b.spans or ()]
    for k, p in (a.probs or {}).items():
        assert math.isclose(p, b.probs[k], abs_tol=1e-4)
