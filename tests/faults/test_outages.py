"""Faults mid-load against real servers this test started itself (issue 11, item 8): Redis crashed
and restarted, PostgreSQL crashed (and, apart, shut down in order) and down for a few seconds, one of
two workers killed, each under a short order load through nginx, for both builds.

Each checks: no acknowledged (2xx) order lost (its id is in PostgreSQL); no order the service
refused left a trace (no live row, nothing filled, nothing in any worker's positions: read back
through the API and the database); PostgreSQL agrees with the workers' memory once the fault is
over; every answer is the service's JSON (a 503 with Retry-After in an outage; nginx's 502 or no
answer only after a worker was killed); the stack recovers without a restart (same worker processes)
within RECOVERY_BOUND_S of the server's return. The recovery figures are printed in the terminal summary.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from harness.builds import BUILDS

from .conftest import PrivateServers, nginx_or_missing, private_stack
from .workload import LoadResult, api_orders, db_orders, run_load, worker_view

RECOVERY_BOUND_S = 30.0  # generous: a busy 2-core CI machine; the measured figure is reported
SETTLE_S = 20.0  # background writes (and repairs retried through the outage) must land within this
PG_DOWN_S = 3.0
REDIS_DOWN_S = 1.0

FIGURES: list[dict[str, Any]] = []
EXPIRY_S = 5
NS_PER_S = 1_000_000_000

# A fill whose background update failed during the outage is never written again (see STALE_FILL):
# under live load that shows only when a fill lands in the outage, so the main test leaves that one
# comparison to the deterministic test below while the bug is open. Set False once it is fixed.
STALE_IS_KNOWN_BUG = False
STALE_FILL = (  # reproduced deterministically by test_change_during_postgres_outage_reaches_database
    "service bug (reliability2, open at 50fdf95): harness/app/orders.py OrderService._persist marks "
    "(state, filled) as written BEFORE awaiting store.update_order; when that write fails (PostgreSQL down) "
    "_persist_logged only appends to persist_errors and the order is never written again. Repro: 5 x POST "
    "/api/v1/orders LIMIT BUY AAPL 100.00 GTD expire_time_ns=now+5s (201, ACCEPTED in PostgreSQL); stop "
    "PostgreSQL; the worker expires them (EXPIRED in memory); start PostgreSQL: 20 s later the rows still say "
    "ACCEPTED (under live load also a fill: W0-O225 FILLED 1 in memory, NEW 0 in PostgreSQL). Expected: a "
    "failed update is retried (as _repair does) until PostgreSQL has the worker's state"
)


class StaleDatabase(AssertionError):
    """PostgreSQL did not catch up with the worker's memory after the outage (the bug STALE_FILL names)."""  # printed by conftest's terminal summary


