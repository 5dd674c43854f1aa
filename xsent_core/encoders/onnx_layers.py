"""ONNX Runtime for the encoder's layers at inference: the CPU fast path for fp32 models.

Measured on the 2-core machine (benchmarks/onnx_layers.py, 2 threads): one
11-token sentence through the builtin encoder's 12 layers takes 43.7 ms in eager
torch and 18.1 ms in ONNX Runtime; batches of 32 rows 1.2-1.6x faster; the
outputs agree to ~2e-6. So, for inference only, each encoder layer is exported
once to ONNX and run by ONNX Runtime.

Layers are exported one by one because methods run the encoder layer by layer
(cached lower states, static vectors from a middle layer); each file is named
by a hash of its layer's weights, so layers a model did not change (a LoRA
model's lower layers) are shared with every other model, and a model whose
weights differ gets its own. The files live in `xsent_home()/onnx-layers`
(a cache: delete it any time). Export and session set-up run in a background
thread: until they are ready, torch serves, so loading a model never waits.
The runner is used only while the layers' weights are the ones exported: any
in-place change (training, `load_state_dict`) bumps torch's version counters
and the runner steps aside for good.
"""
from __future__ import annotations

import atexit
import copy
import hashlib
import logging
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any, Sequence

import torch

log = logging.getLogger("xsent.onnx")

# Largest batch (rows x padded sub-tokens) sent to ONNX Runtime; None: every batch. No shape
# measured was slower in ONNX Runtime (benchmarks/results/onnx_layers.json: 0.99-2.42x torch's speed).
MAX_TOKENS: int | None = None
EXPORT_VERSION = "1"  # part of each file's name: bump when the exported graph changes


