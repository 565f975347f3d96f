"""Load balancing, clocked: the connection tracker behind nginx (the plan's nginx_clock_controller),
one coarse clock timer per idle deadline. nginx's added latency is parsed by ``core.load_balancing``."""

from __future__ import annotations

from core.load_balancing.protocols import ConnectionTracker

from .nginx_controller import IdleConnectionTracker, NGINXController

__all__ = ["ConnectionTracker", "IdleConnectionTracker", "NGINXController"]
