"""Database components as usually written: the same PostgreSQL adapter, Redis manager and coordinator
with time from the servers (``clock_timestamp()``, TTLs) or ``time.time_ns()``."""

from __future__ import annotations

from core.database import protocols
from core.database.protocols import OrderStore, RecordCache

from .database_coordinator import DatabaseCoordinator
from .postgres_adapter import PostgresAdapter
from .redis_manager import RedisManager

__all__ = ["DatabaseCoordinator", "OrderStore", "PostgresAdapter", "protocols", "RecordCache", "RedisManager"]
