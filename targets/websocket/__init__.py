"""WebSocket heartbeats and connection control driven by the clock: the plan's WebSocketClockManager
(one coarse timer per connection) and connection_clock_controller (per-connection deadlines on
coarse timers, reconnect backoff on the clock)."""

from __future__ import annotations

from core.websocket.protocols import ConnectionDeadlines, HeartbeatManager, ReconnectBackoff

from .connection_controller import ConnectionController, Reconnector
from .websocket_manager import WebSocketManager

__all__ = ["ConnectionController", "ConnectionDeadlines", "HeartbeatManager", "ReconnectBackoff", "Reconnector",
           "WebSocketManager"]
