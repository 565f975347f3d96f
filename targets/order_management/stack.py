"""The clocked build's order flow on one clock, wired by ``core.order_management.stack``."""

from __future__ import annotations

from functools import partial
from typing import Any

from targets.clock import Clock

from core.order_management.stack import OrderStack, build_order_stack

from .ems import EMS
from .oms import OMS
from .order_timing import OrderTimingController
from .pms import PMS
from .settlement import SettlementController


def build_stack(clock: Clock, **kwargs: Any) -> OrderStack:
    """Every part clocked, on ``clock``; ``kwargs`` as ``build_order_stack`` (instruments, venue, calendar...)."""
    parts = {name: partial(cls, clock=clock) for name, cls in (
        ("order_timing", OrderTimingController), ("settlement", SettlementController), ("pms", PMS),
        ("oms", OMS), ("ems", EMS))}  # fmt: skip
    return build_order_stack(parts, clock=clock, **kwargs)
