"""Domain and storage errors as HTTP answers: a status and a body naming the field and the reason."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .orders import OrderManagementUnavailable


def error_body(message: str, errors: list[dict[str, str]]) -> dict[str, Any]:
    return {"error": message, "errors": errors}


_body = error_body


def problem(status: int, field: str, reason: str) -> JSONResponse:
    """An error answer naming one field and why."""
    return JSONResponse(error_body(reason, [{"field": field, "reason": reason}]), status_code=status)


def _field(loc: tuple | list) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or str(loc[0] if loc else "body")


def install_request_handlers(app: FastAPI) -> None:
    """Malformed requests (422) and HTTP errors (404, 405...): always JSON naming each bad field and why."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors():
            reason = e.get("msg", "invalid")
            if e.get("type") == "json_invalid":
                reason = f"the body is not valid JSON: {e.get('ctx', {}).get('error', reason)}"
                errors.append({"field": "body", "reason": reason})  # pydantic's loc is ("body", <offset>)
                continue
            if e.get("type") == "extra_forbidden":
                reason = "is not a field of this request"
            errors.append({"field": _field(e.get("loc", ())), "reason": reason})
        return JSONResponse(error_body("invalid request", errors), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and "body" in str(exc.detail):  # undecodable bytes: the body's fault, a 422
            reason = f"the body is not valid JSON: {exc.detail}"
            return JSONResponse(error_body("invalid request", [{"field": "body", "reason": reason}]), 422)
        if exc.status_code == 405:  # Allow: every method the OpenAPI document gives this path (one route per method)
            methods = _allowed(request.app, request.url.path)
            return JSONResponse(error_body(str(exc.detail), [{"field": "method", "reason": str(exc.detail)}]), 405,
                                headers={"Allow": ", ".join(methods)})  # fmt: skip
        # keep the exception's headers, as RFC 9110 asks
        return JSONResponse(error_body(str(exc.detail), [{"field": "path", "reason": str(exc.detail)}]),
                            exc.status_code, headers=getattr(exc, "headers", None))  # fmt: skip


def _allowed(app: FastAPI, path: str) -> list[str]:
    import re

    out: set[str] = set()
    for template, ops in app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path):  # templates are plain /a/{b}/c
            out.update(m.upper() for m in ops)
    return sorted(out)


def _field_errors(app: FastAPI, table: list[tuple[type[Exception], str, int]]) -> None:
    """Answer each exception type with its status and a body naming one field (the reason: its message)."""
    for exc_type, field, status in table:
        app.add_exception_handler(exc_type, _one_field(field, status))


def _one_field(field: str, status: int):  # type: ignore[no-untyped-def]
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(_body(str(exc), [{"field": field, "reason": str(exc)}]), status_code=status)

    return handler


def install_domain_handlers(app: FastAPI) -> None:
    from core.order_management import domain as d

    @app.exception_handler(d.OrderValidationError)
    async def _invalid(request: Request, exc: d.OrderValidationError) -> JSONResponse:
        errors = [e.as_dict() for e in exc.errors]
        return JSONResponse(_body("invalid request", errors), status_code=422)

    # Each of these names one field: the body is {"error": reason, "errors": [{field, reason}]}.
    _field_errors(app, [
        (d.DuplicateClientOrderIdError, "client_order_id", 409),
        (d.UnknownOrderError, "order_id", 404),
        (d.UnknownAlgoError, "algo_id", 404),
        (d.OrderAlreadyFinalError, "order_id", 409),
        (d.AlgoStateError, "algo_id", 409),
        (OrderManagementUnavailable, "service", 503),
    ])  # fmt: skip

    from core.database.errors import CacheWriteError, ConstraintViolation, DuplicateRecord, RecordNotFound, StoreError

    _field_errors(app, [(DuplicateRecord, "client_order_id", 409)])

    _field_errors(app, [(ConstraintViolation, "body", 422), (RecordNotFound, "order_id", 404)])

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> JSONResponse:
        return unavailable("database", f"the database refused the write: {exc}")

    @app.exception_handler(CacheWriteError)
    async def _cache(request: Request, exc: CacheWriteError) -> JSONResponse:
        return unavailable("cache", str(exc))

    install_outage_handlers(app)


RETRY_AFTER_S = 1


def unavailable(field: str, reason: str) -> JSONResponse:
    """503 with Retry-After: the request changed nothing; the same request may be sent again."""
    return JSONResponse(_body(f"{field} unavailable: {reason}", [{"field": field, "reason": reason}]),
                        status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})  # fmt: skip


