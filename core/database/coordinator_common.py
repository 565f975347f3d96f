"""What both coordinators share: cache-aside reads, the consistency check and the skew
measurement, given a store, a cache and a way to read the application's time (no time source here)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields

from .errors import CacheWriteError
from .records import OrderRow
from .skew import Offset, Sample, SkewReport, estimate
from core.units import NS_PER_S

DEFAULT_TTL_NS = 60 * NS_PER_S


def order_key(order_id: str) -> str:
    return "order:" + order_id


@dataclass
class CacheStats:
    """Counts of cache-aside outcomes, to compute a hit rate."""

    hits: int = 0
    misses: int = 0
    fills: int = 0

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


@dataclass(frozen=True)
class ConsistencyReport:
    """Whether the cached entry and the stored row of one order agree.

    Consistent when there is no cached entry (a miss is always safe), or when the cached entry
    equals the row field for field; ``mismatches`` names the fields that differ (``timestamp``
    and ``state`` first among them, being what a stale entry gets wrong).
    """

    order_id: str
    in_store: bool
    in_cache: bool
    mismatches: tuple[str, ...] = field(default=())

    @property
    def consistent(self) -> bool:
        return not self.mismatches


def compare(order_id: str, stored: OrderRow | None, cached: object | None) -> ConsistencyReport:
    """Pure comparison of a stored row and a cached record."""
    if cached is None:
        return ConsistencyReport(order_id, stored is not None, False)
    if not isinstance(cached, OrderRow):
        return ConsistencyReport(order_id, stored is not None, True, ("type",))
    if stored is None:
        return ConsistencyReport(order_id, False, True, ("missing_in_store",))
    diff = tuple(f.name for f in fields(OrderRow) if getattr(stored, f.name) != getattr(cached, f.name))
    return ConsistencyReport(order_id, True, True, diff)


class CoordinatorBase:
    """Subclasses give ``store``, ``cache``, ``ttl_ns`` and ``_app_now``; they write through."""

    build = "abstract"
    app_clock = "abstract"

    def __init__(self, store, cache, *, ttl_ns: int | None = DEFAULT_TTL_NS) -> None:  # type: ignore[no-untyped-def]
        if ttl_ns is not None and (not isinstance(ttl_ns, int) or isinstance(ttl_ns, bool) or ttl_ns <= 0):
            raise ValueError(f"ttl_ns must be an int > 0 of nanoseconds or None, got {ttl_ns!r}")
        self.store = store
        self.cache = cache
        self.ttl_ns = ttl_ns
        self.stats = CacheStats()

    def _app_now(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    async def _write_through(self, row: OrderRow, cache_write: Awaitable[None]) -> OrderRow:
        """The row is committed; put it in the cache, or make sure no stale entry survives and say so."""
        try:
            await cache_write
        except Exception as exc:
            try:
                await self.cache.delete(order_key(row.order_id))
            except Exception:
                pass
            raise CacheWriteError(
                f"order {row.order_id!r} is committed (seq {row.seq}) but caching it failed: {exc!r}", row
            ) from exc
        return row

    async def _write_through_many(self, rows: list[OrderRow], cache_write: Awaitable[None]) -> list[OrderRow]:
        """The rows are committed; cache them in one pipeline, or drop their entries and say so."""
        try:
            await cache_write
        except Exception as exc:
            try:
                await self.cache.delete_many([order_key(r.order_id) for r in rows])
            except Exception:
                pass
            raise CacheWriteError(f"{len(rows)} order updates are committed but caching them failed: {exc!r}",
                                  rows) from exc  # fmt: skip
        return rows

    async def read_order(self, order_id: str) -> OrderRow | None:
        """Cache-aside: the cache, else the store (and fill the cache unless a newer write got there first)."""
        key = order_key(order_id)
        cached = await self.cache.get_record(key)
        if cached is not None:
            self.stats.hits += 1
            return cached  # type: ignore[return-value]
        self.stats.misses += 1
        row = await self.store.get_order(order_id)
        if row is not None and await self.cache.add_record(key, row, self.ttl_ns):
            self.stats.fills += 1
        return row

    async def check_consistency(self, order_id: str) -> ConsistencyReport:
        stored = await self.store.get_order(order_id)
        cached = await self.cache.get_record(order_key(order_id))
        return compare(order_id, stored, cached)

    async def measure_skew(self, samples: int = 5) -> SkewReport:
        """Offsets of PostgreSQL's now() and Redis's TIME from the application's clock."""
        if not isinstance(samples, int) or samples < 1:
            raise ValueError(f"samples must be an int >= 1, got {samples!r}")

        async def bracket(read: Callable[[], Awaitable[int]]) -> Offset:
            taken = []
            for _ in range(samples):
                before = self._app_now()
                server = await read()
                taken.append(Sample(before, server, self._app_now()))
            return estimate(taken)

        pg = await bracket(self.store.server_time_ns)
        rd = await bracket(self.cache.server_time_ns)
        return SkewReport(self.app_clock, self._app_now(), pg, rd)
