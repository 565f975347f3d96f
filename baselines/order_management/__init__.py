"""Order management as written before the plan: the same OMS, EMS, PMS and settlement reading
system time directly (``time.time_ns()``) and waiting with ``asyncio.sleep``. The domain, the venue
and the book-keeping are ``core.order_management``'s, shared with the clocked build, so only the
time source differs. The Protocols are ``protocols.OMS`` etc."""

from __future__ import annotations

from core.order_management import protocols
from core.order_management.protocols import OrderTiming

from .ems import EMS
from .oms import OMS
from .order_timing import OrderTimingController
from .pms import PMS
from .settlement import SettlementController
from .stack import build_stack

__all__ = ["build_stack", "EMS", "OMS", "OrderTiming", "OrderTimingController", "PMS", "protocols", "SettlementController"]
