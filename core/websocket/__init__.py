"""WebSocket family's build-neutral part: the heartbeat manager's Protocol and the heartbeat message."""
