"""The FastAPI app: the routers of ``harness/app/routes`` over the components of one build map, on one clock.

``create_app(config)`` is the factory (uvicorn workers, tests): it builds the worker's components,
installs the error handlers and the metrics middleware, and includes each area's router. Every
time a response carries is the service clock's (LiveClock per worker process, or one TestClock
under ``--clock test``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from harness.builds import label

from . import protocol
from .components import Components
from .config import ServiceConfig
from .guards import BodyLimit
from .errors import install_domain_handlers, install_request_handlers, limit_repeated_logs
from .routes.clock import SYNC_PATH
from .routes import algos, clock, dashboard, health, orders, positions, ws

__all__ = ["MetricsMiddleware", "create_app"]

ROUTERS = (health.router, clock.router, orders.router, positions.router, algos.router, ws.router, dashboard.router)


class MetricsMiddleware:
    """Pure ASGI middleware: request count and worker-side latency per route template."""

    def __init__(self, app: Any, components: Components) -> None:
        self.app = app
        self.c = components

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter_ns()
        status = [500]
        if self.c.callbacks is not None:  # the callback probe names a long callback by its request
            task = asyncio.current_task()
            if task is not None:
                task.set_name(f"{scope['method']} {scope['path'][:80]}")

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.c.metrics.observe_request(path, scope["method"], status[0], (time.perf_counter_ns() - t0) / 1e9)


class ReceiptStamp:
    """Pure ASGI middleware, outermost: stamps ``/clock/sync`` requests with the service clock as they arrive.

    An NTP server's t1 is the instant the request came in; stamped in the route instead, the
    time the request spent in the layers above (gateway, metrics, parsing) falls on the
    request's leg only and reads as path asymmetry that no client can see or remove."""

    def __init__(self, app: Any, components: Components) -> None:
        self.app = app
        self.c = components

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == SYNC_PATH:
            scope.setdefault("state", {})["received_ns"] = self.c.clock.timestamp_ns()
        await self.app(scope, receive, send)


def create_app(config: ServiceConfig) -> FastAPI:
    components = Components(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        limit_repeated_logs()  # after uvicorn configured its loggers
        await components.start()
        protocol.install(components.tracker)
        # What start-up made (modules, routes, schemas, pools) lives as long as the worker: out of the
        # collector's sight, a full collection walks only what requests made (it ran 40-60 ms under a
        # maximal algo's day, inside one loop callback).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            protocol.install(None)
            await components.stop()

    app = FastAPI(
        title="clockbench service",
        version="1",
        description=(
            "The trading backend under test: OMS/EMS/PMS on one Clock, persisted to PostgreSQL and Redis, "
            f"per-component builds ({label(config.build_map)}), clock {config.clock}."
        ),
        lifespan=lifespan,
    )
    app.state.components = components
    app.add_middleware(BodyLimit)
    app.add_middleware(MetricsMiddleware, components=components)
    from .gateway import install as install_gateway

    install_gateway(app, components)  # its 429/400/504 are counted by no route
    app.add_middleware(ReceiptStamp, components=components)  # outermost of all: t1 as the request arrives
    install_request_handlers(app)
    install_domain_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    _exact_integer_bounds(app)
    return app


def _exact_integer_bounds(app: FastAPI) -> None:
    """FastAPI's OpenAPI model holds minimum/maximum as floats: 2**63-1 would read 9.223372036854776e18
    (= 2**63, one past what the service accepts). Put the exact integers back."""
    from core.order_management.limits import MAX_NS

    original = app.openapi

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (_exact(v) if k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") else fix(v))
                    for k, v in node.items()}  # fmt: skip
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    def _exact(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return MAX_NS if v == float(MAX_NS) else int(v)
        return v

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = fix(original())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
