"""The market-data WebSocket: quotes for subscribed instruments, heartbeats, idle close."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from ..components import Components

router = APIRouter()
ids = itertools.count(1)


@router.websocket("/ws/market")
async def ws_market(ws: WebSocket) -> None:
    c: Components = ws.app.state.components
    await ws.accept()
    conn_id = ("ws", next(ids))
    queue: asyncio.Queue[dict | None] = asyncio.Queue()
    closing: dict[str, Any] = {}

    def close_idle() -> None:
        closing["reason"] = "idle"
        queue.put_nowait(None)

    c.tracker.register(conn_id, close_idle, "ws")
    c.heartbeats.add(conn_id, queue.put_nowait)
    c.metrics.ws_connections.labels(c.metrics.build, c.metrics.worker).inc()

    async def writer() -> None:
        while True:
            msg = await queue.get()
            if msg is None:
                await ws.close(code=1001, reason="idle timeout")
                return
            if msg.get("type") == "heartbeat":
                c.metrics.heartbeats.labels(c.metrics.build, c.metrics.worker).inc()
            await ws.send_json(msg)

    wtask = asyncio.create_task(writer())
    try:
        await ws.send_json({"type": "welcome", "timestamp": c.clock.timestamp_ns(), "clock": c.clock.kind,
                            "heartbeat_interval_ns": c.heartbeats.interval_ns,
                            "instruments": list(c.feed.source.instruments)})  # fmt: skip
        while True:
            receive = asyncio.create_task(ws.receive_text())
            done, _ = await asyncio.wait({receive, wtask}, return_when=asyncio.FIRST_COMPLETED)
            if wtask in done:
                receive.cancel()
                break
            text = receive.result()
            c.tracker.idle(conn_id)  # a client frame: the idle deadline moves
            queue.put_nowait(handle_ws_message(c, conn_id, queue, text))
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        c.tracker.unregister(conn_id)
        c.heartbeats.remove(conn_id)
        c.feed.unsubscribe(conn_id)
        c.metrics.ws_connections.labels(c.metrics.build, c.metrics.worker).dec()
        if not wtask.done():
            wtask.cancel()
        with contextlib.suppress(BaseException):
            await wtask


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