def verify(result: LoadResult, url: str, worker_urls: list[str], live: list[int], pg_url: str,
           schema: str) -> list[str]:  # fmt: skip
    """Every broken promise, as one line each (empty: all kept)."""

    async def check() -> list[str]:
        problems: list[str] = []
        stale: list[str] = []
        db = await db_orders(pg_url, schema)
        async with httpx.AsyncClient(timeout=10) as client:
            api = await api_orders(client, url)
            # 1. nothing acknowledged is lost
            for a in result.acked:
                row = db.get(a.client_order_id)
                if row is None or row["order_id"] != a.order_id:
                    problems.append(f"acknowledged {a.client_order_id} ({a.order_id}, HTTP {a.status}) is not in PostgreSQL")
                elif a.client_order_id not in api:
                    problems.append(f"acknowledged {a.order_id} is missing from GET /api/v1/orders")
            # 2. what the service refused left no trace
            for a in result.refused:
                row = db.get(a.client_order_id)
                if row is not None and (row["state"] != "REJECTED" or Decimal(row["filled_quantity"]) != 0):
                    problems.append(f"refused {a.client_order_id} (HTTP {a.status}: {a.error}) has a row "
                                    f"{row['order_id']} {row['state']} filled {row['filled_quantity']}")  # fmt: skip
                seen = api.get(a.client_order_id)
                if seen is not None and (seen["state"] != "REJECTED" or int(seen["filled_qty"]) != 0):
                    problems.append(f"refused {a.client_order_id} (HTTP {a.status}) shows in the API as "
                                    f"{seen['order_id']} {seen['state']} filled {seen['filled_qty']}")  # fmt: skip
            # 3. each live worker: memory and PostgreSQL agree; positions are explained by its orders
            for w in live:
                prefix = f"W{w}-"
                for cid, row in db.items():
                    if not row["order_id"].startswith(prefix):
                        continue
                    r = await client.get(worker_urls[w] + f"/api/v1/orders/{row['order_id']}")
                    if r.status_code != 200:
                        problems.append(f"GET {row['order_id']} on worker {w}: HTTP {r.status_code}")
                        continue
                    mem = r.json()
                    if mem.get("source") == "database":  # not in the worker's memory: must be a dead row
                        if row["state"] != "REJECTED" or Decimal(row["filled_quantity"]) != 0:
                            problems.append(f"{row['order_id']} is {row['state']} in PostgreSQL but unknown to worker {w}")
                    elif (mem["state"], int(mem["filled_qty"])) != (row["state"], int(Decimal(row["filled_quantity"]))):
                        stale.append(f"{row['order_id']}: worker {w} holds {mem['state']} filled {mem['filled_qty']}, "
                                        f"PostgreSQL {row['state']} filled {row['filled_quantity']}")  # fmt: skip
                held, explained = await worker_view(client, worker_urls[w], w, {k: v for k, v in api.items()})
                if held != explained:
                    problems.append(f"worker {w}'s recorded fills {held} are not what its orders filled "
                                    f"{explained}: something unrecorded traded")  # fmt: skip
        if STALE_IS_KNOWN_BUG:  # timing-dependent here; test_change_during_postgres_outage_reaches_database pins it
            return problems
        return problems + stale

    return asyncio.run(check())


