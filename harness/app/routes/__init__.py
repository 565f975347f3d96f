"""The service's HTTP and WebSocket routes, one APIRouter per area; ``harness.app.app.create_app`` assembles them.

Handlers are thin: each reaches the worker's ``Components`` (its clock, order service, stores,
tracker, heartbeats) through ``current``, and the work is done there.
"""

from __future__ import annotations

from fastapi import Request

from ..components import Components

API = "/api/v1"


def current(request: Request) -> Components:
    """The worker's components (set on the app by ``create_app``)."""
    return request.app.state.components
