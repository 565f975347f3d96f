"""The websocket measure's stack takes every client and still answers plain requests: a worker's
``--limit-concurrency`` counts open WebSocket connections, and at its default a full run's 5,000 clients
per worker left the measure's own read of the closes a 503 (pure: the arguments, parsed by the service's
own parser)."""

from __future__ import annotations

import pytest

from harness.app.__main__ import parser
from harness.measure import websocket


@pytest.mark.parametrize("quick", [True, False])
def test_a_worker_may_hold_every_client_and_still_answer_requests(quick):
    plan = websocket.PLAN[quick]
    args = parser().parse_args(["--port", "8000", "--postgres-url", "postgresql://x", "--redis-url", "redis://x",
                                *websocket.stack_args(plan)])
    assert args.limit_concurrency >= plan["connections"] + websocket.HTTP_HEADROOM
    assert args.heartbeat_ms == websocket.HEARTBEAT_MS
    assert args.ws_peer_timeout_ms == websocket.PEER_TIMEOUT_MS
