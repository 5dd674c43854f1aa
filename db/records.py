"""Frozen records the store returns; no caller ever sees a raw database row.

Timestamps (`created`, `updated`) are ISO 8601 strings in UTC with microseconds,
so they sort as text.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from xsent_core.types import AspectSpan, Prediction

from db.schema import FINISHED_JOB_STATUSES


@dataclass(frozen=True)
class Document:
    """A text (and optional image path) the user analysed or imported."""

    id: int
    text: str
    lang: str | None
    image: str | None
    source: str | None
    external_id: str | None  # `Example.id` it was imported from
    created: str


@dataclass(frozen=True)
class StoredPrediction:
    """A model's output for a document, as recorded at the time."""

    id: int
    document_id: int
    model: str
    model_version: str | None
    method: str
    prediction: Prediction
    confidence: float | None
    disagreement: bool | None  # None when the method has no notion of head agreement
    created: str


@dataclass(frozen=True)
class Annotation:
    """One version of a document's human annotation (versions 1, 2, 3... per document).

    `parent_version` is the version the annotator started from (None when they
    started from nothing). Versions are never changed or deleted; the highest
    one is the current annotation.
    """

    id: int
    document_id: int
    version: int
    parent_id: int | None
    parent_version: int | None
    annotator: str
    label: str | None
    spans: tuple[AspectSpan, ...]
    note: str
    created: str

    @property
    def stale_parent(self) -> bool:
        """True when other versions were saved between the parent and this one.

        Both are kept and this one is current; the UI should say "another
        annotator saved version N meanwhile" (N = `conflicting_version`).
        """
        return (self.parent_version or 0) != self.version - 1

    @property
    def conflicting_version(self) -> int | None:
        """The version saved meanwhile that this one superseded, when `stale_parent`."""
        return self.version - 1 if self.stale_parent else None

    @property
    def missed_versions(self) -> tuple[int, ...]:
        """Every version saved after the parent and before this one."""
        return tuple(range((self.parent_version or 0) + 1, self.version))


@dataclass(frozen=True)
class QueueItem:
    """A row of the annotation queue."""

    document: Document
    prediction: StoredPrediction | None  # latest prediction, if any
    annotation_version: int | None  # current annotation version, None if never annotated

    @property
    def confidence(self) -> float | None:
        return self.prediction.confidence if self.prediction else None

    @property
    def disagreement(self) -> bool | None:
        return self.prediction.disagreement if self.prediction else None

    @property
    def annotated(self) -> bool:
        return self.annotation_version is not None


@dataclass(frozen=True)
class AnnotatorLabels:
    """A document annotated by two or more people: each one's latest annotation of it."""

    document: Document
    by_annotator: Mapping[str, Annotation]


@dataclass(frozen=True)
class Job:
    """A background job (training, batch prediction...) and how far it got."""

    id: int
    kind: str
    status: str  # one of db.schema.JOB_STATUSES
    params: Mapping[str, Any]
    progress: float  # 0..1
    message: str
    checkpoint: str | None
    metrics: Mapping[str, Any]
    loss_history: tuple[tuple[int, float], ...]  # (step, loss) in the order reported
    pid: int | None
    created: str
    updated: str

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_JOB_STATUSES


@dataclass(frozen=True)
class ModelRecord:
    """A trained model folder the app can use. `created` is filled in by the store."""

    name: str
    method: str
    path: str
    encoder: str | None = None
    data: str | None = None  # what it was trained on, in words
    metrics: Mapping[str, Any] = field(default_factory=dict)
    created: str | None = None
    is_default: bool = False
    shipped: bool = False  # bundled with xsent: cannot be deleted


@dataclass(frozen=True)
class ImportedVersion:
    """An annotation made elsewhere (another tool), to append as a version with its own author and time."""

    annotator: str
    label: str | None
    spans: tuple[AspectSpan, ...]
    created: str | None = None  # ISO 8601 UTC; None: the time of import
    note: str = ""


@dataclass(frozen=True)
class ImportedPrediction:
    """A model output made elsewhere (e.g. Label Studio pre-annotations)."""

    model: str
    model_version: str | None
    method: str
    prediction: Prediction


@dataclass(frozen=True)
class ImportedDocument:
    """A document with the versions and predictions it brings; matched to a stored one by external id and text."""

    text: str
    external_id: str
    lang: str | None = None
    versions: tuple[ImportedVersion, ...] = ()
    predictions: tuple[ImportedPrediction, ...] = ()


@dataclass(frozen=True)
class ImportSummary:
    """What an import changed; re-importing the same file gives zeros in every `*_added`."""

    document_ids: tuple[int, ...]  # in input order
    documents_added: int
    documents_matched: int
    versions_added: int
    versions_skipped: int  # already stored (same annotator, time, label and spans)
    predictions_added: int
    predictions_skipped: int

    def describe(self) -> str:
        """What changed, in the words the CLI and the Annotate tab both print."""
        return (
            f"{self.documents_added} documents added, {self.documents_matched} already stored; "
            f"{self.versions_added} annotation versions added, {self.versions_skipped} already stored; "
            f"{self.predictions_added} predictions added, {self.predictions_skipped} already stored"
        )


@dataclass(frozen=True)
class DocumentBundle:
    """A document with every annotation version (oldest first) and each model's latest prediction."""

    document: Document
    versions: tuple[Annotation, ...]
    predictions: tuple[StoredPrediction, ...]