def _outage_types() -> list[tuple[type[BaseException], str]]:
    """Exceptions that mean PostgreSQL or Redis is unreachable or too slow (never the input's fault)."""
    import asyncpg
    import redis.exceptions as rex

    return [
        (asyncpg.PostgresConnectionError, "database"), (asyncpg.InterfaceError, "database"),
        (asyncpg.PostgresError, "database"), (asyncpg.exceptions.InternalClientError, "database"),
        (rex.RedisError, "cache"),
        (ConnectionError, "database"), (TimeoutError, "database"), (OSError, "database"),
    ]  # fmt: skip


def install_outage_handlers(app: FastAPI) -> None:
    """Database errors are JSON answers, never a plain-text 500 or a dropped connection: an outage
    is 503 + Retry-After; text PostgreSQL refuses (DataError) is 422; anything else a JSON 500."""
    import asyncpg

    for exc_type, field in _outage_types():
        app.add_exception_handler(exc_type, _outage(field))

    @app.exception_handler(asyncpg.DataError)
    async def _data(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(_body("the database refused the input", [{"field": "body", "reason": str(exc)}]), 422)

    @app.exception_handler(Exception)
    async def _any(request: Request, exc: Exception) -> JSONResponse:
        log_limited(f"unhandled {type(exc).__name__}", exc)
        return JSONResponse(_body("internal error", [{"field": "service", "reason": type(exc).__name__}]), 500)


def _outage(field: str):  # type: ignore[no-untyped-def]
    from core.api_gateway.errors import DeadlineExceeded

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, DeadlineExceeded):  # the request's own budget, not an outage: the gateway answers 504
            raise exc
        log_limited(f"{field} outage {type(exc).__name__}", exc)
        return unavailable(field, f"{type(exc).__name__}: {exc}"[:300])

    return handler


_LOGGED: dict[str, list[float]] = {}  # key -> [window start (monotonic s), count in window]
_LOG_WINDOW_S = 10.0


def log_limited(key: str, exc: BaseException) -> None:
    """Log an error at most once per key per 10 s, with how many were suppressed (no log flood)."""
    import logging
    import time

    now = time.monotonic()  # harness-side rate limiting of logs, not a measured time
    entry = _LOGGED.get(key)
    if entry is None or now - entry[0] >= _LOG_WINDOW_S:
        suppressed = int(entry[1]) if entry else 0
        _LOGGED[key] = [now, 0]
        logging.getLogger("harness.app").error("%s: %s (%d like it suppressed in the last window)", key, exc,
                                               suppressed)  # fmt: skip
    else:
        entry[1] += 1


class RepeatLimit:
    """A logging filter: the same message (its first line, from the same logger) passes at most once per
    10 s, the next one saying how many like it were dropped. uvicorn and asyncio log every refused accept
    (EMFILE when the file limit is hit: about a megabyte of identical tracebacks a second) and every
    refusal past ``--limit-concurrency``; the service's own errors go through ``log_limited``."""

    def __init__(self, window_s: float = _LOG_WINDOW_S) -> None:
        self.window_s = window_s
        self._seen: dict[tuple[str, str], list[float]] = {}  # key -> [window start, suppressed]

    def filter(self, record: Any) -> bool:
        import time

        key = (record.name, str(record.msg).split("\n", 1)[0][:200])
        now = time.monotonic()  # harness-side rate limiting of logs, not a measured time
        entry = self._seen.get(key)
        if entry is not None and now - entry[0] < self.window_s:
            entry[1] += 1
            return False
        if entry is not None and entry[1]:
            record.msg = f"{record.msg}\n({int(entry[1])} like it suppressed in the last {self.window_s:g} s)"
        if len(self._seen) > 1000:  # keys carry no ids, but bound it anyway
            self._seen.clear()
        self._seen[key] = [now, 0]
        return True


REPEAT_LIMITED_LOGGERS = ("asyncio", "uvicorn.error")


def limit_repeated_logs() -> RepeatLimit:
    """Install one RepeatLimit on the loggers of uvicorn and asyncio (idempotent)."""
    import logging

    for name in REPEAT_LIMITED_LOGGERS:
        logger = logging.getLogger(name)
        for f in logger.filters:
            if isinstance(f, RepeatLimit):
                return f
    limit = RepeatLimit()
    for name in REPEAT_LIMITED_LOGGERS:
        logging.getLogger(name).addFilter(limit)
    return limit
