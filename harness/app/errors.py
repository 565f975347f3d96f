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
            elif e.get("type") == "extra_forbidden":
                reason = "is not a field of this request"
            errors.append({"field": _field(e.get("loc", ())), "reason": reason})
        return JSONResponse(error_body("invalid request", errors), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(error_body(str(exc.detail), [{"field": "path", "reason": str(exc.detail)}]), exc.status_code)


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

    from core.database.errors import CacheWriteError, DuplicateRecord, StoreError

    _field_errors(app, [(DuplicateRecord, "client_order_id", 409)])

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse(_body(f"the database refused the write: {exc}", [{"field": "database", "reason": str(exc)}]),
                            status_code=503)  # fmt: skip

    _field_errors(app, [(CacheWriteError, "cache", 503)])
