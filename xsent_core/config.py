"""Frozen dataclass configs that round-trip through JSON with validation.

Loading a config never executes code: only JSON scalars, lists and dicts are
accepted, unknown keys are refused, and each value is checked against the
field's declared type.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, TypeVar

from .types import CheckpointError

C = TypeVar("C")


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def _check_type(value: Any, annotation: Any, name: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        errors = []
        for arg in args:
            try:
                return _check_type(value, arg, name)
            except CheckpointError as e:
                errors.append(str(e))
        raise CheckpointError(f"config field {name!r}: {value!r} matches none of {annotation}")
    if annotation is type(None):
        if value is None:
            return None
        raise CheckpointError(f"config field {name!r}: expected null, got {value!r}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise CheckpointError(f"config field {name!r}: expected a list, got {value!r}")
        item_type = args[0] if args else Any
        items = [_check_type(v, item_type, name) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise CheckpointError(f"config field {name!r}: expected an object, got {value!r}")
        val_type = args[1] if len(args) == 2 else Any
        return {str(k): _check_type(v, val_type, name) for k, v in value.items()}
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CheckpointError(f"config field {name!r}: expected a number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CheckpointError(f"config field {name!r}: expected an integer, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise CheckpointError(f"config field {name!r}: expected true/false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise CheckpointError(f"config field {name!r}: expected a string, got {value!r}")
        return value
    raise CheckpointError(f"config field {name!r}: unsupported type {annotation}")


def config_from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Build `cls` from JSON data, refusing unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise CheckpointError(f"{cls.__name__}: expected a JSON object")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - fields
    if unknown:
        raise CheckpointError(f"{cls.__name__}: unknown config keys {sorted(unknown)}")
    kwargs = {k: _check_type(v, hints[k], k) for k, v in data.items()}
    return cls(**kwargs)


def replace_config(config: C, **overrides: Any) -> C:
    """dataclasses.replace with the same validation as loading from JSON."""
    merged = {**config_to_dict(config), **overrides}
    return config_from_dict(type(config), merged)


def read_json(path: Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise CheckpointError(f"{path}: file not found") from e
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{path}: not UTF-8 text ({e})") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from e
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data
