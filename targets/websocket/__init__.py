"""WebSocket heartbeats driven by the clock (the plan's WebSocketClockManager)."""
