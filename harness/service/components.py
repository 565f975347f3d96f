"""The service's parts, each built clocked or baseline from the build map, started and stopped together."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from targets.clock import Clock, LiveClock, TestClock

from .config import ServiceConfig
from .feed import MarketFeed, QuoteSource
from .metrics import ServiceMetrics


def make_clock(config: ServiceConfig) -> Clock:
    if config.clock == "test":
        assert config.start_time_ns is not None
        return TestClock(config.start_time_ns)
    return LiveClock()


def make_tracker(config: ServiceConfig, clock: Clock) -> Any:
    if config.build_of("connection_tracker") == "clocked":
        from targets.load_balancing.nginx_clock_controller import NGINXClockController

        return NGINXClockController(clock, config.idle_timeout_ns).connection_tracker
    from baselines.load_balancing.nginx_clock_controller import NGINXClockController as Baseline

    return Baseline(config.idle_timeout_ns).connection_tracker


def make_heartbeats(config: ServiceConfig, clock: Clock) -> Any:
    if config.build_of("websocket") == "clocked":
        from targets.websocket.websocket_clock_manager import WebSocketClockManager

        return WebSocketClockManager(clock, config.heartbeat_interval_ns)
    from baselines.websocket.websocket_clock_manager import WebSocketHeartbeatLoop

    return WebSocketHeartbeatLoop(config.heartbeat_interval_ns)


def make_connections(config: ServiceConfig, clock: Clock) -> Any:
    """The WebSocket connection controller, built with the websocket component."""
    if config.build_of("websocket") == "clocked":
        from targets.websocket.connection_controller import ConnectionController

        return ConnectionController(config.ws_peer_timeout_ns, config.ws_idle_timeout_ns, clock=clock)
    from baselines.websocket.connection_controller import ConnectionController as Baseline

    return Baseline(config.ws_peer_timeout_ns, config.ws_idle_timeout_ns)


class Components:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.clock = make_clock(config)
        self.metrics = ServiceMetrics(config.build_map, config.worker_id, config.clock)
        self.tracker = make_tracker(config, self.clock)
        self.heartbeats = make_heartbeats(config, self.clock)
        self.connections = make_connections(config, self.clock)
        self.feed = MarketFeed(
            QuoteSource(config.seed),
            config.quote_interval_ns,
            self.clock if config.build_of("websocket") == "clocked" else None,
        )
        self.orders: Any = None  # the order service (see harness/service/orders.py), set in start()
        self.store: Any = None  # PostgreSQL + Redis persistence, set in start()
        self.started = False

    async def start(self) -> None:
        from .orders import OrderService
        from .persistence import Persistence

        self.store = Persistence(self.config, self.clock)
        await self.store.start()
        self.orders = OrderService(self.config, self.clock, self.store, self.metrics)
        self.feed.on_quotes.append(self.orders.on_quotes)
        self.orders.start()
        self.tracker.start()
        self.feed.start()
        self.started = True

    async def stop(self) -> None:
        self.feed.stop()
        self.tracker.stop()
        self.heartbeats.stop()
        self.connections.stop()
        if self.orders is not None:
            await self.orders.close()
        if self.store is not None:
            await self.store.close()

    async def health(self) -> dict[str, Any]:
        """Liveness is this answer; readiness is PostgreSQL and Redis answering, with their latency."""
        checks = await self.store.ping() if self.store is not None else {}
        ready = bool(checks) and all(c.get("ok") for c in checks.values())
        if self.orders is not None and self.orders.persist_errors:
            checks["background_writes"] = {"ok": False, "errors": self.orders.persist_errors[-5:]}
        return {
            "status": "ok",
            "ready": ready,
            "clock": self.clock.kind,
            "worker": self.config.worker_id,
            "checks": checks,
        }


async def timed(coro: Any) -> tuple[bool, int, str]:
    """Run a check; (ok, latency in ns, error). Harness measurement, so it reads perf_counter."""
    t0 = time.perf_counter_ns()
    try:
        await asyncio.wait_for(coro, 2.0)
        return True, time.perf_counter_ns() - t0, ""
    except Exception as exc:  # noqa: BLE001 - reported, not raised: /health says what failed
        return False, time.perf_counter_ns() - t0, f"{type(exc).__name__}: {exc}"
