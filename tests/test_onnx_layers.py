"""The ONNX Runtime layer runner: same outputs as torch, a shared on-disk cache, steps aside when weights change."""
from __future__ import annotations

import copy

import pytest
import torch

from xsent_core.encoders import onnx_layers
from xsent_core.encoders.onnx_layers import OnnxLayers

pytestmark = pytest.mark.skipif(not onnx_layers.available(), reason="onnx / onnxruntime not installed")

TEXTS = ["The fish was fresh but the service was painfully slow.", "ok", "ဒီဆိုင်က ဝန်ဆောင်မှု အရမ်းဆိုးတယ်"]


@pytest.fixture()
def two_layer_encoder(builtin_encoder):
    """A private copy of the builtin encoder cut to its first two layers (exports in ~1 s)."""
    enc = copy.deepcopy(builtin_encoder).eval()
    enc.model.encoder.layer = enc.model.encoder.layer[:2]
    enc.info = type(enc.info)(**{**enc.info.__dict__, "num_layers": 2})
    return enc


def _inputs(enc):
    batch = enc.encode_texts(TEXTS)  # padded: rows of 3 different lengths
    with torch.inference_mode():
        return enc.embed_tokens(batch["input_ids"]), batch["attention_mask"]


def test_onnx_layers_match_torch_on_a_padded_batch_and_are_used(two_layer_encoder, tmp_path):
    enc = two_layer_encoder
    hidden, mask = _inputs(enc)
    with torch.inference_mode():
        expected = enc.run_layers(hidden, mask, 0, 2)
        runner = OnnxLayers(enc.layers, 384, tmp_path, threads=1, background=False)
        assert runner.error is None and runner.ready.is_set()
        enc.onnx_layers = runner
        got = runner.run(hidden, mask, 0, 2)
        assert got is not None  # served by ONNX Runtime, not handed back to torch
        through_encoder = enc.run_layers(hidden, mask, 0, 2)
        one_layer = enc.run_layers(hidden, mask, 1, 2)
    real = mask.bool()
    assert float((got - expected)[real].abs().max()) < 1e-4
    assert torch.equal(through_encoder, got)
    with torch.inference_mode():
        enc.onnx_layers = None
        assert float((one_layer - enc.run_layers(hidden, mask, 1, 2))[real].abs().max()) < 1e-4


def test_torch_serves_while_training_with_grad_or_a_large_batch(two_layer_encoder, tmp_path):
    enc = two_layer_encoder
    hidden, mask = _inputs(enc)
    runner = OnnxLayers(enc.layers, 384, tmp_path, threads=1, background=False)
    enc.onnx_layers = runner
    calls = []
    original = runner.run
    runner.run = lambda *a: calls.append(1) or original(*a)  # type: ignore[method-assign]
    with torch.no_grad():
        enc.train()
        enc.run_layers(hidden, mask, 0, 2)  # dropout on: torch
        enc.eval()
    enc.run_layers(hidden.clone().requires_grad_(True), mask, 0, 2)  # gradients wanted: torch
    assert calls == []
    runner.max_tokens = 4  # 3 rows x their length is more
    with torch.inference_mode():
        assert runner.run(hidden, mask, 0, 2) is None


def test_changed_weights_send_inference_back_to_torch(two_layer_encoder, tmp_path):
    enc = two_layer_encoder
    hidden, mask = _inputs(enc)
    runner = OnnxLayers(enc.layers, 384, tmp_path, threads=1, background=False)
    enc.onnx_layers = runner
    with torch.no_grad():
        enc.layers[1].output.dense.weight.mul_(0.5)  # what an optimizer step or load_state_dict does
    with torch.inference_mode():
        assert runner.run(hidden, mask, 0, 2) is None
        changed = enc.run_layers(hidden, mask, 0, 2)
        enc.onnx_layers = None
        assert torch.equal(changed, enc.run_layers(hidden, mask, 0, 2))
    assert copy.deepcopy(runner) is None  # a copy may be trained: it runs torch
    enc.onnx_layers = OnnxLayers(enc.layers, 384, tmp_path, threads=1, background=False)
    enc.add_lora(rank=2, alpha=4.0, dropout=0.0, from_layer=1)  # swaps modules: the graphs no longer match
    assert enc.onnx_layers is None


def test_weights_changed_during_the_build_leave_no_graph_under_the_old_name(two_layer_encoder, tmp_path, monkeypatch):
    enc = two_layer_encoder
    real_deepcopy = copy.deepcopy

    def train_meanwhile(obj, memo=None):  # an optimizer step lands while the first layer is snapshot
        out = real_deepcopy(obj, memo)
        with torch.no_grad():
            enc.layers[0].output.dense.bias.add_(1.0)
        return out

    monkeypatch.setattr(onnx_layers.copy, "deepcopy", train_meanwhile)
    runner = OnnxLayers(enc.layers, 384, tmp_path, threads=1, background=False)
    monkeypatch.undo()
    assert list(tmp_path.glob("layer-*.onnx")) == []
    hidden, mask = _inputs(enc)
    with torch.inference_mode():
        assert runner.run(hidden, mask, 0, 2) is None


