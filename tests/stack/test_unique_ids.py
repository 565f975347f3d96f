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
