"""The baseline build's order flow on system time, wired by ``core.order_management.stack``."""

from __future__ import annotations

from typing import Any

from core.order_management.stack import OrderStack, build_order_stack
from core.units import NS_PER_S

from .ems import EMS
from .oms import OMS
from .order_timing import OrderTimingController
from .pms import PMS
from .settlement import SettlementController


def build_stack(*, settlement_poll_ns: int = NS_PER_S, **kwargs: Any) -> OrderStack:
    """Every part baseline; ``kwargs`` as ``build_order_stack``. Call ``await stack.start()`` in a running loop."""
    parts = {"order_timing": OrderTimingController, "settlement": SettlementController, "pms": PMS, "oms": OMS, "ems": EMS}
    return build_order_stack(parts, settlement_options={"poll_interval_ns": settlement_poll_ns}, **kwargs)
