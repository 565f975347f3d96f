"""The FastAPI app: thin handlers over the components of one build map, on one clock.

``create_app(config)`` is the factory (uvicorn workers, tests). Every time a response carries is the
service clock's (LiveClock per worker process, or one TestClock under ``--clock test``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import protocol
from .buildmap import label
from .components import Components
from .config import ServiceConfig
from .schemas import AlgoCreate, ClockAdvance, ClockSync, OrderCreate

API = "/api/v1"


def _field(loc: tuple | list) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or str(loc[0] if loc else "body")


def error_body(status_text: str, errors: list[dict[str, str]]) -> dict[str, Any]:
    return {"error": status_text, "errors": errors}


def _problem(status: int, field: str, reason: str) -> JSONResponse:
    return JSONResponse(error_body(reason, [{"field": field, "reason": reason}]), status_code=status)


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


def create_app(config: ServiceConfig) -> FastAPI:
    components = Components(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await components.start()
        protocol.install(components.tracker)
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
    app.add_middleware(MetricsMiddleware, components=components)
    c = components

    # --- errors: always JSON naming each bad field and why -----------------------------------
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors():
            reason = e.get("msg", "invalid")
            if e.get("type") == "json_invalid":
                reason = f"the body is not valid JSON: {e.get('ctx', {}).get('error', reason)}"
            elif e.get("type") == "extra_forbidden":
                reason = "is not a field of this request"
            errors.append({"field": _field(e.get("loc", ())), "reason": reason})
        return JSONResponse(error_body("invalid request", errors), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(error_body(str(exc.detail), [{"field": "path", "reason": str(exc.detail)}]), exc.status_code)

    from .errors import install_domain_handlers

    install_domain_handlers(app)

    # --- service -----------------------------------------------------------------------------
    @app.get("/health", summary="Liveness, and readiness of PostgreSQL and Redis with their latency")
    async def health() -> dict[str, Any]:
        return await c.health()

    @app.get("/metrics", summary="Prometheus exposition of this worker", response_class=PlainTextResponse)
    async def metrics() -> Response:
        if c.orders is not None:
            c.metrics.set_orders(c.orders.state_counts())
            c.orders.observe_stages()
        c.metrics.idle_closed.labels(c.metrics.build, c.metrics.worker).set(c.tracker.closed_idle)
        return Response(c.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/hello", summary="Hello world: the same app with no work, the throughput ceiling in benchmarks")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    @app.get(f"{API}/build", summary="Which build (clocked or baseline) each component runs")
    async def build() -> dict[str, Any]:
        return {"build": label(config.build_map), "components": dict(config.build_map), "clock": config.clock,
                "worker": config.worker_id}  # fmt: skip

    # --- clock -------------------------------------------------------------------------------
    @app.post(f"{API}/clock/sync", summary="NTP-style exchange: t1 (receive) and t2 (send) in server ns")
    async def clock_sync(body: ClockSync) -> dict[str, Any]:
        t1 = c.clock.timestamp_ns()
        return {"t0": body.t0, "t1": t1, "t2": c.clock.timestamp_ns(), "clock": c.clock.kind}

    @app.get(f"{API}/clock/server-time", summary="The service clock's time")
    async def server_time() -> dict[str, Any]:
        ns = c.clock.timestamp_ns()
        return {"timestamp_ns": ns, "iso": c.clock.utc_now().isoformat(), "clock": c.clock.kind}

    @app.post(f"{API}/clock/advance", summary="TestClock only: move time, returning the events fired")
    async def clock_advance(body: ClockAdvance) -> Any:
        if c.clock.kind != "test":
            return _problem(404, "clock", "the clock is live; /clock/advance exists only under --clock test")
        if (body.by_ns is None) == (body.to_ns is None):
            return _problem(422, "by_ns", "give exactly one of by_ns or to_ns")
        now = c.clock.timestamp_ns()
        if body.by_ns is not None and body.by_ns < 0:
            return _problem(422, "by_ns", f"must be >= 0, got {body.by_ns}")
        target = now + body.by_ns if body.by_ns is not None else body.to_ns
        if target < now:
            return _problem(422, "to_ns", f"{target} is before now ({now}): time does not go back")
        events = c.clock.advance_time(target)  # type: ignore[attr-defined]
        if c.orders is not None:
            await c.orders.flush()
        return {
            "from_ns": now,
            "to_ns": target,
            "events": [{"name": e.name, "event_id": e.event_id, "ts_event": e.ts_event, "ts_init": e.ts_init}
                       for e in events],  # fmt: skip
        }

    # --- orders, positions, algos ------------------------------------------------------------
    @app.post(f"{API}/orders", status_code=201, summary="Submit an order; 201 once it is committed")
    async def create_order(body: OrderCreate) -> Any:
        return await c.orders.submit(body.model_dump())

    @app.get(f"{API}/orders/{{order_id}}", summary="An order and its state")
    async def get_order(order_id: str) -> Any:
        return await c.orders.get(order_id)

    @app.delete(f"{API}/orders/{{order_id}}", summary="Cancel an order (404 unknown, 409 already final)")
    async def cancel_order(order_id: str) -> Any:
        return await c.orders.cancel(order_id)

    @app.get(f"{API}/positions", summary="Every position, with cash")
    async def positions() -> Any:
        return c.orders.positions()

    @app.get(f"{API}/positions/{{instrument}}", summary="One instrument's position")
    async def position(instrument: str) -> Any:
        return c.orders.position(instrument)

    @app.post(f"{API}/algos", status_code=201, summary="Start a TWAP/VWAP/POV over a parent order")
    async def start_algo(body: AlgoCreate) -> Any:
        return await c.orders.start_algo(body.model_dump())

    @app.get(f"{API}/algos/{{algo_id}}", summary="An algo with its slices' scheduled and actual times")
    async def get_algo(algo_id: str) -> Any:
        return c.orders.get_algo(algo_id)

    # --- market data WebSocket (harness/service/market_ws.py) ----------------------------------
    from .market_ws import build_router

    app.include_router(build_router(c, handle_ws_message))

    return app


def handle_ws_message(c: Components, conn_id: object, queue: asyncio.Queue, text: str) -> dict:
    """One client message -> the answer to queue. Bad input gets an error message, never a close."""
    import json

    try:
        msg = json.loads(text)
    except ValueError as exc:
        return {"type": "error", "field": "message", "reason": f"not valid JSON: {exc}"}
    if not isinstance(msg, dict):
        return {"type": "error", "field": "message", "reason": "must be a JSON object"}
    kind = msg.get("type")
    if kind in ("subscribe", "unsubscribe"):
        inst = msg.get("instruments")
        if not isinstance(inst, list) or not inst or not all(isinstance(i, str) for i in inst):
            return {"type": "error", "field": "instruments", "reason": "must be a non-empty list of symbols"}
        try:
            if kind == "subscribe":
                now = c.feed.subscribe(conn_id, queue.put_nowait, inst)
            else:
                now = c.feed.unsubscribe(conn_id, inst)
        except ValueError as exc:
            return {"type": "error", "field": "instruments", "reason": str(exc)}
        return {"type": f"{kind}d", "instruments": now, "timestamp": c.clock.timestamp_ns()}
    if kind == "ping":
        return {"type": "pong", "timestamp": c.clock.timestamp_ns()}
    return {"type": "error", "field": "type", "reason": f"unknown message type {kind!r}; use subscribe, unsubscribe or ping"}
