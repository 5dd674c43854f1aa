"""Shared fixtures. Heavy objects (the builtin encoder) load once per session."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# keep the two CPU cores for the test runner itself; results do not depend on it
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# caches (the converted builtin encoder, image features) go to a folder of this run, never the
# user's ~/.cache/xsent; app processes started by tests inherit it. Rebuilding costs ~3 s.
_HOME = tempfile.mkdtemp(prefix="xsent-test-home-")
os.environ["XSENT_HOME"] = _HOME
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
# loaded models run torch: each newly trained model would export its layers to ONNX in a
# background thread, costing CPU in every test; tests/test_onnx_layers.py turns it on where it is tested
os.environ.setdefault("XSENT_ONNX", "0")


@pytest.fixture(scope="session")
def builtin_encoder():
    from xsent_core.encoders.registry import load_text_encoder

    return load_text_encoder("builtin", device="cpu")


@pytest.fixture(scope="session")
def shared_data():
    from xsent_core.paths import shared_data_dir

    path = shared_data_dir()
    if not path.is_dir():
        pytest.fail(f"shared data folder {path} is missing (set XSENT_DATA)")
    return path


@pytest.fixture(scope="session")
def tiny_tagger_dir(tmp_path_factory):
    """A tagger trained for 4 steps (seconds): real weights through the real recipe."""
    from xsent_core.recipes import run_preset

    out = tmp_path_factory.mktemp("models") / "tagger-tiny"
    report = run_preset("tagger", "tagger-tiny", out, progress=False, evaluate_tests=False)
    assert report["status"] == "finished"
    return out


@pytest.fixture(scope="session")
def tiny_classifier_dir(tmp_path_factory):
    from xsent_core.recipes import run_preset

    out = tmp_path_factory.mktemp("models") / "classifier-tiny"
    report = run_preset("classifier", "classifier-tiny", out, progress=False, evaluate_tests=False)
    assert report["status"] == "finished"
    return out


@pytest.fixture(scope="session")
def shots(tmp_path_factory):
    """Where browser tests save screenshots: a temporary folder, or $XSENT_SCREENSHOTS when set
    (XSENT_SCREENSHOTS=benchmarks/results/screenshots refreshes the README's); tests never write tracked files."""
    path = Path(os.environ["XSENT_SCREENSHOTS"]) if os.environ.get("XSENT_SCREENSHOTS") else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
