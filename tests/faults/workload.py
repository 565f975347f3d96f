"""A short order load with a fault in the middle, and the checks of what the service promised.

Every POST carries a unique ``client_order_id``, so each answer can be matched with what PostgreSQL
and the workers hold afterwards:

* acknowledged (2xx): the order id is in PostgreSQL (nothing acknowledged is lost);
* refused by the service itself (a JSON error body, 4xx/503): no trace: no row (or, after a write
  whose fate was unknown, a REJECTED row with nothing filled), and nothing in any worker's positions;
* ambiguous (no answer, or an error page from nginx because the worker died mid-request): the
  client cannot know; counted and reported, checked only never to have a fill in PostgreSQL that
  the surviving workers' positions do not explain.

Recovery is timed from the moment the faulted server takes connections again to the first 2xx of a
request *sent* after that moment.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

API = "/api/v1"
INSTRUMENTS = ("AAPL", "MSFT", "ES", "BUND")


@dataclass
class Answer:
    client_order_id: str
    sent: float  # time.monotonic()
    done: float
    status: int | None  # None: no HTTP answer (reset, timeout)
    order_id: str | None = None
    from_service: bool = False  # the body is the service's JSON (an order or an ErrorBody), not nginx's page
    error: str = ""
    retry_after: str | None = None  # the Retry-After header of a non-2xx answer

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class LoadResult:
    answers: list[Answer]
    fault_at: float | None = None  # monotonic: the fault began
    back_at: float | None = None  # monotonic: the server took connections again (or the fault ended)
    notes: list[str] = field(default_factory=list)

    @property
    def acked(self) -> list[Answer]:
        return [a for a in self.answers if a.acknowledged]

    @property
    def refused(self) -> list[Answer]:
        """Answered non-2xx by the service itself: must have left no trace."""
        return [a for a in self.answers if not a.acknowledged and a.status is not None and a.from_service]

    @property
    def ambiguous(self) -> list[Answer]:
        return [a for a in self.answers if a.status is None or (not a.acknowledged and not a.from_service)]

    def recovery_s(self) -> float | None:
        """Seconds from the server's return to the first 2xx of a request sent after it (None: never)."""
        if self.back_at is None:
            return None
        after = [a.done for a in self.answers if a.acknowledged and a.sent >= self.back_at]
        return (min(after) - self.back_at) if after else None

    def errors_until_s(self) -> float | None:
        """Seconds from the server's return to the last answer that was not a 2xx (None: none after it)."""
        if self.back_at is None:
            return None
        bad = [a.done for a in self.answers if not a.acknowledged and a.done >= self.back_at]
        return (max(bad) - self.back_at) if bad else None

    def summary(self) -> dict[str, Any]:
        by_status: dict[str, int] = {}
        for a in self.answers:
            key = str(a.status) if a.status is not None else f"no answer ({a.error.split(':')[0]})"
            by_status[key] = by_status.get(key, 0) + 1
        rec, until = self.recovery_s(), self.errors_until_s()
        return {"fault_s": None if self.fault_at is None or self.back_at is None else round(self.back_at - self.fault_at, 3),
                "errors_until_s": None if until is None else round(until, 3),
                "requests": len(self.answers), "acknowledged": len(self.acked), "refused": len(self.refused),
                "ambiguous": len(self.ambiguous), "by_status": by_status,
                "recovery_s": None if rec is None else round(rec, 3)}  # fmt: skip


def order_body(cid: str, n: int) -> dict[str, Any]:
    """MARKET orders (they trade at once if live), a LIMIT now and then (they rest and fill later)."""
    instrument = INSTRUMENTS[n % len(INSTRUMENTS)]
    body: dict[str, Any] = {"client_order_id": cid, "instrument": instrument,
                            "side": "BUY" if n % 3 else "SELL", "quantity": 1 + n % 5}  # fmt: skip
    return body


