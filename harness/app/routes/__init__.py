"""The service's HTTP and WebSocket routes, one APIRouter per area; ``harness.app.app.create_app`` assembles them.

Handlers are thin: each reaches the worker's ``Components`` (its clock, order service, stores,
tracker, heartbeats) through ``current``, and the work is done there.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from ..components import Components

API = "/api/v1"


def current(request: Request) -> Components:
    """The worker's components (set on the app by ``create_app``)."""
    return request.app.state.components


def answer(content: dict[str, Any], status_code: int = 200) -> JSONResponse:
    """A JSON-ready dict (str, int, bool, None and lists/dicts of them) as the answer, rendered directly.

    Why: a dict a handler returns goes through FastAPI's ``jsonable_encoder`` first, which walks and copies
    every value (tens of µs for an order, a share of every POST /orders); the bytes sent are the same, as
    JSONResponse renders both."""
    return JSONResponse(content, status_code=status_code)
