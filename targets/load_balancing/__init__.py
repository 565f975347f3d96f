"""Load balancing, clocked: the connection tracker behind nginx, and nginx's added latency."""
