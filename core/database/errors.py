"""Errors the stores raise. A write that did not happen always raises; nothing is dropped silently."""

from __future__ import annotations

import asyncpg


class StoreError(Exception):
    """A write or read the store refused; the message names the record and the reason."""


class DuplicateRecord(StoreError):
    """A record with this key (or client order id) is already stored."""


class RecordNotFound(StoreError):
    """No stored record has this key."""


class ConstraintViolation(StoreError):
    """The database refused the write (a reference to a missing order, a check constraint...)."""


class StaleWrite(StoreError):
    """An update stamped earlier than the row's last update: the clock decides the order, so it is refused."""


class StoreNotStarted(StoreError):
    """The adapter or manager was used before ``start()`` (or after ``close()``)."""


class CacheWriteError(Exception):
    """The database write committed but the cache write failed; ``row`` is the committed row."""

    def __init__(self, message: str, row: object) -> None:
        super().__init__(message)
        self.row = row


def translate(exc: asyncpg.PostgresError, what: str) -> StoreError | asyncpg.PostgresError:
    """Map a PostgreSQL error to a StoreError naming ``what`` was being written; others pass through."""
    detail = getattr(exc, "detail", None) or str(exc)
    if isinstance(exc, asyncpg.UniqueViolationError):
        return DuplicateRecord(f"{what}: already stored ({detail})")
    if isinstance(exc, (asyncpg.ForeignKeyViolationError, asyncpg.CheckViolationError, asyncpg.NotNullViolationError)):
        return ConstraintViolation(f"{what}: refused by the database ({detail})")
    return exc
