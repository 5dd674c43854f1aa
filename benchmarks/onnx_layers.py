"""Eager torch against ONNX Runtime for the builtin encoder's 12 layers, by batch shape and threads.

    python benchmarks/onnx_layers.py [--repeats R]

Decides `xsent_core.encoders.onnx_layers.MAX_TOKENS` (the largest batch, rows x
padded sub-tokens, sent to ONNX Runtime; None when no shape is slower there) and
checks that both give the same hidden states. Writes benchmarks/results/onnx_layers.json.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# (rows, words): one short sentence, one long review, small and full batches
SHAPES = ((1, 8), (1, 30), (1, 120), (4, 30), (8, 30), (32, 8), (32, 30), (32, 120))


def median_ms(fn, repeats: int) -> float:
    for _ in range(2):
        fn()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return round(1000 * statistics.median(runs), 2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "onnx_layers.json")
    args = p.parse_args(argv)
    import torch

    from benchmarks.machine import machine_facts
    from xsent_core.encoders.onnx_layers import MAX_TOKENS, OnnxLayers
    from xsent_core.encoders.registry import load_text_encoder

    enc = load_text_encoder("builtin").eval()
    folder = Path(tempfile.mkdtemp(prefix="xsent-onnx-bench-"))
    started = time.perf_counter()
    OnnxLayers(enc.layers, enc.info.hidden_size, folder, 1, background=False)
    export_s = round(time.perf_counter() - started, 2)
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        runner = OnnxLayers(enc.layers, enc.info.hidden_size, folder, threads, background=False)
        runner.max_tokens = 10**9  # measure every shape
        for n, words in SHAPES:
            batch = enc.encode_texts(["good food " * (words // 2)] * n)
            with torch.inference_mode():
                hidden = enc.embed_tokens(batch["input_ids"])
                mask = batch["attention_mask"]
                enc.onnx_layers = None
                torch_ms = median_ms(lambda: enc.run_layers(hidden, mask, 0, enc.info.num_layers), args.repeats)
                reference = enc.run_layers(hidden, mask, 0, enc.info.num_layers)
                onnx_ms = median_ms(lambda: runner.run(hidden, mask, 0, enc.info.num_layers), args.repeats)
                diff = float((runner.run(hidden, mask, 0, enc.info.num_layers) - reference).abs().max())
            row = {"threads": threads, "rows": n, "tokens": int(hidden.shape[1]), "torch_ms": torch_ms,
                   "onnx_ms": onnx_ms, "onnx_over_torch_speed": round(torch_ms / onnx_ms, 2), "max_abs_diff": diff}
            rows.append(row)
            print(json.dumps(row), flush=True)
    shutil.rmtree(folder, ignore_errors=True)  # the sessions hold the graphs in memory
    report = {
        "command": "python benchmarks/onnx_layers.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine_facts(),
        "export_and_session_s_12_layers": export_s,
        "max_tokens_in_use": MAX_TOKENS,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
