"""`python -m db`: bring data into the app's store and take it back out.

    python -m db import labelstudio:export.json --label-map "Pos=positive,Neg=negative,Neu=neutral"
    python -m db export --to labelstudio --out tasks.json --predict tagger
    python -m db import jsonl:rows.jsonl --gold

The store is the app's (`data/xsent.sqlite3` unless `--db` says otherwise), so what
comes in shows up in the Annotate tab. Errors are one line on stderr, exit status 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from xsent_core.types import Example, XsentError

ROOT = Path(__file__).resolve().parents[1]
STORE_FORMATS = ("labelstudio", "jsonl", "conll", "hf")


def _open(args: argparse.Namespace):  # noqa: ANN202 - Store, imported lazily
    from db.store import Store

    return Store.open(args.db)


def cmd_import(args: argparse.Namespace) -> int:
    fmt, sep, path = args.data.partition(":")
    with _open(args) as store:
        if sep and fmt == "labelstudio":
            from db.labelstudio import import_labelstudio
            from xsent_core.data.labelstudio import parse_label_map, parse_pairs

            if not Path(path).is_file():
                raise XsentError(f"{path}: file not found")
            summary, read = import_labelstudio(
                store, path, parse_label_map(args.label_map), text_field=args.text_field,
                annotators=dict(parse_pairs(args.annotators, "annotators")),
            )
            print(f"{len(read.tasks)} tasks: {summary.describe()}")
            for line in read.report():
                print(f"  {line}")
            return 0
        from xsent_core.data import load_examples, read_conll

        rows = read_conll(path, repair=args.repair_bies) if sep and fmt == "conll" else load_examples(args.data)
        for warning in (w for ex in rows for w in ex.meta.get("bies_warnings", ())):
            print(f"warning: {warning}", file=sys.stderr)
        examples = [ex for ex in rows if ex.text.strip() or ex.image]
        if not examples:
            raise XsentError(f"{args.data}: no rows to import")
        source = f"import:{Path(path or args.data).name}"
        ids = store.add_documents(examples, source=source, gold_annotator=source if args.gold else None)
        print(f"{len(ids)} documents added (ids {ids[0]}–{ids[-1]})" + (" with their labels as version 1" if args.gold else ""))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with _open(args) as store:
        if args.predict:
            n, name = predict_documents(store, args.predict, args.model, args.device)
            print(f"predicted {n} documents with {name}")
        if args.to == "labelstudio":
            from db.labelstudio import export_labelstudio
            from xsent_core.data.labelstudio import parse_label_map

            done = export_labelstudio(
                store, args.out, parse_label_map(args.label_map),
                only_annotated=args.only_annotated, current_only=args.current_only,
            )
            config = done.path.with_name(done.path.stem + ".labeling-config.xml")
            config.write_text(done.labeling_config, encoding="utf-8")
            print(
                f"{done.tasks} tasks with {done.annotations} annotations and {done.predictions} predictions -> {done.path}"
                + (f" ({done.skipped_without_text} image-only documents left out)" if done.skipped_without_text else "")
            )
            print(f"Label Studio project configuration that matches it -> {config}")
            return 0
        from xsent_core.data.export import export_examples

        examples = store.corrected_examples(only_annotated=True)
        if not examples:
            raise XsentError("nothing to export: no document has an annotation")
        out = export_examples(examples, args.to, args.out)
        print(f"{len(examples)} annotated documents -> {out}")
    return 0


def predict_documents(store, method: str, model: str | None, device: str) -> tuple[int, str]:  # noqa: ANN001
    """Run a model over every stored document with text and record its outputs; (count, model name)."""
    from xsent_core.device import resolve_device
    from xsent_core.paths import shipped_models_dir
    from xsent_core.registry import load_model

    record = None
    if model:
        record = next((m for m in store.list_models() if m.name == model), None)
    else:
        record = store.default_model(method)
    if record is not None:
        name, folder = record.name, Path(record.path)
    elif model:
        name, folder = Path(model).name, Path(model)
    else:
        name, folder = f"{method}-default", shipped_models_dir() / method
    loaded = load_model(folder, expected_method=method, device=resolve_device(device))
    docs = [b.document for b in store.document_bundles() if b.document.text.strip()]
    examples = [Example(id=str(d.id), text=d.text, lang=d.lang) for d in docs]
    predictions = loaded.predict(examples) if examples else []
    created = record.created if record is not None else ""
    store.record_predictions([(d.id, p) for d, p in zip(docs, predictions)], name, created or "", method)
    return len(docs), name


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m db", description="import into / export from the xsent store")
    parser.add_argument("--db", type=Path, default=ROOT / "data" / "xsent.sqlite3", help="SQLite store (the app's by default)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("import", help="add a file's rows to the store")
    p.add_argument("data", help="FORMAT:PATH with FORMAT labelstudio, jsonl, csv, conll, semeval or gklmip")
    p.add_argument("--label-map", help="labelstudio: project label names, e.g. 'Pos=positive,Bad=negative'")
    p.add_argument("--annotators", help="labelstudio: names for user ids that the export gives without one, e.g. '2=bob,3=chan'")
    p.add_argument("--text-field", help="labelstudio: the task data field holding the text (default: text)")
    p.add_argument("--gold", action="store_true", help="other formats: the file's labels/spans become version 1")
    p.add_argument("--repair-bies", action="store_true", help="conll: keep spans repaired from broken BIES tags (default: drop and warn)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", help="write the store's documents and annotations")
    p.add_argument("--to", required=True, choices=STORE_FORMATS)
    p.add_argument("--out", required=True, help="a file (a folder for hf)")
    p.add_argument("--label-map", help="labelstudio: label names to write, e.g. 'Pos=positive,Bad=negative'")
    p.add_argument("--only-annotated", action="store_true", help="labelstudio: leave out documents nobody annotated")
    p.add_argument("--current-only", action="store_true", help="labelstudio: each document's current version, not its history")
    p.add_argument("--predict", metavar="METHOD", help="first run METHOD's model over the documents (pre-annotations)")
    p.add_argument("--model", help="with --predict: a registered model name or a model folder (default: the method's default)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from xsent_core.cli import run

    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
