"""Label Studio round trip for the store: an export comes in as annotation versions and
predictions; documents go back out as tasks with annotations (every version, or the
current one) and each model's latest prediction as pre-annotations.

Parsing and writing the file format is `xsent_core.data.labelstudio`; this module maps
it onto store records.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from xsent_core.data.labelstudio import (
    MAX_BYTES,
    LabelMap,
    LSAnnotation,
    LSPrediction,
    LSRead,
    LSTask,
    labeling_config,
    read_labelstudio,
    write_labelstudio,
)
from xsent_core.types import InputError, Prediction

from db.records import ImportedDocument, ImportedPrediction, ImportedVersion, ImportSummary
from db.store import EXPORTED_DOCUMENT_PREFIX, Store

# `method` of predictions that came from another tool: the store keeps which model, not how it works.
IMPORTED_METHOD = "labelstudio"


@dataclass(frozen=True)
class LabelStudioExport:
    path: Path
    tasks: int
    annotations: int
    predictions: int
    skipped_without_text: int  # image-only documents: Label Studio text tasks need text
    labeling_config: str  # the project configuration matching the file


def imported_documents(read: LSRead, note: str) -> list[ImportedDocument]:
    return [
        ImportedDocument(
            text=t.text,
            external_id=t.external_id,
            lang=t.lang,
            versions=tuple(ImportedVersion(a.annotator, a.label, a.spans, a.created, note) for a in t.annotations),
            predictions=tuple(
                ImportedPrediction(
                    model=p.model_version,
                    model_version=p.model_version,
                    method=IMPORTED_METHOD,
                    prediction=Prediction(
                        label=p.label,
                        spans=p.spans or None,
                        extras={"labelstudio_score": p.score} if p.score is not None else {},
                    ),
                )
                for p in t.predictions
            ),
        )
        for t in read.tasks
    ]


def import_labelstudio(
    store: Store,
    path: str | os.PathLike[str],
    label_map: LabelMap | None = None,
    *,
    source: str | None = None,
    text_field: str | None = None,
    max_bytes: int = MAX_BYTES,
    annotators: Mapping[str, str] | None = None,
    max_tasks: int | None = None,
    display_name: str | None = None,
) -> tuple[ImportSummary, LSRead]:
    """Read the export and store it in one transaction; (what changed, what the file held and what was skipped).

    `display_name` is the file's own name where `path` is a temporary copy (an upload).
    """
    name = display_name or Path(path).name
    read = read_labelstudio(path, label_map, text_field=text_field, max_bytes=max_bytes, annotators=annotators)
    if max_tasks is not None and len(read.tasks) > max_tasks:
        raise InputError(f"{name} has {len(read.tasks)} tasks, more than the {max_tasks} allowed here; use `python -m db import`")
    summary = store.import_documents(imported_documents(read, f"imported from Label Studio ({name})"), source or f"labelstudio:{name}")
    return summary, read


def export_labelstudio(
    store: Store,
    out: str | os.PathLike[str],
    label_map: LabelMap | None = None,
    *,
    only_annotated: bool = False,
    current_only: bool = False,
) -> LabelStudioExport:
    """Write the store's documents as Label Studio tasks (code-point offsets, annotator names kept in task meta)."""
    tasks: list[LSTask] = []
    skipped = 0
    for b in store.document_bundles(only_annotated=only_annotated):
        doc = b.document
        if not doc.text.strip():
            skipped += 1
            continue
        versions = b.versions[-1:] if current_only else b.versions
        tasks.append(
            LSTask(
                index=len(tasks),
                external_id=doc.external_id or f"{EXPORTED_DOCUMENT_PREFIX}{doc.id}",
                text=doc.text,
                lang=doc.lang,
                annotations=tuple(LSAnnotation(v.annotator, v.created, v.label, v.spans) for v in versions),
                predictions=tuple(
                    LSPrediction(
                        model_version=p.model,
                        score=p.confidence,
                        label=p.prediction.label,
                        spans=tuple(p.prediction.spans or ()),
                        probs=p.prediction.probs,
                    )
                    for p in b.predictions
                ),
            )
        )
    path = Path(out)
    write_labelstudio(path, tasks, label_map)
    return LabelStudioExport(
        path=path,
        tasks=len(tasks),
        annotations=sum(len(t.annotations) for t in tasks),
        predictions=sum(len(t.predictions) for t in tasks),
        skipped_without_text=skipped,
        labeling_config=labeling_config(label_map),
    )
