"""Positions and cash, from the PMS."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from ..schemas import INSTRUMENTS, responses
from . import API, current

router = APIRouter()


@router.get(f"{API}/positions", summary="Every position, with cash")
async def positions(request: Request) -> Any:
    c = current(request)
    return c.orders.positions()


@router.get(f"{API}/positions/{{instrument}}", summary="One instrument's position",
            responses=responses(422))
async def position(
    instrument: Annotated[str, Path(json_schema_extra={"enum": INSTRUMENTS})], request: Request
) -> Any:
    c = current(request)
    return c.orders.position(instrument)
