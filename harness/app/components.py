"""The service's parts, each built clocked or baseline from the build map, started and stopped together."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

from harness import builds
from targets.clock import Clock, LiveClock, TestClock

from .config import ServiceConfig
from .feed import MarketFeed, QuoteSource
from .guards import CallbackProbe, LoopLagProbe
from .metrics import ServiceMetrics
from .monitoring import make_monitoring, service_figures
from .orders import OrderService
from .persistence import Persistence


def make_clock(config: ServiceConfig) -> Clock:
    if config.clock == "test":
        assert config.start_time_ns is not None
        return TestClock(config.start_time_ns)
    return LiveClock()


def make_tracker(config: ServiceConfig, clock: Clock) -> Any:
    return builds.make_for(config.build_map, "connection_tracker", clock, idle_timeout_ns=config.idle_timeout_ns)


def make_heartbeats(config: ServiceConfig, clock: Clock) -> Any:
    return builds.make_for(config.build_map, "websocket", clock, interval_ns=config.heartbeat_interval_ns)


def make_connections(config: ServiceConfig, clock: Clock) -> Any:
    """The WebSocket connection controller (built with the websocket component's flag)."""
    return builds.make_for(config.build_map, "ws_connections", clock, peer_timeout_ns=config.ws_peer_timeout_ns,
                           idle_timeout_ns=config.ws_idle_timeout_ns)  # fmt: skip


WS_CLOSE_LOG = 20_000  # recent WebSocket closes kept per worker


class Components:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.clock = make_clock(config)
        self.metrics = ServiceMetrics(config.build_map, config.worker_id, config.clock)
        self.tracker = make_tracker(config, self.clock)
        self.heartbeats = make_heartbeats(config, self.clock)
        self.connections = make_connections(config, self.clock)
        self.ws_closes: collections.deque[dict[str, Any]] = collections.deque(maxlen=WS_CLOSE_LOG)  # /api/v1/ws/closes
        self.feed = MarketFeed(
            QuoteSource(config.seed),
            config.quote_interval_ns,
            builds.clock_for(config.build_of("websocket"), self.clock),
        )
        self.monitor, self.monitor_sync = make_monitoring(
            config.build_map, self.clock, service_figures(self), config.monitor_interval_ns)
        self.monitor_scheduled = False
        self.orders: Any = None  # the order service (see harness/app/orders.py), set in start()
        self.store: Any = None  # PostgreSQL + Redis persistence, set in start()
        self.gateway_redis: Any = None  # the gateway's shared rate limits (harness/app/gateway.py)
        self.started = False
        self.loop_lag = LoopLagProbe()
        self.callbacks = CallbackProbe() if CallbackProbe.wanted() else None
        self.advance_lock = asyncio.Lock()  # /clock/advance: one at a time (it yields between slices)

    async def start(self) -> None:
        self.store = Persistence(self.config, self.clock)
        await self.store.start()
        self.orders = OrderService(self.config, self.clock, self.store, self.metrics)
        self.feed.on_quotes.append(self.orders.on_quotes)
        await self.orders.start()
        self.tracker.start()
        self.feed.start()
        # Under --clock test a jump of days would run one collection per virtual second (and return each
        # as an event of /clock/advance); there the collector collects at each scrape instead.
        self.monitor_scheduled = self.config.clock == "live"
        if self.monitor_scheduled:
            self.monitor.start()
        self.loop_lag.start()
        if self.callbacks is not None:
            self.callbacks.install()
        self.started = True

    async def stop(self) -> None:
        await self.loop_lag.stop()
        if self.callbacks is not None:
            self.callbacks.uninstall()
        self.monitor.stop()
        self.feed.stop()
        self.tracker.stop()
        self.heartbeats.stop()
        self.connections.stop()
        if self.orders is not None:
            await self.orders.close()
        if self.store is not None:
            await self.store.close()
        if self.gateway_redis is not None:
            await self.gateway_redis.aclose()

    async def health(self) -> dict[str, Any]:
        """Liveness is this answer; readiness is PostgreSQL and Redis answering, with their latency."""
        checks = await self.store.ping() if self.store is not None else {}
        ready = bool(checks) and all(c.get("ok") for c in checks.values())
        if self.orders is not None and self.orders.persist_errors:
            checks["background_writes"] = {"ok": False, "errors": self.orders.persist_errors[-5:]}
        for check in checks.values():  # the reason's kind, never an address (no host or port in the body)
            if "error" in check:
                check["error"] = check["error"].split(":", 1)[0]
        return {
            "status": "ok" if ready else "unavailable",
            "ready": ready,
            "clock": self.clock.kind,
            "worker": self.config.worker_id,
            "checks": checks,
        }
