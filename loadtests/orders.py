"""Orders profile: submit, query, cancel and positions, in the proportions of a trading front end.

Every task makes exactly one request, so in the open mode each arrival is one request. A user
keeps the ids of its own recent orders to query and cancel them; with none yet, it submits.
Weights: submit 40%, query 30%, cancel 15%, positions 15% (list 5%, one instrument 10%).
"""

from __future__ import annotations

import random
import uuid
from collections import deque

from locust import task

from loadtests.common import ClockbenchUser


def order_body(instrument: str, rng: random.Random) -> dict:
    """A limit order the service accepts (see the stack's POST /api/v1/orders schema)."""
    return {
        "client_order_id": uuid.uuid4().hex,
        "instrument": instrument,
        "side": rng.choice(("BUY", "SELL")),
        "order_type": "LIMIT",
        "quantity": rng.randint(1, 20) * 10,
        "limit_price": f"{rng.uniform(95, 105):.2f}",
        "time_in_force": "GTC",
    }


def order_id(body: object) -> str | None:
    if isinstance(body, dict):
        for key in ("order_id", "id"):
            if body.get(key) is not None:
                return str(body[key])
    return None


class OrdersUser(ClockbenchUser):
    think_s = (0.5, 1.5)

    def setup(self) -> None:
        self.rng = random.Random()
        self.open_ids: deque[str] = deque(maxlen=64)

    def _submit(self) -> None:
        _, body = self.send("POST", "/api/v1/orders", name="POST /api/v1/orders",
                            json_body=order_body(self.rng.choice(self.instruments), self.rng), ok=(201,))
        oid = order_id(body)
        if oid is not None:
            self.open_ids.append(oid)

    @task(40)
    def submit(self) -> None:
        self._submit()

    @task(30)
    def query(self) -> None:
        if not self.open_ids:
            return self._submit()
        oid = self.rng.choice(self.open_ids)
        self.send("GET", f"/api/v1/orders/{oid}", name="GET /api/v1/orders/{id}")

    @task(15)
    def cancel(self) -> None:
        if not self.open_ids:
            return self._submit()
        oid = self.open_ids.popleft()
        # 409: the order was already final (filled) when the cancel arrived: a correct answer.
        self.send("DELETE", f"/api/v1/orders/{oid}", name="DELETE /api/v1/orders/{id}", ok=(200, 202, 409))

    @task(5)
    def positions(self) -> None:
        self.send("GET", "/api/v1/positions", name="GET /api/v1/positions")

    @task(10)
    def position(self) -> None:
        inst = self.rng.choice(self.instruments)
        # 404: no position in that instrument yet: a correct answer.
        self.send("GET", f"/api/v1/positions/{inst}", name="GET /api/v1/positions/{instrument}", ok=(200, 404))
