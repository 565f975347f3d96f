"""The service's configuration: which clock, which build per component, where PostgreSQL and Redis are."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from harness.builds import build_map as make_build_map, validate_map

from core.units import NS_PER_MS as NANOS_IN_MS


@dataclass(frozen=True)
class ServiceConfig:
    clock: str = "live"  # "live" or "test"
    start_time_ns: int | None = None  # the TestClock's start (required with clock="test")
    build_map: dict[str, str] = field(default_factory=make_build_map)
    postgres_url: str | None = None
    redis_url: str | None = None
    worker_id: int = 0
    db_schema: str = "clockbench_service"  # PostgreSQL schema of this stack's tables
    redis_prefix: str = "clockbench:service:"  # Redis key prefix of this stack's cache
    seed: int = 7
    heartbeat_interval_ns: int = 5_000 * NANOS_IN_MS
    quote_interval_ns: int = 500 * NANOS_IN_MS
    # Keep-alive idle deadline of a worker's connection: a little past nginx's upstream keepalive_timeout
    # (75 s), so nginx, not the worker, closes its idle pool connections first (no reuse-after-close race).
    idle_timeout_ns: int = 80_000 * NANOS_IN_MS
    ws_idle_timeout_ns: int = 120_000 * NANOS_IN_MS  # a WebSocket with no application message for this long is closed
    # A WebSocket peer silent this long (no frame at all: no heartbeat ack, no ping) is closed as dead. Three of the
    # dashboard's 30 s pings (it does not ack heartbeats); clients that ack every heartbeat can be given less.
    ws_peer_timeout_ns: int = 90_000 * NANOS_IN_MS
    settlement_days: int = 2  # T+N
    # The gateway's per-route policy file (harness/app/gateway.py); the workers inherit the variable.
    gateway_policy: str | None = field(default_factory=lambda: os.environ.get("CLOCKBENCH_GATEWAY_POLICY") or None)
    monitor_interval_ns: int = 1_000 * NANOS_IN_MS  # the monitoring collector's interval (Prometheus scrapes at 1 s)

    def __post_init__(self) -> None:
        if self.clock not in ("live", "test"):
            raise ValueError(f"clock must be 'live' or 'test', got {self.clock!r}")
        if self.clock == "test" and self.start_time_ns is None:
            raise ValueError("clock 'test' needs start_time_ns (nanoseconds since the UNIX epoch)")
        if self.start_time_ns is not None and (not isinstance(self.start_time_ns, int) or self.start_time_ns < 0):
            raise ValueError(f"start_time_ns must be an int >= 0, got {self.start_time_ns!r}")
        object.__setattr__(self, "build_map", validate_map(self.build_map))
        for name in ("heartbeat_interval_ns", "quote_interval_ns", "idle_timeout_ns", "ws_idle_timeout_ns",
                     "monitor_interval_ns",
                     "ws_peer_timeout_ns"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int of nanoseconds, got {value!r}")
        if not 0 <= self.settlement_days <= 3:
            raise ValueError(f"settlement_days must be 0..3 (T+0 to T+3), got {self.settlement_days}")

    def build_of(self, component: str) -> str:
        return self.build_map[component]
