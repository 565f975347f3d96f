"""WebSocket heartbeats the usual way: one ``asyncio.sleep`` loop per connection."""

from __future__ import annotations

from core.websocket.protocols import HeartbeatManager

from .websocket_manager import WebSocketManager

__all__ = ["HeartbeatManager", "WebSocketManager"]
