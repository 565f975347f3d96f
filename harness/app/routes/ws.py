"""The market-data WebSocket: quotes and heartbeats to subscribers, each connection under the connection controller.

Protocol (JSON text frames). The server sends ``welcome`` (with ``heartbeat_interval_ns`` and
``peer_timeout_ns``), then ``heartbeat`` messages (``timestamp``, ``next_heartbeat``: the promise
of the next one), quotes after a ``subscribe``, and answers. The client acknowledges heartbeats with
``{"type": "heartbeat_ack"}`` (any frame counts as a sign of life, the ack only keeps the peer
alive); ``subscribe``/``unsubscribe``/``ping`` are application messages that also keep the
connection from being closed as idle. A peer that shows no life within ``peer_timeout_ns`` (it
stopped reading, or vanished without a close frame) is closed with code 4008, an idle one with 1001.

``GET /api/v1/ws/closes`` lists the worker's recent closes (client id from ``?client=``, reason,
wall-clock close time) so a load generator can measure how long a dead peer stayed open.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from typing import Any

from fastapi import APIRouter, Request, WebSocket

from core.websocket.connection_controller import CLOSE_CODES, HEARTBEAT_ACK, is_ack

from ..components import Components
from . import current

router = APIRouter()
ids = itertools.count(1)
CLIENT_ID_MAX = 64


@router.get("/api/v1/ws/closes", summary="This worker's recent WebSocket closes by the connection controller")
async def ws_closes(request: Request) -> dict[str, Any]:
    c: Components = current(request)
    return {
        "worker": c.config.worker_id,
        "open": c.connections.count(),
        "closed": dict(c.connections.closed),
        "heartbeats_sent": c.heartbeats.sent,
        "closes": list(c.ws_closes),
    }


@router.websocket("/ws/market")
async def ws_market(ws: WebSocket) -> None:
    c: Components = ws.app.state.components
    await ws.accept()
    conn_id = ("ws", next(ids))
    client = ws.query_params.get("client", "")[:CLIENT_ID_MAX]
    queue: asyncio.Queue[dict] = asyncio.Queue()
    closing: dict[str, Any] = {}
    expired = asyncio.Event()
    beats = c.metrics.heartbeats.labels(c.metrics.build, c.metrics.worker)
    counts = {"heartbeats_sent": 0, "frames_received": 0, "opened_ns": time.time_ns()}

    def close(reason: str) -> None:  # called by the controller at the deadline (synchronous)
        closing.update(reason=reason, at_ns=time.time_ns())
        expired.set()

    c.connections.open(conn_id, close)
    c.heartbeats.add(conn_id, queue.put_nowait)
    c.metrics.ws_connections.labels(c.metrics.build, c.metrics.worker).inc()

    async def writer() -> None:
        while True:
            msg = await queue.get()
            if msg.get("type") == "heartbeat":
                beats.inc()
                counts["heartbeats_sent"] += 1
            await ws.send_text(json.dumps(msg))

    async def reader() -> None:
        while True:
            text = await ws.receive_text()
            counts["frames_received"] += 1
            if text == HEARTBEAT_ACK or is_ack(text):
                c.connections.seen(conn_id)
                continue
            c.connections.active(conn_id)
            queue.put_nowait(handle_ws_message(c, conn_id, queue, text))

    await ws.send_text(json.dumps({
        "type": "welcome", "timestamp": c.clock.timestamp_ns(), "clock": c.clock.kind,
        "heartbeat_interval_ns": c.heartbeats.interval_ns, "peer_timeout_ns": c.connections.peer_timeout_ns,
        "idle_timeout_ns": c.connections.idle_timeout_ns, "instruments": list(c.feed.source.instruments),
    }))  # fmt: skip
    tasks = [asyncio.create_task(writer()), asyncio.create_task(reader()), asyncio.create_task(expired.wait())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        c.connections.forget(conn_id)
        c.heartbeats.remove(conn_id)
        c.feed.unsubscribe(conn_id)
        c.metrics.ws_connections.labels(c.metrics.build, c.metrics.worker).dec()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
    if closing:
        c.ws_closes.append({"client": client, "reason": closing["reason"], "closed_ns": closing["at_ns"], **counts})
        # A dead peer may never read the close frame: do not wait on it (the transport is then
        # closed when this handler returns).
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(code=CLOSE_CODES[closing["reason"]], reason=closing["reason"]), 1.0)


def handle_ws_message(c: Components, conn_id: object, queue: asyncio.Queue, text: str) -> dict:
    """One client message -> the answer to queue. Bad input gets an error message, never a close."""
    try:
        msg = json.loads(text)
    except ValueError as exc:
        return {"type": "error", "field": "message", "reason": f"not valid JSON: {exc}"}
    if not isinstance(msg, dict):
        return {"type": "error", "field": "message", "reason": "must be a JSON object"}
    kind = msg.get("type")
    if kind in ("subscribe", "unsubscribe"):
        inst = msg.get("instruments")
        if not isinstance(inst, list) or not inst or not all(isinstance(i, str) for i in inst):
            return {"type": "error", "field": "instruments", "reason": "must be a non-empty list of symbols"}
        try:
            if kind == "subscribe":
                now = c.feed.subscribe(conn_id, queue.put_nowait, inst)
            else:
                now = c.feed.unsubscribe(conn_id, inst)
        except ValueError as exc:
            return {"type": "error", "field": "instruments", "reason": str(exc)}
        return {"type": f"{kind}d", "instruments": now, "timestamp": c.clock.timestamp_ns()}
    if kind == "ping":
        return {"type": "pong", "timestamp": c.clock.timestamp_ns()}
    return {"type": "error", "field": "type", "reason": f"unknown message type {kind!r}; use subscribe, unsubscribe or ping"}
