"""`python -m xsent_core`: predict / train / eval / soup / export / methods / distill / rethink.

Every method plugs in by name through `xsent_core.registry`; errors meant for
the user (bad file, wrong checkpoint) print one clear line and exit 2.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

from .types import Example, XsentError

PREDICT_CHUNK = 256  # rows held in memory at once while predicting a file


def default_model_dir(method: str) -> Path:
    """The shipped default for a method (assets/models/<method>); an unknown method is named as such."""
    from .paths import shipped_models_dir
    from .registry import method_class

    method_class(method)  # "unknown method 'x'; known methods: ..." rather than a missing folder

    return shipped_models_dir() / method


def _chunks(rows: Iterator[Example], size: int) -> Iterator[list[Example]]:
    chunk: list[Example] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _iter_input(path: str) -> Iterator[Example]:
    from .data.jsonl import iter_csv, iter_jsonl

    if path.lower().endswith(".csv"):
        return iter_csv(path)
    return iter_jsonl(path)


def shard_of(args: argparse.Namespace) -> tuple[int, int]:
    """(index, count): from --shard-index/--num-shards, else torchrun's RANK/WORLD_SIZE."""
    count = args.num_shards if args.num_shards is not None else int(os.environ.get("WORLD_SIZE", "1"))
    index = args.shard_index if args.shard_index is not None else int(os.environ.get("RANK", "0"))
    if count < 1 or not 0 <= index < count:
        raise XsentError(
            f"shard {index} of {count} does not exist: --num-shards must be at least 1 and --shard-index below it"
        )
    return index, count


def shard_path(output: str, index: int, count: int) -> str:
    return f"{output}.part-{index:05d}-of-{count:05d}"


def cmd_predict(args: argparse.Namespace) -> int:
    from .data.jsonl import write_jsonl
    from .device import resolve_device
    from .distributed import device_for_rank, dist_info
    from .registry import load_model

    index, count = shard_of(args)
    # under torchrun / accelerate launch each process takes its own GPU (cuda -> cuda:LOCAL_RANK)
    device = device_for_rank(resolve_device(args.device), dist_info())
    model = load_model(
        args.model or default_model_dir(args.method), expected_method=args.method, device=device, precision=args.precision
    )

    def mine() -> Iterator[tuple[int, Example]]:
        for row_number, ex in enumerate(_iter_input(args.input)):
            if row_number % count == index:
                yield row_number, ex

    def rows() -> Iterator[dict]:
        # streams: at most PREDICT_CHUNK input rows are held at once
        done = 0
        for chunk in _chunks(mine(), PREDICT_CHUNK):
            examples = [ex for _, ex in chunk]
            for (row_number, ex), pred in zip(chunk, model.predict(examples, batch_size=args.batch_size)):
                row = {**ex.to_dict(), **pred.to_dict(), "method": args.method}
                if count > 1:
                    row["_row"] = row_number  # lets `merge` restore the input order
                yield row
            done += len(chunk)
            print(f"predicted {done} rows", file=sys.stderr)

    write_jsonl(args.output if count == 1 else shard_path(args.output, index, count), rows())
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    """Stitch shard outputs back into input order (k-way merge; bounded memory)."""
    import heapq

    from .data.jsonl import write_jsonl

    def stream(path: str) -> Iterator[tuple[int, dict]]:
        with open(path, encoding="utf-8") as f:
            for line_number, line in enumerate(f, 1):
                try:
                    row = json.loads(line)
                    yield int(row.pop("_row")), row
                except (ValueError, KeyError, TypeError) as e:
                    raise XsentError(f"{path}: line {line_number}: not a shard row ({e})") from None

    parts = args.parts
    if not parts:
        raise XsentError("no shard files given")
    merged = (row for _, row in heapq.merge(*(stream(p) for p in parts), key=lambda item: item[0]))
    n = write_jsonl(args.output, merged)
    print(f"merged {n} rows from {len(parts)} shards into {args.output}")
    return 0


