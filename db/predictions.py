"""Predictions stored per document and model."""
from __future__ import annotations

from typing import Iterable

from sqlite_utils import Database
from xsent_core.types import InputError, Prediction

from db import codec
from db.connection import StoreConnection
from db.records import StoredPrediction
from db.rows import _prediction_row, _require_document


class PredictionRecords(StoreConnection):
    """Predictions stored per document and model."""

    def record_prediction(
        self,
        document_id: int,
        model: str,
        model_version: str | None,
        method: str,
        prediction: Prediction,
    ) -> int:
        """Keep a model's output for a document; returns the prediction id."""
        return self.record_predictions([(document_id, prediction)], model, model_version, method)[0]

    def record_predictions(
        self,
        items: Iterable[tuple[int, Prediction]],
        model: str,
        model_version: str | None,
        method: str,
    ) -> list[int]:
        """Many `(document_id, prediction)` pairs of one model in one transaction (batch runs)."""
        rows = []
        for document_id, prediction in items:
            if not isinstance(prediction, Prediction):
                raise InputError(f"record_prediction takes a Prediction, got {type(prediction).__name__}")
            rows.append(_prediction_row(document_id, model, model_version, method, prediction))

        def tx(db: Database) -> list[int]:
            now = codec.now_iso()
            ids = []
            for row in rows:
                _require_document(db, row["document_id"])
                ids.append(int(db["predictions"].insert({**row, "created": now}).last_pk))
            return ids

        return self._write("record_prediction", tx)

    def latest_prediction(self, document_id: int, model: str | None = None) -> StoredPrediction | None:
        rows = self._read(
            "SELECT * FROM predictions WHERE document_id = :doc AND (:model IS NULL OR model = :model) "
            "ORDER BY id DESC LIMIT 1",
            {"doc": document_id, "model": model},
        )
        return codec.prediction_from_row(rows[0]) if rows else None
