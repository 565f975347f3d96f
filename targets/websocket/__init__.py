"""WebSocket heartbeats driven by the clock (the plan's WebSocketClockManager): one coarse timer per connection."""

from __future__ import annotations

from core.websocket.protocols import HeartbeatManager

from .websocket_manager import WebSocketManager

__all__ = ["HeartbeatManager", "WebSocketManager"]
