"""Predictions go to the store on one background thread, so a reply never waits for SQLite.

One worker keeps the writes in submission order: the same sentence predicted
twice in a row still finds the first document (add_documents reuse_existing).
What the store would refuse (a lone surrogate) is checked before the reply, so
the user is still told that this prediction was not saved.
"""
from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from xsent_core.types import Example, Prediction, XsentError

LOG = logging.getLogger("xsent.predictions")


class PredictionLog:
    def __init__(self, store: Any) -> None:
        self._store = store
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xsent-prediction-log")

    def check(self, example: Example) -> None:
        """Raise the store's own XsentError for an example it could not keep (before any reply)."""
        from db import validate

        validate.check_text(example.text, f"example {example.id!r}")

    def submit(self, example: Example, model_name: str, model_version: str, method: str, prediction: Prediction) -> Future:
        """Queue the write; a failure is logged (the user already has the prediction)."""
        future = self._writer.submit(self._write, example, model_name, model_version, method, prediction)
        future.add_done_callback(_log_failure)
        return future

    def _write(self, example: Example, model_name: str, model_version: str, method: str, prediction: Prediction) -> None:
        doc_ids = self._store.add_documents([example], source="predict", reuse_existing=True)
        self._store.record_prediction(doc_ids[0], model_name, model_version, method, prediction)

    def drain(self, timeout: float | None = None) -> None:
        """Wait until every prediction queued so far is written."""
        self._writer.submit(lambda: None).result(timeout=timeout)

    def close(self) -> None:
        """Write what is queued, then stop the worker."""
        self._writer.shutdown(wait=True)


def _log_failure(future: Future) -> None:
    error = future.exception()
    if error is None:
        return
    if isinstance(error, XsentError):
        LOG.warning("prediction not saved to the store: %s", error)
    else:
        LOG.error("prediction not saved to the store", exc_info=error)
