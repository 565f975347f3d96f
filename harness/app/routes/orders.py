"""Orders: submit (201 once committed to PostgreSQL and Redis, before it is routed), read, cancel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from core.order_management.domain import OrderState, Side
from ..schemas import INSTRUMENTS

from core.order_management import limits as lim

from ..schemas import OrderCreate, responses
from . import API, answer, current

router = APIRouter()

OrderId = Annotated[str, Path(pattern=lim.ID_PATTERN, max_length=lim.ID_MAX_LEN, description="an order id, e.g. W0-O4294967303 (worker, sequence: its start generation << 32 + n)")]


_ORDER_LINKS = {  # OpenAPI links: a client (or schemathesis) can follow an answer to the order it made
    "GetOrder": {"operationId": "get_order", "parameters": {"order_id": "$response.body#/order_id"}},
    "CancelOrder": {"operationId": "cancel_order", "parameters": {"order_id": "$response.body#/order_id"}},
}


@router.post(f"{API}/orders", status_code=201, operation_id="create_order",
             responses={201: {"description": "committed, then routed", "links": _ORDER_LINKS},
                        **responses(409, 422, 503)},
             summary="Submit an order; 201 once it is committed (then routed)")  # fmt: skip
async def create_order(body: OrderCreate, request: Request) -> Any:
    c = current(request)
    order = await c.orders.submit(body.model_dump(exclude={"client_timestamp_ns"}))
    return answer({**order, "client_timestamp_ns": body.client_timestamp_ns}, 201)


@router.get(f"{API}/orders", responses=responses(422, 503),
            summary="Orders of every worker (from PostgreSQL), filtered, by order id; page with after=<last id>")  # fmt: skip
async def list_orders(
    request: Request,
    state: Annotated[OrderState | None, Query(description="only orders in this state")] = None,
    instrument: Annotated[str | None, Query(json_schema_extra={"enum": INSTRUMENTS})] = None,
    side: Annotated[Side | None, Query()] = None,
    after: Annotated[str | None, Query(pattern=lim.ID_PATTERN, max_length=lim.ID_MAX_LEN,
                                       description="the last order id of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="page size")] = 100,
) -> Any:
    if instrument is not None and instrument not in INSTRUMENTS:
        from ..errors import problem

        return problem(422, "instrument", f"unknown instrument {instrument!r}")
    c = current(request)
    orders = await c.orders.list(state=None if state is None else state.value, instrument=instrument,
                                 side=None if side is None else side.value, after=after, limit=limit)  # fmt: skip
    return {"orders": orders, "next_after": orders[-1]["order_id"] if len(orders) == limit else None}


@router.get(f"{API}/orders/{{order_id}}", responses=responses(404, 422, 503), summary="An order and its state",
            operation_id="get_order")
async def get_order(order_id: OrderId, request: Request) -> Any:
    c = current(request)
    return answer(await c.orders.get(order_id))


@router.get(f"{API}/fills", responses=responses(404, 422, 503), operation_id="get_order_fills",
            summary="An order's fills (any worker's, from PostgreSQL), each with its commission, settlement date "
                    "(T+N business days) and whether it settled; 404 for an unknown order")  # fmt: skip
async def get_order_fills(
    request: Request,
    order_id: Annotated[str, Query(pattern=lim.ID_PATTERN, max_length=lim.ID_MAX_LEN,
                                   description="the order whose fills to list, e.g. W0-O4294967303")],
) -> Any:
    c = current(request)
    return await c.orders.fills(order_id)


@router.delete(f"{API}/orders/{{order_id}}", responses=responses(404, 409, 422, 503), operation_id="cancel_order",
               summary="Cancel an order (404 unknown, 409 already final); the cancel is committed first")  # fmt: skip
async def cancel_order(order_id: OrderId, request: Request) -> Any:
    c = current(request)
    return answer(await c.orders.cancel(order_id))
