"""Order management, clocked (the plan's Phase 1, day 1): OMS, EMS, PMS, settlement and order
timing, all taking their time from one injected ``Clock``. The domain, the venue and the book-keeping
they share with the baseline build are in ``core.order_management``; so are the Protocols (their
names are the classes' names, so they are reached as ``protocols.OMS`` etc.)."""

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
