"""Faults under load against servers this test starts itself (Debian's PostgreSQL 15 and redis-server
on free ports, never the machine's shared ones), through nginx to two workers, both builds:
PostgreSQL stopped and restarted, Redis killed and restarted, a worker killed, all mid-load.

Checks: no acknowledged (201) order is missing from PostgreSQL; no order whose answer was an error
traded (its row is absent, or never filled); every error answer is JSON (503 with Retry-After for
an outage, 502 only once a worker is dead); each outage is recovered from without a restart within
RECOVERY_BOUND_S (the figures are printed and written to the test's JSON record).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from harness.builds import BUILDS
from harness.stack import running
from tests.conftest import missing
from tests.stack import faultservers
from tests.stack.conftest import nginx_or_skip

RECOVERY_BOUND_S = 10.0
CLIENTS = 4


@pytest.fixture(scope="module")
def servers():
    why = faultservers.available()
    if why:
        missing("PostgreSQL/Redis binaries for fault tests", why)
    pg, rd = faultservers.PgServer(), faultservers.RedisServer()
    try:
        pg.start()
        rd.start()
        yield pg, rd
    finally:
        pg.close()
        rd.close()


class Load:
    """CLIENTS threads posting orders as fast as answers come; every outcome is kept."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stop = threading.Event()
        self.outcomes: list[dict] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(CLIENTS)]

    def __enter__(self) -> "Load":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def _run(self, i: int) -> None:
        with httpx.Client(base_url=self.url, timeout=10.0) as c:
            n = 0
            while not self.stop.is_set():
                n += 1
                cid = f"f{i}-{uuid.uuid4().hex[:10]}"
                body = {"client_order_id": cid, "instrument": "AAPL", "side": "BUY" if n % 2 else "SELL",
                        "quantity": 1 + n % 5}  # MARKET: fills at once when there is a market  # fmt: skip
                t0 = time.monotonic()
                out = {"cid": cid, "sent": t0}
                try:
                    r = c.post("/api/v1/orders", json=body)
                    out.update(status=r.status_code, ctype=r.headers.get("content-type", ""),
                               retry_after=r.headers.get("retry-after"), answered=time.monotonic())  # fmt: skip
                    if r.status_code == 201:
                        out["order_id"] = r.json()["order_id"]
                    else:
                        out["body"] = r.text[:300]
                except httpx.HTTPError as exc:
                    out.update(status=None, error=type(exc).__name__, answered=time.monotonic())
                with self.lock:
                    self.outcomes.append(out)
                if out["status"] != 201:
                    time.sleep(0.05)

    def first_201_after(self, t: float) -> float | None:
        with self.lock:
            times = [o["answered"] for o in self.outcomes if o["status"] == 201 and o["sent"] >= t]
        return min(times) - t if times else None


def _rows(url: str, schema: str) -> dict[str, tuple[str, str, float]]:
    async def q() -> dict[str, tuple[str, str, float]]:
        conn = await asyncpg.connect(url)
        try:
            recs = await conn.fetch(f"SELECT order_id, client_order_id, state, filled_quantity FROM {schema}.orders")
        finally:
            await conn.close()
        return {r["client_order_id"]: (r["order_id"], r["state"], float(r["filled_quantity"])) for r in recs}

    return asyncio.run(q())


def _wait_recovered(load: Load, since: float, what: str) -> float:
    deadline = since + RECOVERY_BOUND_S + 20
    while time.monotonic() < deadline:
        took = load.first_201_after(since)
        if took is not None:
            return took
        time.sleep(0.05)
    raise AssertionError(f"no order accepted within {deadline - since:.0f} s after {what} came back")


@pytest.mark.parametrize("build", BUILDS)
def test_outages_and_a_killed_worker_lose_nothing_and_trade_nothing_refused(servers, build, tmp_path):
    nginx_or_skip()
    pg, rd = servers
    schema = "cb_faults_" + uuid.uuid4().hex[:8]
    args = ["--db-schema", schema, "--redis-prefix", f"cb:{schema}:", "--quote-ms", "100"]
    figures: dict[str, float] = {}
    with running(build=build, workers=2, nginx=True, postgres_url=pg.url, redis_url=rd.url, service_args=args,
                 write_pointer=False, health_timeout_s=60) as s:  # fmt: skip
        with Load(s.url) as load:
            time.sleep(2)
            pg.stop()
            time.sleep(2)
            pg.start()
            figures["postgres_recovery_s"] = _wait_recovered(load, time.monotonic(), "PostgreSQL")
            rd.stop()
            time.sleep(2)
            rd.start()
            figures["redis_recovery_s"] = _wait_recovered(load, time.monotonic(), "Redis")
            victim = next(p for p in s.state.processes if p.role == "worker-1")
            killed_at = time.monotonic()
            os.kill(victim.pid, signal.SIGKILL)
            figures["after_kill_first_201_s"] = _wait_recovered(load, killed_at, "a worker was killed")
            time.sleep(1)
        time.sleep(1.5)  # background repairs of failed writes settle
        rows = _rows(pg.url, schema)
    outcomes = load.outcomes
    acked = [o for o in outcomes if o["status"] == 201]
    refused = [o for o in outcomes if o["status"] is not None and o["status"] != 201]
    unanswered = [o for o in outcomes if o["status"] is None]
    figures.update(orders=len(outcomes), acknowledged=len(acked), refused=len(refused), unanswered=len(unanswered))
    (tmp_path / "faults.json").write_text(json.dumps(figures))
    print(f"\nfaults[{build}]: {json.dumps(figures)}")
    assert len(acked) > 50 and refused, figures  # the load ran, and the outages were felt
    lost = [o for o in acked if rows.get(o["cid"], (None,))[0] != o["order_id"]]
    assert not lost, f"{len(lost)} acknowledged orders missing from PostgreSQL: {lost[:3]}"
    traded = [(o, rows[o["cid"]]) for o in refused if o["cid"] in rows and rows[o["cid"]][2] > 0]
    assert not traded, f"{len(traded)} refused orders traded: {traded[:3]}"
    live = [(o, rows[o["cid"]]) for o in refused if o["cid"] in rows and rows[o["cid"]][1] not in ("REJECTED", "NEW")]
    assert not live, f"refused orders live in PostgreSQL: {live[:3]}"
    for o in refused:
        assert o["ctype"].startswith("application/json") or o["status"] == 502, o  # never a plain-text 500
        assert o["status"] in (409, 503, 502), (o.get("body"), o)
        if o["status"] == 503:
            assert o["retry_after"], o
        if o["status"] == 502:
            assert o["sent"] >= killed_at - 1, o  # nginx's 502 only once a worker is dead
    for name in ("postgres_recovery_s", "redis_recovery_s"):
        assert figures[name] < RECOVERY_BOUND_S, figures
