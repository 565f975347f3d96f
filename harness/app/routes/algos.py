"""Execution algorithms (TWAP/VWAP/POV) over a parent order: start (written to PostgreSQL before it
starts), read (with its child orders), pause, resume, cancel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from core.order_management import limits as lim

from ..chunks import json_in_slices, json_response
from ..schemas import AlgoCreate, responses
from . import API, current

router = APIRouter()

AlgoId = Annotated[str, Path(pattern=lim.ID_PATTERN, max_length=lim.ID_MAX_LEN, description="an algo id, e.g. W0-A4294967297")]


_ALGO_LINKS = {name: {"operationId": op, "parameters": {"algo_id": "$response.body#/algo_id"}}
               for name, op in (("GetAlgo", "get_algo"), ("PauseAlgo", "pause_algo"), ("ResumeAlgo", "resume_algo"),
                                ("CancelAlgo", "cancel_algo"))}  # fmt: skip


async def _algo_json(algo: Any, status_code: int = 200, extra: dict[str, Any] | None = None) -> Any:
    """An algo with its slices (up to 10,000 for a POV), serialized in parts that yield to the loop: as one
    dict through FastAPI's encoder a maximal POV held the loop for about half a second."""
    body = await json_in_slices({**algo.head_dict(), **(extra or {})}, "slices", (sl.as_dict() for sl in algo.slices))
    return json_response(body, status_code)


@router.post(f"{API}/algos", status_code=201, operation_id="start_algo",
             responses={201: {"description": "started", "links": _ALGO_LINKS}, **responses(409, 422, 503)},
             summary="Start a TWAP/VWAP/POV over a parent order (bounded: see the limits in each field)")  # fmt: skip
async def start_algo(body: AlgoCreate, request: Request) -> Any:
    c = current(request)
    return await _algo_json(await c.orders.start_algo(body.model_dump()), 201)


@router.get(f"{API}/algos/{{algo_id}}", responses=responses(404, 422, 503), operation_id="get_algo",
            summary="An algo with its slices' times and its child orders (from PostgreSQL once its worker restarted)")  # fmt: skip
async def get_algo(algo_id: AlgoId, request: Request) -> Any:
    c = current(request)
    found = await c.orders.get_algo(algo_id)
    if isinstance(found, dict):  # its document from PostgreSQL: the worker that ran it restarted
        return found
    return await _algo_json(found, extra=c.orders.algo_extras(found))


@router.post(f"{API}/algos/{{algo_id}}/pause", responses=responses(404, 409, 422), operation_id="pause_algo", summary="Pause a RUNNING algo")
async def pause_algo(algo_id: AlgoId, request: Request) -> Any:
    return await _algo_json(current(request).orders.algo_action(algo_id, "pause"))


@router.post(f"{API}/algos/{{algo_id}}/resume", responses=responses(404, 409, 422), operation_id="resume_algo",
             summary="Resume a PAUSED algo (its schedule moves later by the pause)")  # fmt: skip
async def resume_algo(algo_id: AlgoId, request: Request) -> Any:
    return await _algo_json(current(request).orders.algo_action(algo_id, "resume"))


@router.delete(f"{API}/algos/{{algo_id}}", responses=responses(404, 409, 422), operation_id="cancel_algo", summary="Cancel an algo")
async def cancel_algo(algo_id: AlgoId, request: Request) -> Any:
    return await _algo_json(current(request).orders.algo_action(algo_id, "cancel"))
