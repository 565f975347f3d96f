"""WebSocket heartbeats the usual way: one asyncio.sleep loop per connection."""
