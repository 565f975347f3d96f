"""Liveness and readiness, Prometheus metrics, the no-work route and the build map."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from harness.builds import label

from . import API, current

router = APIRouter()


@router.get("/health", summary="Readiness: 200 when PostgreSQL and Redis answer, 503 (same body) when not",
            responses={503: {"description": "not ready: a check failed (the body says which)"}})  # fmt: skip
async def health(request: Request) -> Any:
    c = current(request)
    body = await c.health()
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


@router.get("/metrics", summary="Prometheus exposition of this worker", response_class=PlainTextResponse)
async def metrics(request: Request) -> Response:
    c = current(request)
    if c.orders is not None:
        c.metrics.set_orders(c.orders.state_counts())
        c.orders.observe_stages()
    c.metrics.idle_closed.labels(c.metrics.build, c.metrics.worker).set(c.tracker.closed_idle)
    c.metrics.loop_lag_max.labels(c.metrics.build, c.metrics.worker).set(c.loop_lag.max_s)
    if c.callbacks is not None:
        c.metrics.callback_max.labels("wall", c.metrics.build, c.metrics.worker).set(c.callbacks.max_wall_s)
        c.metrics.callback_max.labels("cpu", c.metrics.build, c.metrics.worker).set(c.callbacks.max_cpu_s)
    if not c.monitor_scheduled:
        c.monitor.collect()  # --clock test: a collection per scrape, at the TestClock's time
    # the request metrics, then the monitoring collector's figures (with their collection instants
    # in the clocked build; the baseline's are stamped by the scrape)
    return Response(c.metrics.exposition() + c.monitor.expose(), media_type=CONTENT_TYPE_LATEST)


@router.post(f"{API}/loop/window", summary="The event-loop probes' worst figures since the last call, then a new window")
async def loop_window(request: Request) -> dict[str, Any]:
    """Why: the probes keep their maxima since the worker started, so a long first request (imports,
    first queries) hides what a later stretch did; a client that wants one stretch's figures (a
    test around one advance, a load window) calls this before it and reads /metrics or calls it
    again after. ``callbacks`` is null unless CLOCKBENCH_CALLBACK_PROBE=1."""
    c = current(request)
    return {"loop_lag": c.loop_lag.reset(), "callbacks": c.callbacks.reset() if c.callbacks is not None else None}


@router.get("/hello", summary="Hello world: the same app with no work, the throughput ceiling in benchmarks")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


@router.get(f"{API}/build", summary="Which build (clocked or baseline) each component runs")
async def build(request: Request) -> dict[str, Any]:
    c = current(request)
    config = c.config
    return {"build": label(config.build_map), "components": dict(config.build_map), "clock": config.clock,
            "worker": config.worker_id}  # fmt: skip