async def run_load(
    url: str,
    fault: Callable[[], Awaitable[tuple[float, float]]],
    *,
    concurrency: int = 6,
    before_s: float = 2.0,
    after_recovery_s: float = 2.0,
    max_after_s: float = 30.0,
    timeout_s: float = 10.0,
) -> LoadResult:
    """POST orders from ``concurrency`` loops; after ``before_s`` run ``fault()`` (it returns the
    monotonic times the fault began and ended); stop ``after_recovery_s`` after the first 2xx sent
    after the end, or ``max_after_s`` after the end if none comes."""
    tag = uuid.uuid4().hex[:8]
    counter = itertools.count()
    answers: list[Answer] = []
    result = LoadResult(answers)
    stop = asyncio.Event()

    async def loop(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            n = next(counter)
            cid = f"flt-{tag}-{n}"
            sent = time.monotonic()
            try:
                r = await client.post(url + f"{API}/orders", json=order_body(cid, n))
            except httpx.HTTPError as exc:
                answers.append(Answer(cid, sent, time.monotonic(), None, error=f"{type(exc).__name__}: {exc}"))
                await asyncio.sleep(0.05)  # a refused connection returns at once: don't spin
                continue
            done = time.monotonic()
            body: Any = None
            if r.headers.get("content-type", "").startswith("application/json"):
                try:
                    body = r.json()
                except ValueError:
                    body = None
            a = Answer(cid, sent, done, r.status_code, from_service=isinstance(body, dict),
                       retry_after=r.headers.get("retry-after"))  # fmt: skip
            if isinstance(body, dict):
                a.order_id = body.get("order_id")
                if not a.acknowledged:
                    a.error = str(body.get("error", ""))[:200]
            else:
                a.error = r.text[:120]
            answers.append(a)
            if r.status_code >= 500:
                await asyncio.sleep(0.02)

    async def conductor() -> None:
        await asyncio.sleep(before_s)
        result.fault_at, result.back_at = await fault()
        deadline = result.back_at + max_after_s
        while time.monotonic() < deadline:
            rec = result.recovery_s()
            if rec is not None and time.monotonic() >= result.back_at + rec + after_recovery_s:
                break
            await asyncio.sleep(0.05)
        stop.set()

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
        tasks = [asyncio.create_task(loop(client)) for _ in range(concurrency)]
        try:
            await conductor()
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
    return result


# --- reading back ------------------------------------------------------------------------------
async def db_orders(postgres_url: str, schema: str) -> dict[str, dict[str, Any]]:
    """client_order_id -> the PostgreSQL row (order_id, state, filled_quantity, side, instrument)."""
    conn = await asyncpg.connect(postgres_url, timeout=10)
    try:
        recs = await conn.fetch(f"SELECT order_id, client_order_id, state, filled_quantity, side, instrument "
                                f"FROM {schema}.orders")  # fmt: skip
    finally:
        await conn.close()
    return {r["client_order_id"]: dict(r) for r in recs}


async def api_orders(client: httpx.AsyncClient, url: str) -> dict[str, dict[str, Any]]:
    """client_order_id -> the order as ``GET /api/v1/orders`` (every page) shows it."""
    out: dict[str, dict[str, Any]] = {}
    after = None
    while True:
        r = await client.get(url + f"{API}/orders", params={"limit": 500, **({"after": after} if after else {})})
        assert r.status_code == 200, f"GET /api/v1/orders answered {r.status_code}: {r.text[:300]}"
        page = r.json()
        for o in page["orders"]:
            out[o["client_order_id"]] = o
        after = page.get("next_after")
        if not after:
            return out


async def worker_view(client: httpx.AsyncClient, worker_url: str, worker: int,
                      orders: dict[str, dict[str, Any]]) -> tuple[dict[str, int], dict[str, int]]:  # fmt: skip
    """What one worker's orders traded as their recorded fills show it (instrument -> signed quantity,
    from ``GET /api/v1/fills?order_id=``: the fills in PostgreSQL) and as the worker's memory shows
    it (``GET /api/v1/orders/{id}``: signed filled quantity). Positions are every worker's, rebuilt
    from those fills, so the worker's recorded fills are what its trades add to them."""
    prefix = f"W{worker}-"
    explained: dict[str, int] = {}
    held: dict[str, int] = {}
    for o in orders.values():
        if not o["order_id"].startswith(prefix):
            continue
        r = await client.get(worker_url + f"{API}/orders/{o['order_id']}")
        assert r.status_code == 200, f"GET {o['order_id']} on worker {worker}: {r.status_code} {r.text[:200]}"
        mem = r.json()
        sign = 1 if mem["side"] == "BUY" else -1
        explained[mem["instrument"]] = explained.get(mem["instrument"], 0) + sign * int(mem["filled_qty"])
        r = await client.get(worker_url + f"{API}/fills", params={"order_id": o["order_id"]})
        assert r.status_code == 200, f"GET fills of {o['order_id']} on worker {worker}: {r.status_code} {r.text[:200]}"
        for f in r.json()["fills"]:
            held[f["instrument"]] = held.get(f["instrument"], 0) + sign * int(f["quantity"])
    r = await client.get(worker_url + f"{API}/positions")
    assert r.status_code == 200, f"GET /positions on worker {worker}: {r.status_code} {r.text[:200]}"
    return {k: v for k, v in held.items() if v != 0}, {k: v for k, v in explained.items() if v != 0}

