"""The service's monitoring component: its figures as a source for the build's Prometheus collector.

The collector (targets/monitoring clocked, baselines/monitoring baseline, per ``--component
monitoring=``) reads ``service_figures(components)`` every interval and ``/metrics`` serves its
exposition after the request metrics. The figures: orders by state, the order-latency quantiles of
the last orders, positions by instrument, heartbeats sent, open WebSocket connections, idle
connections closed; and the probe ``clockbench_monitor_value_taken_seconds``, the wall time at which
the figures were read (the harness's instrument: at the consumer, a sample's stored timestamp is
compared with it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from core.monitoring.figures import Figure
from harness import builds

PROBE = "clockbench_monitor_value_taken_seconds"
LATENCY_TRANSITION = "received->filled"
LATENCY_WINDOW = 1000  # the last N orders' latencies make the quantiles


def _quantile(values: list[int], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))] / 1e9


def service_figures(c: Any) -> Callable[[], list[Figure]]:
    def read() -> list[Figure]:
        taken = time.time_ns()
        figs = [Figure(PROBE, "Wall time at which this collection read the figures (measurement probe)", (), taken / 1e9)]
        if c.orders is not None:
            for state, n in sorted(c.orders.state_counts().items()):
                figs.append(Figure("clockbench_stack_orders", "Orders held, by state", (("state", state),), float(n)))
            lat = c.orders.parts.timing.latencies(LATENCY_TRANSITION)[-LATENCY_WINDOW:]
            if lat:
                for q in ("0.5", "0.99"):
                    figs.append(Figure("clockbench_stack_order_latency_seconds",
                                       f"Order latency {LATENCY_TRANSITION}, last {LATENCY_WINDOW} orders",
                                       (("quantile", q),), _quantile(list(lat), float(q))))
            for p in c.orders.parts.pms.positions():
                figs.append(Figure("clockbench_stack_position", "Net position, by instrument",
                                   (("instrument", p.instrument),), float(p.quantity)))
        figs.append(Figure("clockbench_stack_heartbeats_total", "Heartbeats sent", (), float(c.heartbeats.sent), "counter"))
        figs.append(Figure("clockbench_stack_connections", "Open WebSocket connections", (),
                           float(c.heartbeats.connections())))
        figs.append(Figure("clockbench_stack_idle_closed", "Idle connections closed at their deadline", (),
                           float(c.tracker.closed_idle)))
        return figs

    return read


def make_monitoring(build_map: Mapping[str, str], clock: Any, source: Callable[[], list[Figure]],
                    interval_ns: int) -> tuple[Any, Any]:
    """(collector, sync) in the build the map gives ``monitoring``, the collector attached to the sync."""
    collector = builds.make_for(build_map, "monitoring", clock, source=source, interval_ns=interval_ns)
    sync = builds.make_for(build_map, "monitoring_sync", clock, interval_ns=interval_ns)
    sync.attach_collector(collector)
    return collector, sync
