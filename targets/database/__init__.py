"""Database components, clocked: the PostgreSQL adapter, the Redis manager and the coordinator of the
two (the plan's postgres_clock_adapter, redis_clock_manager, database_clock_coordinator), on the clock's
time. Protocols in ``core.database.protocols`` (the coordinator's is ``protocols.DatabaseCoordinator``)."""

from __future__ import annotations

from core.database import protocols
from core.database.protocols import OrderStore, RecordCache

from .database_coordinator import DatabaseCoordinator
from .postgres_adapter import PostgresAdapter
from .redis_manager import RedisManager

__all__ = ["DatabaseCoordinator", "OrderStore", "PostgresAdapter", "protocols", "RecordCache", "RedisManager"]