def _json_object(text: str | None, flag: str) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise XsentError(f"{flag}: not valid JSON ({e})") from e
    if not isinstance(value, dict):
        raise XsentError(f"{flag}: expected a JSON object {{...}}, got {type(value).__name__}")
    return value


def cmd_train(args: argparse.Namespace) -> int:
    from .recipes import print_json, run_preset

    overrides = _json_object(args.config, "--config")
    train_overrides = _json_object(args.train_config, "--train-config")
    report = run_preset(
        args.method,
        args.preset,
        args.out,
        device=args.device,
        overrides=overrides,
        train_overrides=train_overrides,
        half=args.half,
        unlabelled=args.unlabelled,
        resume=args.resume,
        data=_json_object(args.data, "--data"),
    )
    print_json(report)
    return 0 if report.get("status") == "finished" else 1


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation import evaluate_examples
    from .recipes import load_data, print_json
    from .registry import load_model

    rows = load_data(args.data)  # a bad data file fails before the slower model load
    if not rows:
        raise XsentError(f"{args.data}: no rows to evaluate")
    model = load_model(
        args.model or default_model_dir(args.method), expected_method=args.method, device=args.device, precision=args.precision
    )
    try:
        report = evaluate_examples(model, rows)
    except ValueError as e:
        raise XsentError(f"{args.data}: {e}") from e
    print_json({"method": args.method, "data": args.data, "rows": len(rows), **report})
    return 0


def cmd_soup(args: argparse.Namespace) -> int:
    from .recipes import print_json
    from .soup import make_soup, soup_command

    report = make_soup(args.models, args.out, command=soup_command(args.models, args.out), evaluate=not args.no_eval)
    print_json(report)
    return 0


def _model_ref(path: str, methods: tuple[str, ...]) -> Any:
    """A model folder as a jobs.ModelRef; its card must name one of `methods`."""
    from .jobs import ModelRef
    from .registry import read_model_card

    card = read_model_card(path)
    if card.method not in methods:
        raise XsentError(f"{path} holds a {card.method!r} model; this command needs {' or '.join(methods)}")
    return ModelRef(Path(path).name, str(path), card.method)


def _job_report(result: Any) -> int:
    from .recipes import print_json

    print_json({"model": str(result.folder), "method": result.method, "data": result.description, **dict(result.metrics)})
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    """The app's "distill" job on a file: the same library call (xsent_core.jobs.distill_job)."""
    from .jobs import JobRun, distill_job
    from .recipes import load_data

    rows = load_data(args.data)
    teacher = _model_ref(args.teacher, ("msmo", "tagger"))
    result = distill_job(teacher, rows, Path(args.out), data=args.data, steps=args.steps, lr=args.lr,
                         run=JobRun(device=args.device))
    return _job_report(result)


def cmd_rethink(args: argparse.Namespace) -> int:
    """The app's "rethink" job on a file: labelled rows of --data also feed the held-out comparison."""
    from .jobs import JobRun, rethink_job
    from .recipes import load_data

    rows = load_data(args.data)
    base = _model_ref(args.base, ("lfdrt",))
    result = rethink_job(base, rows, rows, Path(args.out), data=args.data, lang=args.lang, steps=args.steps,
                         lr=args.lr, run=JobRun(device=args.device))
    return _job_report(result)


