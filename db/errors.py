"""Errors the store raises; all are `XsentError`s, so the app shows their message as is.

Bad user input (spans, labels, parameters) raises `xsent_core.types.InputError`.
"""
from __future__ import annotations

from xsent_core.types import XsentError


class StoreError(XsentError):
    """The database file cannot be used, or an operation conflicts with what is stored."""


class SchemaVersionError(StoreError):
    """The file was written by a newer xsent than this one (or is not an xsent database)."""


class NotFoundError(StoreError):
    """A document, job or model id that is not in the store."""


class StoreBusyError(StoreError):
    """Another process kept the database locked past every retry."""
