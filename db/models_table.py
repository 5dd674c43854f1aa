"""Registered models and the default per method."""
from __future__ import annotations

from sqlite_utils import Database
from xsent_core.types import InputError

from db import codec
from db.connection import StoreConnection
from db.errors import NotFoundError, StoreError
from db.records import ModelRecord
from db.rows import _get_model, _make_default


class ModelRecords(StoreConnection):
    """Registered models and the default per method."""

    def register_model(self, record: ModelRecord, *, replace: bool = False) -> ModelRecord:
        """Add a model; with replace=True overwrite one of the same name (keeping its creation time).

        `record.is_default=True` makes it the default for its method. A replaced
        model stays default if it was. Shipped models cannot be replaced by
        non-shipped ones (that would make them deletable).
        """
        if not record.name or not record.method or not record.path:
            raise InputError("a model needs a name, a method and a path")
        metrics_json = codec.to_json(dict(record.metrics), f"metrics of model {record.name!r}")

        def tx(db: Database) -> ModelRecord:
            old = db.execute(
                "SELECT created, is_default, shipped FROM models WHERE name = ?", [record.name]
            ).fetchone()
            if old is not None and not replace:
                raise StoreError(f"a model named {record.name!r} is already registered; pick another name")
            if old is not None and old[2] and not record.shipped:
                raise StoreError(f"model {record.name!r} ships with xsent; it cannot be replaced by a local one")
            is_default = bool(record.is_default or (old is not None and old[1]))
            row = {
                "name": record.name,
                "method": record.method,
                "path": str(record.path),
                "encoder": record.encoder,
                "data": record.data,
                "metrics_json": metrics_json,
                "created": old[0] if old is not None else (record.created or codec.now_iso()),
                "is_default": 0,
                "shipped": int(record.shipped),
            }
            if old is None:
                db["models"].insert(row)
            else:
                sets = ", ".join(f"{k} = :{k}" for k in row if k != "name")
                db.execute(f"UPDATE models SET {sets} WHERE name = :name", row)
            if is_default:
                _make_default(db, record.method, record.name)
            return _get_model(db, record.name)

        return self._write("register_model", tx)

    def get_model(self, name: str) -> ModelRecord:
        rows = self._read("SELECT * FROM models WHERE name = ?", [name])
        if not rows:
            raise NotFoundError(f"model {name!r} is not registered")
        return codec.model_from_row(rows[0])

    def list_models(self, method: str | None = None) -> list[ModelRecord]:
        rows = self._read(
            "SELECT * FROM models WHERE (:method IS NULL OR method = :method) ORDER BY method, name",
            {"method": method},
        )
        return [codec.model_from_row(r) for r in rows]

    def default_model(self, method: str) -> ModelRecord | None:
        rows = self._read("SELECT * FROM models WHERE method = ? AND is_default = 1", [method])
        return codec.model_from_row(rows[0]) if rows else None

    def set_default_model(self, method: str, name: str) -> ModelRecord:
        def tx(db: Database) -> ModelRecord:
            model = _get_model(db, name)
            if model.method != method:
                raise StoreError(f"model {name!r} is a {model.method} model, not {method}")
            _make_default(db, method, name)
            return _get_model(db, name)

        return self._write("set_default_model", tx)

    def delete_model(self, name: str) -> ModelRecord:
        """Forget a registered model (its folder is left alone); shipped models are refused.

        Deleting a method's default makes its shipped model the default again.
        """

        def tx(db: Database) -> ModelRecord:
            model = _get_model(db, name)
            if model.shipped:
                raise StoreError(f"model {name!r} ships with xsent and cannot be deleted")
            db.execute("DELETE FROM models WHERE name = ?", [name])
            if model.is_default:  # the method keeps a default: its shipped model, when there is one
                row = db.execute(
                    "SELECT name FROM models WHERE method = ? AND shipped = 1 ORDER BY name LIMIT 1", [model.method]
                ).fetchone()
                if row is not None:
                    _make_default(db, model.method, row[0])
            return model

        return self._write("delete_model", tx)
