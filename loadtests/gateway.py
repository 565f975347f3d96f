"""Gateway profile: bursts. Each user idles, then fires a burst of concurrent requests at once,
the traffic that rate limits and gateway timeouts exist for. ``429`` (rate limited) and ``504``
(gateway timeout) are reported as failures named by their status, so their share is visible.
"""

from __future__ import annotations

import random

import gevent
from locust import task

from loadtests.common import ClockbenchUser
from loadtests.orders import order_body

BURST = 8


class GatewayUser(ClockbenchUser):
    think_s = (1.0, 3.0)  # idle between bursts
    concurrency = BURST

    def setup(self) -> None:
        self.rng = random.Random()

    def _one(self) -> None:
        if self.rng.random() < 0.5:
            self.send("GET", "/api/v1/clock/server-time", name="GET /api/v1/clock/server-time (burst)")
        else:
            self.send("POST", "/api/v1/orders", name="POST /api/v1/orders (burst)",
                      json_body=order_body(self.rng.choice(self.instruments), self.rng), ok=(201,))

    @task
    def burst(self) -> None:
        burst = [gevent.spawn(self._one) for _ in range(BURST)]
        try:
            gevent.joinall(burst)
        except gevent.GreenletExit:  # the user is being stopped: stop its burst too, accounted as cut off
            gevent.killall(burst, block=True)
            raise
