"""Mixed profile: traders on orders, screens on the market feed and bursty API clients together."""

from __future__ import annotations

from loadtests import gateway as _gateway
from loadtests import market_ws as _market
from loadtests import orders as _orders


class Traders(_orders.OrdersUser):
    weight = 6


class Screens(_market.MarketWsUser):
    weight = 3


class Bursts(_gateway.GatewayUser):
    weight = 1
