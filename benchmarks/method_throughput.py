"""Each shipped method's predict throughput against the bare encoder, on the same sentences, in one run.

    python benchmarks/method_throughput.py [--limit N] [--repeats R]

The bare encoder embeds the sentences (mean-pooled, batch 32) at the precision
the method serves at (its recorded parity check: fp32 or int8) and with the same
engine (torch, or ONNX Runtime layers: `encoders.onnx_layers`), so the ratio
is what the method adds on top of the encoder: word alignment, heads, static
vectors, image-free M2SA. Writes benchmarks/results/method_throughput.json
with `ratio_to_encoder` {method: r} (target >= 0.8).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def sentences(limit: int | None) -> list[str]:
    """French SemEval test sentences (Latin script) then GKLMIP dev reviews (Burmese): both scripts the methods meet."""
    from benchmarks.encoder_throughput import read_sentences
    from xsent_core.paths import shared_data_dir
    from xsent_core.recipes import load_data

    data = shared_data_dir()
    french = read_sentences(data / "semeval16_restaurants" / "gold-fr-test.txt")
    burmese = [ex.text for ex in load_data(f"gklmip:{data}/gklmip_myanmar_sentiment/dev.json")]
    rows = french[: len(french) // 2] + burmese[: len(french) // 2]
    return rows[:limit]


def median_seconds(fn: Any, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def bare_encoder(precision: str, engine: str) -> Any:
    """The builtin encoder as the methods serve it: same precision, same engine (torch or ONNX Runtime layers)."""
    from xsent_core.encoders import onnx_layers
    from xsent_core.encoders.quantize import quantize_text_encoder
    from xsent_core.encoders.registry import load_text_encoder

    encoder = load_text_encoder("builtin").eval()
    if precision == "int8":
        quantize_text_encoder(encoder)
    if engine == "onnx":
        onnx_layers.attach(encoder, background=False)
    return encoder


def serving_engine(model: Any) -> str:
    """"onnx" when the model's encoder layers run in ONNX Runtime (waiting for their export), else "torch"."""
    runner = getattr(getattr(model, "encoder", None), "onnx_layers", None)
    if runner is None:
        return "torch"
    runner.ready.wait()
    return "torch" if runner.error else "onnx"


def main(argv: list[str] | None = None) -> int:
    from benchmarks.machine import machine_facts
    from xsent_core.registry import load_model
    from xsent_core.types import Example

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", type=Path, default=ROOT / "assets" / "models")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "method_throughput.json")
    args = p.parse_args(argv)

    texts = sentences(args.limit)
    examples = [Example(id=str(i), text=t) for i, t in enumerate(texts)]
    encoders: dict[str, float] = {}
    methods: dict[str, Any] = {}
    for folder in sorted(f for f in args.models.iterdir() if (f / "config.json").is_file()):
        model = load_model(folder)
        engine = serving_engine(model)
        precision = model.precision if engine == "torch" else f"{model.precision}+onnx"
        if precision not in encoders:
            encoder = bare_encoder(model.precision, engine)
            encoder.embed_sentences(texts[: args.batch_size], batch_size=args.batch_size, prefix="query: ")
            seconds = median_seconds(lambda: encoder.embed_sentences(texts, batch_size=args.batch_size, prefix="query: "), args.repeats)
            encoders[precision] = len(texts) / seconds
            del encoder
        model.predict(examples[: args.batch_size], batch_size=args.batch_size)
        seconds = median_seconds(lambda m=model: m.predict(examples, batch_size=args.batch_size), args.repeats)
        rate = len(texts) / seconds
        methods[model.card.method] = {
            "precision": model.precision,
            "engine": engine,
            "sentences_per_s": round(rate, 1),
            "encoder_sentences_per_s": round(encoders[precision], 1),
            "ratio_to_encoder": round(rate / encoders[precision], 3),
        }
        print(folder.name, json.dumps(methods[model.card.method]), file=sys.stderr)
        del model
    result = {
        "command": "python benchmarks/method_throughput.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine_facts(),
        "data": {"sentences": len(texts), "note": "half French SemEval-16 test, half GKLMIP dev (Burmese)"},
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "encoder_sentences_per_s": {k: round(v, 1) for k, v in encoders.items()},
        "methods": methods,
        "ratio_to_encoder": {m: r["ratio_to_encoder"] for m, r in methods.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result["ratio_to_encoder"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
