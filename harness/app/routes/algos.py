"""Execution algorithms (TWAP/VWAP/POV) over a parent order."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ..schemas import AlgoCreate
from . import API, current

router = APIRouter()


@router.post(f"{API}/algos", status_code=201, summary="Start a TWAP/VWAP/POV over a parent order")
async def start_algo(body: AlgoCreate, request: Request) -> Any:
    c = current(request)
    return await c.orders.start_algo(body.model_dump())


@router.get(f"{API}/algos/{{algo_id}}", summary="An algo with its slices' scheduled and actual times")
async def get_algo(algo_id: str, request: Request) -> Any:
    c = current(request)
    return c.orders.get_algo(algo_id)
