"""Domain and storage errors as HTTP answers: a status and a body naming the field and the reason."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .orders import OrderManagementUnavailable


def _body(message: str, errors: list[dict[str, str]]) -> dict:
    return {"error": message, "errors": errors}


def install_domain_handlers(app: FastAPI) -> None:
    from targets.order_management import domain as d

    @app.exception_handler(d.OrderValidationError)
    async def _invalid(request: Request, exc: d.OrderValidationError) -> JSONResponse:
        errors = [e.as_dict() for e in exc.errors]
        return JSONResponse(_body("invalid request", errors), status_code=422)

    @app.exception_handler(d.DuplicateClientOrderIdError)
    async def _dup(request: Request, exc: d.DuplicateClientOrderIdError) -> JSONResponse:
        return JSONResponse(_body(str(exc), [{"field": "client_order_id", "reason": str(exc)}]), status_code=409)

    @app.exception_handler(d.UnknownOrderError)
    async def _unknown(request: Request, exc: d.UnknownOrderError) -> JSONResponse:
        return JSONResponse(_body(str(exc), [{"field": "order_id", "reason": str(exc)}]), status_code=404)

    @app.exception_handler(d.UnknownAlgoError)
    async def _unknown_algo(request: Request, exc: d.UnknownAlgoError) -> JSONResponse:
        return JSONResponse(_body(str(exc), [{"field": "algo_id", "reason": str(exc)}]), status_code=404)

    @app.exception_handler(d.OrderAlreadyFinalError)
    async def _final(request: Request, exc: d.OrderAlreadyFinalError) -> JSONResponse:
        return JSONResponse(_body(str(exc), [{"field": "order_id", "reason": str(exc)}]), status_code=409)

    @app.exception_handler(d.AlgoStateError)
    async def _algo_state(request: Request, exc: d.AlgoStateError) -> JSONResponse:
        return JSONResponse(_body(str(exc), [{"field": "algo_id", "reason": str(exc)}]), status_code=409)

    @app.exception_handler(OrderManagementUnavailable)
    async def _unavailable(request: Request, exc: OrderManagementUnavailable) -> JSONResponse:
        return JSONResponse(_body(str(exc), [{"field": "service", "reason": str(exc)}]), status_code=503)

    from targets.database.errors import CacheWriteError, DuplicateRecord, StoreError

    @app.exception_handler(DuplicateRecord)
    async def _dup_row(request: Request, exc: DuplicateRecord) -> JSONResponse:
        return JSONResponse(_body(str(exc), [{"field": "client_order_id", "reason": str(exc)}]), status_code=409)

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse(_body(f"the database refused the write: {exc}", [{"field": "database", "reason": str(exc)}]),
                            status_code=503)  # fmt: skip

    @app.exception_handler(CacheWriteError)
    async def _cache(request: Request, exc: CacheWriteError) -> JSONResponse:
        return JSONResponse(_body(str(exc), [{"field": "cache", "reason": str(exc)}]), status_code=503)