def available() -> bool:
    """Whether onnx (export) and onnxruntime (run) are importable."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def cache_folder() -> Path:
    from ..paths import xsent_home

    return xsent_home() / "onnx-layers"


class _LayerWithMask(torch.nn.Module):
    """One encoder layer taking a [B, T] 0/1 mask, as `TextEncoder.run_layers` gives it."""

    def __init__(self, layer: torch.nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        additive = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        out = self.layer(hidden, additive)
        return out[0] if isinstance(out, tuple) else out


def layer_digest(layer: torch.nn.Module) -> str:
    """Hash of a layer's class, tensor names, shapes and values (fp32), plus the export version."""
    import transformers

    h = hashlib.sha256(
        f"{EXPORT_VERSION}:{type(layer).__module__}.{type(layer).__qualname__}:{torch.__version__}:"
        f"{transformers.__version__}:{getattr(layer, 'config', '')!r}".encode()
    )
    for name, tensor in sorted(layer.state_dict().items()):
        t = tensor.detach().to("cpu", torch.float32).contiguous()
        h.update(f"{name}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:24]


# torch.onnx.export keeps process-wide state (it asserts it is not already exporting), so two
# runners building at once (the app loading several models) must take turns; a lock per runner
# would not see the other runners
_EXPORT_TURN = threading.Lock()


def export_layer(layer: torch.nn.Module, hidden_size: int, path: Path) -> None:
    """Write `layer` as an ONNX graph with dynamic batch and length (atomically)."""
    with _EXPORT_TURN:
        _export_layer(layer, hidden_size, path)


def _export_layer(layer: torch.nn.Module, hidden_size: int, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapped = _LayerWithMask(layer).eval()
    hidden = torch.zeros((2, 5, hidden_size))
    mask = torch.ones((2, 5), dtype=torch.long)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # the tracer notes shape-dependent Python branches of the attention code; with a mask
            # given they take the same way for every batch and length (checked by the tests)
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapped, (hidden, mask), tmp, input_names=["hidden", "mask"], output_names=["out"],
                dynamic_axes={"hidden": {0: "rows", 1: "tokens"}, "mask": {0: "rows", 1: "tokens"},
                              "out": {0: "rows", 1: "tokens"}},
                opset_version=17, dynamo=False,
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _weight_tensors(layers: Sequence[torch.nn.Module]) -> list[torch.Tensor]:
    return [t for layer in layers for t in [*layer.parameters(), *layer.buffers()]]


def _versions(tensors: Sequence[torch.Tensor]) -> tuple[int, ...]:
    """torch's in-place version counter of each weight: it moves whenever a weight is written
    (an optimizer step, `load_state_dict`, merging LoRA). Module swaps (int8, adding LoRA)
    clear the runner explicitly instead (`quantize_text_encoder`, `TextEncoder.add_lora`)."""
    return tuple(t._version for t in tensors)


class OnnxLayers:
    """ONNX Runtime sessions for an encoder's layers, built in the background.

    `run(hidden, mask, start, stop)` returns the layers' output, or None when the
    runner cannot serve this call (not ready yet, batch too large, weights changed
    since export): the caller then runs torch.
    """

    def __init__(self, layers: Sequence[torch.nn.Module], hidden_size: int, folder: Path, threads: int,
                 background: bool = True) -> None:
        self._layers = list(layers)
        self._hidden_size = hidden_size
        self._folder = folder
        self._threads = max(1, threads)
        self._sessions: list[Any] | None = None
        self._stale = False
        self.max_tokens = MAX_TOKENS
        self.error: str | None = None
        self.ready = threading.Event()
        self._tensors = _weight_tensors(self._layers)  # walked once: a module walk per call costs ~3 ms
        if any(t.is_inference() for t in self._tensors):  # made under inference_mode: no version counter to watch
            self._tensors, self._weights = [], ()
            self.error = "weights created under torch.inference_mode(): their changes cannot be tracked"
            self.ready.set()
            return
        self._weights = _versions(self._tensors)
        self._stop = threading.Event()
        if background:
            builder = threading.Thread(target=self._build, name="xsent-onnx-layers", daemon=True)
            # a daemon thread killed inside ONNX Runtime at interpreter exit aborts the process (exit status
            # 134 after a short CLI run on an empty cache): at exit, stop after the layer in hand and wait
            atexit.register(_stop_build, self._stop, builder)
            builder.start()
        else:
            self._build()

    def __deepcopy__(self, memo: dict) -> None:
        return None  # a copy's weights may change: it runs torch

    def _build(self) -> None:
        try:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = self._threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
            # idle threads sleep instead of spinning: the app's other work (training jobs) keeps its CPU
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            sessions = []
            for layer in self._layers:
                if self._stop.is_set():  # the process is exiting: no runner is needed any more
                    self.error = "stopped: the process is exiting"
                    return
                # export a snapshot, never the live layer: export switches a module's train mode, and a
                # model trained meanwhile must not write its new weights under the old weights' name
                with torch.no_grad():
                    snapshot = copy.deepcopy(layer)
                if _versions(self._tensors) != self._weights:
                    self._stale = True
                    return
                path = self._folder / f"layer-{layer_digest(snapshot)}.onnx"
                if not path.is_file():
                    export_layer(snapshot, self._hidden_size, path)
                try:
                    sessions.append(ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]))
                except Exception:  # a truncated or foreign file in the cache: export again once
                    export_layer(snapshot, self._hidden_size, path)
                    sessions.append(ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]))
            self._sessions = sessions
        except Exception as e:  # no ONNX path: torch keeps serving
            self.error = f"{type(e).__name__}: {e}"
            log.warning("ONNX Runtime layers unavailable, inference stays in torch (%s)", self.error)
        finally:
            self.ready.set()

    def usable(self, rows: int, tokens: int) -> bool:
        if self._sessions is None or self._stale or (self.max_tokens is not None and rows * tokens > self.max_tokens):
            return False
        if _versions(self._tensors) != self._weights:
            self._stale = True
            log.info("encoder weights changed since the ONNX export: inference stays in torch")
            return False
        return True

    def run(self, hidden: torch.Tensor, mask: torch.Tensor, start: int, stop: int) -> torch.Tensor | None:
        if not self.usable(hidden.shape[0], hidden.shape[1]):
            return None
        x = hidden.detach().contiguous().numpy()
        m = mask.to(torch.long).contiguous().numpy()
        for session in self._sessions[start:stop]:  # type: ignore[index]
            x = session.run(None, {"hidden": x, "mask": m})[0]
        return torch.from_numpy(x)


def _stop_build(stop: threading.Event, builder: threading.Thread) -> None:
    stop.set()
    builder.join(timeout=120)


def attach(encoder: Any, folder: Path | None = None, background: bool = True) -> OnnxLayers | None:
    """Give a CPU fp32 `TextEncoder` an ONNX layer runner (None when onnx/onnxruntime are missing)."""
    if not available():
        return None
    runner = OnnxLayers(encoder.layers, encoder.info.hidden_size, folder or cache_folder(),
                        torch.get_num_threads(), background=background)
    encoder.onnx_layers = runner
    return runner
