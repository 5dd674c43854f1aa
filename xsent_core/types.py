"""Typed records that cross module boundaries.

Everything a method returns, a reader yields or the store keeps is one of these
frozen dataclasses, so views, CLI and database never depend on tensors.
Character offsets are always code points into the text the user typed
(before normalisation), end exclusive.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

# Sentence labels, in class-index order (M2SA's convention: negative=0).
SENTIMENT_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
# Aspect polarities use the same words as sentence labels.
POLARITIES: tuple[str, ...] = SENTIMENT_LABELS


@dataclass(frozen=True)
class AspectSpan:
    """An aspect term with its polarity; offsets into the original text."""

    start: int
    end: int
    text: str
    polarity: str
    score: float = 1.0

    def __post_init__(self) -> None:
        if self.polarity not in POLARITIES:
            raise ValueError(f"unknown polarity {self.polarity!r}; expected one of {POLARITIES}")
        if not 0 <= self.start < self.end:
            raise ValueError(f"empty or negative span [{self.start}, {self.end})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "AspectSpan":
        return cls(
            start=int(d["start"]),
            end=int(d["end"]),
            text=str(d.get("text", "")),
            polarity=str(d["polarity"]),
            score=float(d.get("score", 1.0)),
        )


@dataclass(frozen=True)
class Example:
    """One input row: text, optional image, optional gold labels.

    `tokens`/`token_offsets` are set when the source is pre-tokenised (SemEval);
    otherwise word boundaries come from `xsent_core.text.word_spans`.
    `label` is a sentence label from SENTIMENT_LABELS, `spans` gold aspects.
    """

    id: str
    text: str
    lang: str | None = None
    label: str | None = None
    spans: tuple[AspectSpan, ...] | None = None
    image: str | None = None
    tokens: tuple[str, ...] | None = None
    token_offsets: tuple[tuple[int, int], ...] | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.label is not None and self.label not in SENTIMENT_LABELS:
            raise ValueError(f"unknown label {self.label!r}; expected one of {SENTIMENT_LABELS}")
        if (self.tokens is None) != (self.token_offsets is None):
            raise ValueError("tokens and token_offsets must be given together")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "text": self.text}
        if self.lang is not None:
            d["lang"] = self.lang
        if self.label is not None:
            d["label"] = self.label
        if self.spans is not None:
            d["spans"] = [s.to_dict() for s in self.spans]
        if self.image is not None:
            d["image"] = self.image
        return d


@dataclass(frozen=True)
class Prediction:
    """What `Method.predict` returns for one input.

    Sentence methods fill `label`/`probs`; span methods fill `spans` (and may
    also give a sentence label). `extras` carries method-specific, JSON-ready
    facts (M2SA modality share, LFD-RT head agreement...); `notes` says the same
    in plain sentences for a person, so a view shows them without knowing the
    method. `warnings` tells the user what was changed on the way (truncation,
    Zawgyi conversion).
    """

    label: str | None = None
    probs: Mapping[str, float] | None = None
    spans: tuple[AspectSpan, ...] | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    error: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def confidence(self) -> float | None:
        if self.probs:
            return max(self.probs.values())
        if self.spans:
            return min(s.score for s in self.spans)
        return None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.label is not None:
            d["label"] = self.label
        if self.probs is not None:
            d["probs"] = dict(self.probs)
        if self.spans is not None:
            d["spans"] = [s.to_dict() for s in self.spans]
        if self.extras:
            d["extras"] = dict(self.extras)
        if self.warnings:
            d["warnings"] = list(self.warnings)
        if self.notes:
            d["notes"] = list(self.notes)
        if self.error is not None:
            d["error"] = self.error
        return d


class XsentError(Exception):
    """An error whose message is meant for the user (shown as is in CLI and app)."""


class InputError(XsentError):
    """Bad input data: names the file and line when there is one."""


class CheckpointError(XsentError):
    """A model folder that is missing, corrupt or made for another method/encoder."""
