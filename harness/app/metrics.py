"""Prometheus metrics of one worker process (its own registry), labelled with the build map."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from harness.builds import COMPONENTS, label

_LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip
_STAGE_BUCKETS = (1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.1, 1.0, 10.0)


class _Children:
    """A labelled metric's children, kept by their label values (the worker's build and id appended).

    Why: prometheus_client's ``labels()`` checks and joins the values and takes a lock on every call, a
    few µs each; a request observed six (its route, then the gateway's outcome and three stages)."""

    __slots__ = ("_metric", "_suffix", "_kids")

    def __init__(self, metric: Any, *suffix: str) -> None:
        self._metric = metric
        self._suffix = suffix
        self._kids: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        kid = self._kids.get(values)
        if kid is None:
            kid = self._kids[values] = self._metric.labels(*values, *self._suffix)
        return kid


class ServiceMetrics:
    def __init__(self, build_map: dict[str, str], worker_id: int, clock_kind: str) -> None:
        self.registry = CollectorRegistry()
        self.build = label(build_map)
        self.worker = str(worker_id)
        info = Gauge(
            "clockbench_build_info",
            "1 for each component with the build it runs; 'build' is the whole map in one label",
            ["component", "component_build", "build", "worker", "clock"],
            registry=self.registry,
        )
        for c in COMPONENTS:
            info.labels(c, build_map[c], self.build, self.worker, clock_kind).set(1)
        self.requests = Counter(
            "clockbench_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status", "build", "worker"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "clockbench_http_request_duration_seconds",
            "Time in the worker per request (from the ASGI call to the last body byte)",
            ["route", "method", "build", "worker"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.orders = Gauge(
            "clockbench_orders", "Orders held by this worker, by state", ["state", "build", "worker"],
            registry=self.registry,
        )  # fmt: skip
        self.stage = Histogram(
            "clockbench_order_stage_latency_seconds",
            "Per-stage order latency from the order timing (clock time between stages)",
            ["transition", "build", "worker"],
            buckets=_STAGE_BUCKETS,
            registry=self.registry,
        )
        self.ws_connections = Gauge(
            "clockbench_ws_connections", "Open /ws/market connections", ["build", "worker"], registry=self.registry
        )
        self.heartbeats = Counter(
            "clockbench_ws_heartbeats", "Heartbeats sent", ["build", "worker"], registry=self.registry
        )
        self.idle_closed = Gauge(
            "clockbench_idle_connections_closed",
            "Connections the tracker closed at their idle deadline", ["build", "worker"], registry=self.registry,
        )  # fmt: skip

        self.loop_lag_max = Gauge(
            "clockbench_loop_lag_max_seconds",
            "Longest time the event loop went without polling for I/O since start (how long it was held)",
            ["build", "worker"], registry=self.registry,
        )  # fmt: skip
        self.callback_max = Gauge(
            "clockbench_loop_callback_max_seconds",
            "Longest single event-loop callback since start, real (wall) and CPU time (only with "
            "CLOCKBENCH_CALLBACK_PROBE=1)", ["measure", "build", "worker"], registry=self.registry,
        )  # fmt: skip

        self.gateway = Counter(
            "clockbench_gateway_requests", "Requests through the API gateway by route policy and outcome "
            "(ok, limited, timeout, bad_budget, limiter_down) and whether answered after the budget",
            ["route", "outcome", "late", "build", "worker"], registry=self.registry,
        )  # fmt: skip
        self.gateway_stage = Histogram(
            "clockbench_gateway_stage_seconds", "The gateway's stages per request (as in Server-Timing)",
            ["stage", "build", "worker"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        # the children a request observes, kept (see _Children)
        self._requests = _Children(self.requests, self.build, self.worker)
        self._latency = _Children(self.latency, self.build, self.worker)
        self._gateway = _Children(self.gateway, self.build, self.worker)
        self._gateway_stages = tuple(self.gateway_stage.labels(s, self.build, self.worker) for s in ("limit", "app", "total"))

    def observe_gateway(self, rec: Any) -> None:
        """The gateway middleware's sink: one GatewayRecord per request."""
        self._gateway(rec.route, rec.outcome, "1" if rec.late else "0").inc()
        limit, app, total = self._gateway_stages
        limit.observe(rec.limit_ns / 1e9)
        app.observe(rec.app_ns / 1e9)
        total.observe(rec.total_ns / 1e9)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self._requests(route, method, str(status)).inc()
        self._latency(route, method).observe(seconds)

    def observe_stage(self, transition: str, ns: int) -> None:
        self.stage.labels(transition, self.build, self.worker).observe(ns / 1e9)

    def set_orders(self, counts: dict[str, int]) -> None:
        for state, n in counts.items():
            self.orders.labels(state, self.build, self.worker).set(n)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