def cmd_export(args: argparse.Namespace) -> int:
    from .data.export import export_examples
    from .recipes import load_data

    rows = load_data(args.data)
    out = export_examples(rows, args.to, args.out)
    print(f"wrote {len(rows)} rows as {args.to} to {out}")
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from .registry import available_methods, presets

    for name in available_methods():
        print(name)
        for preset in presets(name).values():
            print(f"  {preset.name}: {'[smoke test] ' if preset.smoke else ''}{preset.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m xsent_core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help="predict a JSONL or CSV file")
    p.add_argument("--method", required=True)
    p.add_argument("--model", help="model folder (default: the shipped one)")
    p.add_argument("--input", required=True, help="JSONL {id, text, image?, lang?} or CSV with a text column")
    p.add_argument("--output", required=True, help="JSONL; rows gain label/probs or spans")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", choices=("auto", "fp32", "int8"), default="auto",
                   help="CPU inference precision: auto = int8 for models whose recorded parity check allows it")
    p.add_argument("--num-shards", type=int, help="split the input across processes (default: $WORLD_SIZE)")
    p.add_argument("--shard-index", type=int, help="this process's shard (default: $RANK)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("merge", help="merge sharded predict outputs back into input order")
    p.add_argument("--output", required=True)
    p.add_argument("parts", nargs="+")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("train", help="train a preset")
    p.add_argument("--method", required=True)
    p.add_argument("--preset", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--config", help="JSON object overriding the method config")
    p.add_argument("--train-config", help="JSON object overriding the training settings")
    p.add_argument(
        "--data",
        help='JSON object replacing the preset\'s data, e.g. \'{"train": "jsonl:mine.jsonl", "test": {}}\'',
    )
    p.add_argument("--unlabelled", help="FORMAT:PATH of unlabelled target text (methods that use it)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last")
    p.add_argument("--half", action="store_true", help="store the trained weights in fp16")
    p.add_argument("--device", default=None)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a model on a dataset; prints JSON metrics")
    p.add_argument("--method", required=True)
    p.add_argument("--model")
    p.add_argument("--data", required=True, help="FORMAT:PATH (semeval | gklmip | jsonl | conll | csv | labelstudio)")
    p.add_argument("--precision", choices=("auto", "fp32", "int8"), default="auto", help="CPU inference precision (see predict --help)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("soup", help="average models of one recipe trained with different seeds into one (uniform model soup)")
    p.add_argument("--models", nargs="+", required=True, help="model folders: one method, config and encoder")
    p.add_argument("--out", required=True, help="folder for the averaged model")
    p.add_argument("--no-eval", action="store_true", help="skip scoring on the members' preset dev/test sets")
    p.set_defaults(func=cmd_soup)

    p = sub.add_parser("export", help="convert a dataset: conll (BIES), jsonl, labelstudio (gold as annotations), or a Hugging Face datasets folder")
    p.add_argument("--data", required=True, help="FORMAT:PATH")
    p.add_argument("--to", required=True, choices=("conll", "jsonl", "hf", "labelstudio"))
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_export)

    for name, helptext, model_flag, model_help in (
        ("distill", "MSMO distillation of a teacher on a file's sentences (spans, where given, are hard labels)",
         "--teacher", "msmo or tagger model folder"),
        ("rethink", "LFD-RT rethinking of a model on a file's texts (labels unused except for the held-out check)",
         "--base", "lfdrt model folder"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument(model_flag, required=True, help=model_help)
        p.add_argument("--data", required=True, help="FORMAT:PATH of the sentences (jsonl | semeval | gklmip | conll | csv)")
        p.add_argument("--out", required=True, help="folder for the new model")
        p.add_argument("--steps", type=int, help="optimiser steps (default: the job's own)")
        p.add_argument("--lr", type=float, help="encoder learning rate (heads keep their ratio)")
        if name == "rethink":
            p.add_argument("--lang", help="language of rows whose language is neither given nor detected")
        p.add_argument("--device", default="cpu")
        p.set_defaults(func=cmd_distill if name == "distill" else cmd_rethink)

    p = sub.add_parser("methods", help="list methods and their presets")
    p.set_defaults(func=cmd_methods)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse and run `args.func`; errors meant for the user are one line on stderr and exit status 2."""
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except XsentError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # unwritable output, full disk: the file and the reason, not a traceback
        print(f"error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
