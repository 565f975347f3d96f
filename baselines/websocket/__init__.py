"""WebSocket heartbeats and connection control the usual way: one ``asyncio.sleep`` loop per
connection for heartbeats, a watchdog task per connection for its deadlines, backoff on ``asyncio.sleep``."""

from __future__ import annotations

from core.websocket.protocols import ConnectionDeadlines, HeartbeatManager, ReconnectBackoff

from .connection_controller import ConnectionController, Reconnector
from .websocket_manager import WebSocketManager

__all__ = ["ConnectionController", "ConnectionDeadlines", "HeartbeatManager", "ReconnectBackoff", "Reconnector",
           "WebSocketManager"]