def settle_and_verify(*args: Any) -> list[str]:
    """Background writes land after the answers: retry the checks until they hold or SETTLE_S passes."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        problems = verify(*args)
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(1.0)


@pytest.mark.service("postgres")
@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.parametrize("fault", ["redis_restart", "postgres_restart", "postgres_fast_restart", "worker_kill"])
def test_fault_mid_load(private_servers: PrivateServers, build: str, fault: str) -> None:
    nginx_or_missing()
    servers = private_servers
    schema, stack_cm = private_stack(servers, build)
    with stack_cm as s:
        procs = dict(s._procs)
        pids = {role: p.pid for role, p in procs.items()}
        live = [0, 1]

        async def do_fault() -> tuple[float, float]:
            began = time.monotonic()
            if fault == "redis_restart":
                back = await asyncio.to_thread(servers.redis.restart, REDIS_DOWN_S)
            elif fault == "postgres_restart":  # a crash: connections vanish without a word
                back = await asyncio.to_thread(servers.pg.restart, PG_DOWN_S)
            elif fault == "postgres_fast_restart":  # an orderly shutdown: open connections are told and cut
                back = await asyncio.to_thread(servers.pg.restart, PG_DOWN_S, "fast")
            else:
                os.killpg(pids["worker-1"], signal.SIGKILL)  # its own session: the worker and nothing else
                live.remove(1)
                back = time.monotonic()  # the stack must serve on with the one worker left
            return began, back

        result = asyncio.run(run_load(s.url, do_fault))
        figures = {"fault": fault, "build": build, **result.summary()}
        FIGURES.append(figures)
        # recovery without a restart: the same processes serve (only the killed worker is gone)
        expected_dead = ["worker-1"] if fault == "worker_kill" else []
        assert sorted(s.dead()) == expected_dead, f"processes died: {s.dead()} ({figures})"
        assert result.acked, f"no order was acknowledged at all: {figures}"
        rec = result.recovery_s()
        assert rec is not None and rec <= RECOVERY_BOUND_S, f"no 2xx within {RECOVERY_BOUND_S}s of the server's return: {figures}"
        # an outage is a JSON 503 with Retry-After (never a plain 500 or a dropped connection from the worker)
        bad = [a for a in result.refused if a.status != 503 or not a.retry_after]
        assert not bad, f"{len(bad)} refusals were not 503 + Retry-After, e.g. HTTP {bad[0].status} {bad[0].error!r} ({figures})"
        # every answer is the service's own JSON; only once a worker is killed may nginx answer for it (502)
        # or a connection drop go unanswered
        amb = result.ambiguous
        if fault == "worker_kill":
            early = [a for a in amb if a.done < (result.fault_at or 0)]
            assert not early, f"{len(early)} answers before the kill were not the service's JSON, e.g. {early[0]} ({figures})"
        else:
            assert not amb, f"{len(amb)} answers were not the service's JSON (a plain-text error or a dropped " \
                            f"connection), e.g. HTTP {amb[0].status} {amb[0].error!r} ({figures})"
        problems = settle_and_verify(result, s.url, s.worker_urls, live, servers.pg.url, schema)
        assert not problems, f"{len(problems)} broken promises ({figures}):\n" + "\n".join(problems[:25])
        # the worker that lived through the fault is healthy again (HTTP 200, ready)
        for w in live:
            h = httpx.get(s.worker_urls[w] + "/health", timeout=10)
            assert h.status_code == 200, f"worker {w} /health after the fault: {h.status_code} {h.text[:300]}"


@pytest.mark.service("postgres")
@pytest.mark.parametrize("build", BUILDS)
def test_change_during_postgres_outage_reaches_database(private_servers: PrivateServers, build: str) -> None:
    """Deterministic: resting GTD orders expire while PostgreSQL is down (the worker's own timers
    change them in memory; the background writes fail); once PostgreSQL is back, it must show what
    the worker holds within SETTLE_S, without a restart."""
    servers = private_servers
    schema, stack_cm = private_stack(servers, build, workers=1, nginx=False)
    with stack_cm as s, httpx.Client(base_url=s.url, timeout=30) as c:
        expire_ns = time.time_ns() + EXPIRY_S * NS_PER_S
        ids: list[str] = []
        for k in range(50):  # far below AAPL's ~190 but inside the venue's ±50% band: they rest
            r = c.post("/api/v1/orders", json={"client_order_id": f"gtd-{k}", "instrument": "AAPL", "side": "BUY",
                                                "quantity": 1, "order_type": "LIMIT", "limit_price": "100.00",
                                                "time_in_force": "GTD", "expire_time_ns": expire_ns})  # fmt: skip
            assert r.status_code == 201, r.text
            if r.json()["state"] == "REJECTED":  # the venue has no market until the first quotes: wait for it
                time.sleep(0.1)
                continue
            ids.append(r.json()["order_id"])
            if len(ids) == 5:
                break
        assert len(ids) == 5, "the venue never opened a market in AAPL"

        def memory() -> dict[str, tuple[str, int]]:
            return {i: (o["state"], int(o["filled_qty"])) for i in ids for o in [c.get(f"/api/v1/orders/{i}").json()]}

        def database() -> dict[str, tuple[str, int]]:
            db = asyncio.run(db_orders(servers.pg.url, schema))
            return {r["order_id"]: (r["state"], int(Decimal(r["filled_quantity"]))) for r in db.values()
                    if r["order_id"] in ids}  # fmt: skip

        deadline = time.monotonic() + SETTLE_S
        while database() != memory() and time.monotonic() < deadline:
            time.sleep(0.2)
        before = memory()
        assert database() == before and all(st == "ACCEPTED" for st, _ in before.values()), (before, database())
        assert time.time_ns() < expire_ns - NS_PER_S, "too slow: the orders would expire before the outage began"
        servers.pg.stop("immediate")
        try:
            time.sleep(max(0.0, (expire_ns - time.time_ns()) / NS_PER_S) + 1.5)  # they expire while it is down
            during = memory()
        finally:
            servers.pg.start()
        assert all(st == "EXPIRED" for st, _ in during.values()), f"the orders did not expire in the outage: {during}"
        deadline = time.monotonic() + SETTLE_S
        while (rows := database()) != during and time.monotonic() < deadline:
            time.sleep(1.0)
        assert not s.dead(), f"processes died: {s.dead()}"
    stale = {i: (during[i], rows.get(i)) for i in ids if rows.get(i) != during[i]}
    if stale:
        raise StaleDatabase(f"{len(stale)} of {len(ids)} orders that expired during the outage are stale in "
                            f"PostgreSQL {SETTLE_S:.0f}s after it came back (order: (worker, database)): {stale}")
