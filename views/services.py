"""What the tabs need, built once in app.py and passed to each `build(services)`.

No module-level state: every tab gets the same `Services` object, which owns
the store, the loaded models and the settings.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xsent_core.types import CheckpointError, XsentError

from .cancel_flags import CancelFlags

@dataclass(frozen=True)
class AppSettings:
    host: str = "127.0.0.1"
    port: int = 7860
    share: bool = False
    users: tuple[tuple[str, str], ...] = ()
    db_path: Path = Path("data/xsent.sqlite3")
    models_dir: Path = Path("data/models")  # models trained from the app
    shipped_dir: Path = Path("assets/models")
    work_dir: Path = Path("data/work")  # uploads, exports: the only folder files are served from
    device: str = "auto"
    precision: str = "auto"  # CPU inference: auto = int8 where the model's parity check chose it
    max_upload_mb: int = 20
    max_batch_rows: int = 100_000
    upload_quota_mb: int = 200  # per user per upload_keep_s; 0: no quota
    upload_keep_s: int = 3600  # uploads older than this are deleted from Gradio's temporary folder


class ModelProvider:
    """Loads models on first use and keeps them; one lock so two requests never load twice."""

    def __init__(self, store: Any, settings: AppSettings) -> None:
        self._store = store
        self._settings = settings
        self._lock = threading.Lock()
        self._loaded: dict[str, Any] = {}

    def register_shipped(self) -> None:
        """Put every shipped model folder in the registry (default for its method if none)."""
        from db.records import ModelRecord
        from xsent_core.registry import read_model_card

        shipped = self._settings.shipped_dir
        if not shipped.is_dir():
            return
        known = {m.name for m in self._store.list_models()}
        for folder in sorted(p for p in shipped.iterdir() if (p / "config.json").is_file()):
            try:
                card = read_model_card(folder)
            except CheckpointError:
                continue
            name = f"{card.method}-default"
            if name not in known:
                self._store.register_model(
                    ModelRecord(
                        name=name,
                        method=card.method,
                        path=str(folder.resolve()),
                        encoder=card.encoder_fingerprint,
                        data=str(card.training.get("preset", "")),
                        metrics=dict(card.metrics),
                        created=card.created,
                        is_default=False,
                        shipped=True,
                    )
                )
            if self._store.default_model(card.method) is None:
                self._store.set_default_model(card.method, name)

    def model_names(self, method: str) -> list[str]:
        return [m.name for m in self._store.list_models() if m.method == method]

    def resolve(self, method: str, name: str | None = None) -> Any:
        """The registry record for `name`, or the method's default."""
        record = None
        if name:
            record = next((m for m in self._store.list_models() if m.name == name), None)
        else:
            record = self._store.default_model(method)
            if record is None:  # a store whose default was deleted by an older xsent: the shipped model serves
                record = next((m for m in self._store.list_models(method) if m.shipped), None)
        if record is None:
            raise XsentError(
                f"no trained {method!r} model is available. Train one with "
                f"`python -m xsent_core train --method {method} --preset <preset> --out DIR` "
                f"or from the Train tab."
            )
        return record

    def get(self, method: str, name: str | None = None) -> tuple[Any, Any]:
        """(record, loaded model); clear XsentError when the method is missing or untrained."""
        from xsent_core.registry import load_model, method_class

        method_class(method)  # raises "not implemented in this version" when absent
        record = self.resolve(method, name)
        with self._lock:
            model = self._loaded.get(record.name)
            if model is None:
                model = load_model(record.path, expected_method=method, device=self.device(), precision=self._settings.precision)
                self._loaded[record.name] = model
        return record, model

    def preload(self, method: str) -> threading.Thread:
        """Load `method`'s default model and run one prediction, in a background thread.

        Started while the page is first served, so the first click finds the model
        ready; a click that comes earlier waits on the same lock instead of loading twice.
        """

        def work() -> None:
            from xsent_core.types import Example

            try:
                _, model = self.get(method)
                model.predict([Example(id="warm-up", text="warm-up")])
            except Exception:  # a missing or broken model is reported when a user asks for it
                logging.getLogger("xsent.models").warning("could not preload the %s model", method, exc_info=True)

        thread = threading.Thread(target=work, name=f"xsent-preload-{method}", daemon=True)
        thread.start()
        return thread

    def forget(self, name: str) -> None:
        with self._lock:
            self._loaded.pop(name, None)

    def device(self) -> str:
        from xsent_core.device import resolve_device

        return str(resolve_device(self._settings.device))


@dataclass
class Services:
    settings: AppSettings
    store: Any
    models: ModelProvider
    jobs: Any = None
    predictions: Any = None  # PredictionLog: predictions written off the reply path
    batch_cancels: CancelFlags = field(default_factory=CancelFlags)  # per-session "stop the batch"
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: AppSettings, *, start_jobs: bool = True) -> "Services":
        """Open the store, register shipped models and start the job worker (unless told not to)."""
        from db.store import Store

        from .jobs import JobRunner

        settings.work_dir.mkdir(parents=True, exist_ok=True)
        settings.models_dir.mkdir(parents=True, exist_ok=True)
        store = Store.open(settings.db_path)
        models = ModelProvider(store, settings)
        models.register_shipped()
        jobs = JobRunner(store, settings)
        if start_jobs:
            jobs.start()
        from .prediction_log import PredictionLog

        return cls(settings=settings, store=store, models=models, jobs=jobs, predictions=PredictionLog(store))

    def close(self) -> None:
        """Stop the job worker and write the predictions still queued."""
        if self.jobs is not None:
            self.jobs.stop()
        if self.predictions is not None:
            self.predictions.close()

    def method_specs(self) -> dict[str, Any]:
        """{name: MethodSpec} of every available method, in the registry's display order.

        The tabs build their menus and inputs from these declarations, so a new
        method shows up everywhere by registering it.
        """
        if "method_specs" not in self.extras:
            from xsent_core.registry import method_specs

            self.extras["method_specs"] = {spec.name: spec for spec in method_specs()}
        return dict(self.extras["method_specs"])

    def methods_where(self, wanted: Any) -> list[str]:
        """Names of the methods whose spec satisfies `wanted(spec)`, in display order."""
        return [name for name, spec in self.method_specs().items() if wanted(spec)]

    def exports_dir(self) -> Path:
        """The one folder exports are written to (inside work_dir, which the app serves)."""
        folder = (self.settings.work_dir / "exports").resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def uploads_dir(self) -> Path:
        folder = (self.settings.work_dir / "uploads").resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return folder