def test_cache_is_shared_by_weights_and_a_broken_file_is_exported_again(two_layer_encoder, tmp_path):
    enc = two_layer_encoder
    OnnxLayers(enc.layers, 384, tmp_path, threads=1, background=False)
    files = sorted(tmp_path.glob("layer-*.onnx"))
    assert len(files) == 2
    stamps = [f.stat().st_mtime_ns for f in files]
    again = OnnxLayers(enc.layers, 384, tmp_path, threads=1, background=False)
    assert [f.stat().st_mtime_ns for f in files] == stamps and again.error is None  # reused, not re-exported
    files[0].write_bytes(b"not an onnx graph")
    hidden, mask = _inputs(enc)
    repaired = OnnxLayers(enc.layers, 384, tmp_path, threads=1, background=False)
    assert repaired.error is None and files[0].stat().st_size > 1000
    with torch.inference_mode():
        assert repaired.run(hidden, mask, 0, 2) is not None
    other = copy.deepcopy(enc.layers[0])
    with torch.no_grad():
        other.output.dense.bias.add_(1.0)
    assert onnx_layers.layer_digest(other) != onnx_layers.layer_digest(enc.layers[0])


def test_load_model_attaches_the_runner_unless_turned_off(monkeypatch, tmp_path):
    from xsent_core.paths import shipped_models_dir
    from xsent_core.registry import load_model

    path = shipped_models_dir() / "classifier"
    if not (path / "model.safetensors").is_file():
        pytest.skip("shipped classifier not present")
    monkeypatch.setenv("XSENT_ONNX", "1")
    monkeypatch.setattr(onnx_layers, "cache_folder", lambda: tmp_path)
    model = load_model(path)
    assert isinstance(model.encoder.onnx_layers, OnnxLayers)
    assert model.encoder.onnx_layers.ready.wait(120) and model.encoder.onnx_layers.error is None
    from xsent_core.types import Example

    runner = model.encoder.onnx_layers
    served = []
    original = runner.run
    runner.run = lambda *a: served.append(original(*a) is not None) or original(*a)  # type: ignore[method-assign]
    fast = model.predict([Example(id="a", text=TEXTS[0])])[0]
    assert served and all(served)  # ONNX Runtime answered every call of this prediction
    model.encoder.onnx_layers = None
    slow = model.predict([Example(id="a", text=TEXTS[0])])[0]
    assert fast.label == slow.label and max(abs(fast.probs[k] - slow.probs[k]) for k in fast.probs) < 1e-4
    assert load_model(path, onnx=False).encoder.onnx_layers is None
    monkeypatch.setenv("XSENT_ONNX", "0")
    assert load_model(path).encoder.onnx_layers is None


def test_a_process_that_exits_while_layers_export_exits_cleanly(tmp_path):
    """A short CLI run on an empty cache used to abort at exit (status 134, "terminate called without an active
    exception"): the export thread was killed inside ONNX Runtime. Exit now stops it after the layer in hand."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    script = (
        "import sys; from pathlib import Path\n"
        f"sys.path.insert(0, {str(root)!r})\n"
        "from xsent_core.encoders.registry import load_text_encoder\n"
        "from xsent_core.encoders.onnx_layers import OnnxLayers\n"
        "enc = load_text_encoder('builtin').eval()\n"
        "runner = OnnxLayers(enc.layers, 384, Path(sys.argv[1]), threads=1, background=True)\n"
        "assert not runner.ready.is_set()  # exits while the export runs\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "cache")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "terminate called" not in done.stderr
    assert not list((tmp_path / "cache").glob("*.tmp"))  # the layer in hand was finished, not left half-written


def test_runners_built_at_once_take_turns_exporting(two_layer_encoder, tmp_path):
    """torch.onnx.export is process-wide: two models loading together once left one of them in torch
    ("GLOBALS.in_onnx_export must be False")."""
    other = copy.deepcopy(two_layer_encoder)
    with torch.no_grad():  # other weights, so both runners export rather than share a cached file
        for p in other.parameters():
            p.mul_(1.01)
    runners = [OnnxLayers(enc.layers, 384, tmp_path, threads=1) for enc in (two_layer_encoder, other)]
    for runner in runners:
        assert runner.ready.wait(120)
    assert [r.error for r in runners] == [None, None]
    assert len(list(tmp_path.glob("layer-*.onnx"))) == 4
