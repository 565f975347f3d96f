"""Ceiling profile: one route, no think time, the route wrk hits in ``clockbench ceiling``.

``--cb-route server-time`` (``GET /api/v1/clock/server-time``, the service's cheapest answer) or
``--cb-route orders`` (``POST /api/v1/orders`` with a fresh client_order_id each). Each user holds
one connection and sends its next request when the answer arrives, as a wrk connection does, so
Locust's figures at N users compare with wrk's at N connections.
"""

from __future__ import annotations

import random

from locust import task

from harness.load.wrk import ROUTES
from loadtests.common import ClockbenchUser, options
from loadtests.orders import order_body


class CeilingUser(ClockbenchUser):
    think_s = (0.0, 0.0)
    concurrency = 1

    def setup(self) -> None:
        self.rng = random.Random()
        route = getattr(options(self.environment), "cb_route", "server-time") or "server-time"
        if route not in ROUTES:
            raise ValueError(f"--cb-route {route!r}: choose one of {', '.join(ROUTES)}")
        self.method, self.path = ROUTES[route]
        self.label = f"{self.method} {self.path}"

    @task
    def hit(self) -> None:
        if self.method == "POST":
            self.send("POST", self.path, name=self.label, json_body=order_body(self.rng.choice(self.instruments), self.rng),
                      ok=(201,))
        else:
            self.send("GET", self.path, name=self.label)
