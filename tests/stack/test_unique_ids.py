"""Order ids and sequence numbers are unique across workers and restarts on one schema (issue 11):
two workers and a restarted one, in process against the real PostgreSQL and Redis, both builds."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from core.database.schema import GENERATION_SHIFT, drop_at
from harness.app.config import ServiceConfig
from harness.builds import BUILDS, build_map

from .test_reliability import API, START_NS, InProcess, order


@pytest.mark.parametrize("build", BUILDS)
def test_ids_and_sequences_unique_across_workers_and_a_restart(build, postgres_url, redis_url):
    schema = "cb_uid_" + uuid.uuid4().hex[:10]

    def worker(n: int) -> InProcess:
        return InProcess(ServiceConfig(clock="test", start_time_ns=START_NS, build_map=build_map(build),
                                       postgres_url=postgres_url, redis_url=redis_url, db_schema=schema,
                                       redis_prefix=f"cb:{schema}:", worker_id=n))  # fmt: skip

    def submit(w: InProcess, k: int) -> list[dict]:
        out = []
        for _ in range(k):
            r = w.request("POST", f"{API}/orders", json=order(order_type="LIMIT", limit_price="100.00"))
            assert r.status_code == 201, r.text
            out.append(r.json())
        w.settle()
        return out

    try:
        w0, w1 = worker(0), worker(1)
        made = submit(w0, 3) + submit(w1, 3)
        first_ids = [o["order_id"] for o in made]
        w0.close()  # a restart of worker 0 on the same schema
        w0 = worker(0)
        made += submit(w0, 3)
        ids = [o["order_id"] for o in made]
        seqs = [o["sequence"] for o in made]
        assert len(set(ids)) == len(ids) and len(set(seqs)) == len(seqs), (ids, seqs)
        assert all(i.startswith("W0-") for i in ids[:3] + ids[6:]) and all(i.startswith("W1-") for i in ids[3:6])
        gens = {s >> GENERATION_SHIFT for s in seqs}
        assert len(gens) == 3  # worker 0, worker 1, worker 0 restarted: each start its own generation
        assert min(seqs[6:]) > max(seqs[:3])  # the restarted worker numbers above its former self
        # the restarted worker still finds its former orders (in PostgreSQL) and the other worker's
        for oid in first_ids:
            r = w0.request("GET", f"{API}/orders/{oid}")
            assert r.status_code == 200 and r.json()["order_id"] == oid
        # every row's write sequence number is unique (the clocked build numbers writes itself)
        rows = w0.run(w0.c.store.store.pool.fetch(f"SELECT order_id, seq FROM {schema}.orders"))
        assert {r["order_id"] for r in rows} == set(ids)
        assert len({r["seq"] for r in rows}) == len(rows)
        w0.close()
        w1.close()
    finally:
        asyncio.run(drop_at(postgres_url, schema))


@pytest.mark.parametrize("build", BUILDS)
def test_algo_written_before_it_starts_and_its_children_read_back_after_a_restart(build, postgres_url, redis_url):
    schema = "cb_alg_" + uuid.uuid4().hex[:10]

    def worker() -> InProcess:
        return InProcess(ServiceConfig(clock="test", start_time_ns=START_NS, build_map=build_map(build),
                                       postgres_url=postgres_url, redis_url=redis_url, db_schema=schema,
                                       redis_prefix=f"cb:{schema}:"))  # fmt: skip

    w = worker()
    try:
        assert w.request("POST", f"{API}/clock/advance", json={"by_ns": 2_000_000_000}).status_code == 200
        body = {"instrument": "AAPL", "side": "BUY", "quantity": 40, "kind": "TWAP", "duration_ns": 400_000_000,
                "slices": 4, "client_algo_id": "twap-" + uuid.uuid4().hex[:6]}  # fmt: skip
        # refused while PostgreSQL refuses the write: nothing started, nothing sent
        pool = w.c.store.store.pool
        real_execute = type(pool).execute

        async def refused(*a, **kw):  # TEST DOUBLE of PostgreSQL refusing the algo's write
            raise ConnectionRefusedError(111, "Connection refused")

        w.c.store.store._pool = type("Refusing", (), {"execute": refused, "__getattr__": lambda s, n: getattr(pool, n)})()
        r = w.request("POST", f"{API}/algos", json=body)
        w.c.store.store._pool = pool
        assert r.status_code == 503, r.text
        assert w.c.orders.parts.ems.algos() == [] and real_execute is not None
        r = w.request("POST", f"{API}/algos", json=body)
        assert r.status_code == 201, r.text
        algo_id = r.json()["algo_id"]
        for _ in range(50):  # the clocked EMS follows the TestClock; the baseline's sleeps in real time
            assert w.request("POST", f"{API}/clock/advance", json={"by_ns": 100_000_000}).status_code == 200
            live = w.request("GET", f"{API}/algos/{algo_id}").json()
            if live["state"] == "COMPLETED":
                break
            w.run(asyncio.sleep(0.1))
        w.settle()
        live = w.request("GET", f"{API}/algos/{algo_id}").json()
        assert live["source"] == "memory" and live["state"] == "COMPLETED" and len(live["child_orders"]) == 4
        w.close()
        w = worker()  # restarted: the algo is no longer in memory
        back = w.request("GET", f"{API}/algos/{algo_id}")
        assert back.status_code == 200, back.text
        doc = back.json()
        assert doc["source"] == "database" and doc["state"] == "COMPLETED"
        assert doc["client_algo_id"] == body["client_algo_id"]
        assert [c["order_id"] for c in doc["child_orders"]] == [c["order_id"] for c in live["child_orders"]]
        assert [(c["state"], c["filled_qty"]) for c in doc["child_orders"]] == \
            [(c["state"], c["filled_qty"]) for c in live["child_orders"]]  # fmt: skip
        for c in doc["child_orders"]:  # and each child is an order of its own through the API
            o = w.request("GET", f"{API}/orders/{c['order_id']}")
            assert o.status_code == 200 and o.json()["state"] == c["state"]
        assert w.request("GET", f"{API}/algos/W0-A999").status_code == 404
    finally:
        w.close()
        asyncio.run(drop_at(postgres_url, schema))


@pytest.mark.parametrize("build", BUILDS)
def test_fills_and_positions_are_one_view_across_workers(build, postgres_url, redis_url):
    """Two workers on one schema trade; each order's fills (with settlement dates) and the positions
    read the same from either worker, and the positions equal both workers' PMSs together."""
    schema = "cb_pos_" + uuid.uuid4().hex[:10]

    def worker(n: int) -> InProcess:
        return InProcess(ServiceConfig(clock="test", start_time_ns=START_NS, build_map=build_map(build),
                                       postgres_url=postgres_url, redis_url=redis_url, db_schema=schema,
                                       redis_prefix=f"cb:{schema}:", worker_id=n))  # fmt: skip

    ws = [worker(0), worker(1)]
    try:
        made = {}
        for i, w in enumerate(ws):
            for attempt in range(20):  # until the worker's venue has a market and its MARKET orders fill
                assert w.request("POST", f"{API}/clock/advance", json={"by_ns": 500_000_000}).status_code == 200
                w.run(asyncio.sleep(0.05))
                for side, qty in (("BUY", 30 + i), ("SELL", 7 + i)):
                    r = w.request("POST", f"{API}/orders", json=order(side=side, quantity=qty))  # MARKET
                    assert r.status_code == 201, r.text
                    made[r.json()["order_id"]] = (w, r.json())
                if any(o["filled_qty"] for ww, o in made.values() if ww is w):
                    break
            w.settle()
        views = [w.request("GET", f"{API}/positions") for w in ws]
        assert all(v.status_code == 200 for v in views)
        a, b = (v.json() for v in views)
        assert a["positions"] == b["positions"] and a["cash"] == b["cash"] and a["source"] == "database"
        pms_qty: dict[str, int] = {}
        for w in ws:
            for p in w.c.orders.parts.pms.positions():
                pms_qty[p.instrument] = pms_qty.get(p.instrument, 0) + p.quantity
        assert {p["instrument"]: p["quantity"] for p in a["positions"]} == pms_qty
        assert sum(p["fills"] for p in a["positions"]) == sum(
            sum(p.fills for p in w.c.orders.parts.pms.positions()) for w in ws)
        assert a["positions"], "nothing traded: the test proves nothing"
        traded = a["positions"][0]
        assert ws[1].request("GET", f"{API}/positions/{traded['instrument']}").json() == traded
        for oid, (owner, o) in made.items():
            for w in ws:  # the owner from its fills just written, the other from PostgreSQL: the same
                r = w.request("GET", f"{API}/fills", params={"order_id": oid})
                assert r.status_code == 200, r.text
                fills = r.json()["fills"]
                assert sum(f["quantity"] for f in fills) == owner.c.orders.oms.get(oid).filled_qty
                for f in fills:
                    assert f["order_id"] == oid and f["settlement_days"] >= 0 and f["settlement_date"]
                    assert f["settlement_ns"] >= f["ts_ns"] and f["settled"] is False
        assert ws[0].request("GET", f"{API}/fills", params={"order_id": "W0-O999"}).status_code == 404
        assert ws[0].request("GET", f"{API}/fills?order_id=bad%00id").status_code == 422
    finally:
        for w in ws:
            w.close()
        asyncio.run(drop_at(postgres_url, schema))
