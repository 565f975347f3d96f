"""Load balancing, baseline: a polling connection sweeper on ``time.time()``; and nginx's added
latency parsed the usual way (floats, ``load_balancer_timing``)."""

from __future__ import annotations

from core.load_balancing.protocols import ConnectionTracker

from .nginx_controller import IdleConnectionTracker, NGINXController

__all__ = ["ConnectionTracker", "IdleConnectionTracker", "NGINXController"]
