"""Positions and cash of every worker, rebuilt from the fills in PostgreSQL (the same answer from any
worker; see ``OrderService.positions`` for why)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from ..schemas import INSTRUMENTS, responses
from . import API, current

router = APIRouter()


@router.get(f"{API}/positions", summary="Every position, with cash (all workers', from PostgreSQL)",
            responses=responses(503))
async def positions(request: Request) -> Any:
    c = current(request)
    return await c.orders.positions()


@router.get(f"{API}/positions/{{instrument}}", summary="One instrument's position (all workers', from PostgreSQL)",
            responses=responses(422, 503))
async def position(
    instrument: Annotated[str, Path(json_schema_extra={"enum": INSTRUMENTS})], request: Request
) -> Any:
    c = current(request)
    return await c.orders.position(instrument)
