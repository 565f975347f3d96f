"""Orders: submit (201 once committed to PostgreSQL and Redis), read, cancel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ..schemas import OrderCreate
from . import API, current

router = APIRouter()


@router.post(f"{API}/orders", status_code=201, summary="Submit an order; 201 once it is committed")
async def create_order(body: OrderCreate, request: Request) -> Any:
    c = current(request)
    order = await c.orders.submit(body.model_dump(exclude={"client_timestamp_ns"}))
    return {**order, "client_timestamp_ns": body.client_timestamp_ns}


@router.get(f"{API}/orders/{{order_id}}", summary="An order and its state")
async def get_order(order_id: str, request: Request) -> Any:
    c = current(request)
    return await c.orders.get(order_id)


@router.delete(f"{API}/orders/{{order_id}}", summary="Cancel an order (404 unknown, 409 already final)")
async def cancel_order(order_id: str, request: Request) -> Any:
    c = current(request)
    return await c.orders.cancel(order_id)
