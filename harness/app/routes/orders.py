"""Orders: submit (201 once committed to PostgreSQL and Redis, before it is routed), read, cancel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from core.order_management import limits as lim

from ..schemas import OrderCreate, responses
from . import API, current

router = APIRouter()

OrderId = Annotated[str, Path(pattern=lim.ID_PATTERN, max_length=lim.ID_MAX_LEN, description="an order id, e.g. W0-O7")]


@router.post(f"{API}/orders", status_code=201, responses=responses(409, 422, 503),
             summary="Submit an order; 201 once it is committed (then routed)")  # fmt: skip
async def create_order(body: OrderCreate, request: Request) -> Any:
    c = current(request)
    order = await c.orders.submit(body.model_dump(exclude={"client_timestamp_ns"}))
    return {**order, "client_timestamp_ns": body.client_timestamp_ns}


@router.get(f"{API}/orders/{{order_id}}", responses=responses(404, 422, 503), summary="An order and its state")
async def get_order(order_id: OrderId, request: Request) -> Any:
    c = current(request)
    return await c.orders.get(order_id)


@router.delete(f"{API}/orders/{{order_id}}", responses=responses(404, 409, 422, 503),
               summary="Cancel an order (404 unknown, 409 already final); the cancel is committed first")  # fmt: skip
async def cancel_order(order_id: OrderId, request: Request) -> Any:
    c = current(request)
    return await c.orders.cancel(order_id)
