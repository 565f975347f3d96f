"""The gateway in the real stack (nginx, two uvicorn workers, PostgreSQL, Redis), both builds: one
rate limit shared by both workers, 429 with its headers, Server-Timing on every answer, 504 for a
budget too small to start a write (and no order row written), the gateway's Prometheus counters."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import pytest

from harness.stack import running
from tests.stack.conftest import _drop, isolation_args, nginx_or_skip

pytestmark = pytest.mark.timeout(120)

POLICY = """
[default]
budget = "5s"
clients = "named"

[routes."GET /api/v1/clock"]
rate = "6/1m"

[routes."POST /api/v1/orders"]
commit_reserve = "50ms"
"""


@pytest.fixture(scope="module", params=["clocked", "baseline"])
def gw_stack(request, postgres_url, redis_url, tmp_path_factory):
    nginx_or_skip()
    policy = tmp_path_factory.mktemp("gw") / "policy.toml"
    policy.write_text(POLICY)
    mp = pytest.MonkeyPatch()
    mp.setenv("CLOCKBENCH_GATEWAY_POLICY", str(policy))  # the workers inherit it
    schema, args = isolation_args()
    try:
        with running(build="baseline", components=[f"gateway={request.param}"], workers=2, nginx=True,
                     postgres_url=postgres_url, redis_url=redis_url, service_args=args, write_pointer=False) as s:
            s.schema = schema  # type: ignore[attr-defined]
            s.build = request.param  # type: ignore[attr-defined]
            yield s
    finally:
        mp.undo()
        _drop(postgres_url, schema)


def test_one_limit_is_shared_by_both_workers(gw_stack) -> None:
    who = {"X-Client-Id": f"t-{uuid.uuid4().hex[:8]}"}
    with httpx.Client(base_url=gw_stack.url) as c:
        workers = {c.get("/api/v1/build").json()["worker"] for _ in range(6)}
        rs = [c.get("/api/v1/clock/server-time", headers=who) for _ in range(9)]
    assert workers == {0, 1}  # nginx spreads requests over both workers...
    assert [r.status_code for r in rs] == [200] * 6 + [429] * 3  # ...and they enforce one limit
    refused = rs[6]
    assert int(refused.headers["retry-after"]) >= 1 and int(refused.headers["x-retry-after-ns"]) > 0
    assert refused.headers["ratelimit-limit"] == "6" and refused.headers["ratelimit-remaining"] == "0"
    for r in rs:
        assert "total;dur=" in r.headers["server-timing"] and "budget;dur=5000.000" in r.headers["server-timing"]
    with httpx.Client(base_url=gw_stack.url) as c:  # an anonymous client is not limited by this policy
        assert all(c.get("/api/v1/clock/server-time").status_code == 200 for _ in range(8))


def test_a_bad_budget_header_is_400(gw_stack) -> None:
    with httpx.Client(base_url=gw_stack.url) as c:
        r = c.get("/api/v1/clock/server-time", headers={"X-Request-Budget-Ms": "soon"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "X-Request-Budget-Ms"


def test_a_budget_too_small_for_the_write_writes_nothing(gw_stack, postgres_url) -> None:
    cid = f"gw-{gw_stack.build}-{uuid.uuid4().hex[:8]}"
    body = {"client_order_id": cid, "instrument": "AAPL", "side": "BUY", "quantity": 1}
    with httpx.Client(base_url=gw_stack.url) as c:
        r = c.post("/api/v1/orders", json=body, headers={"X-Request-Budget-Ms": "10"})
        ok = c.post("/api/v1/orders", json={**body, "client_order_id": cid + "-ok"})
        metrics = c.get("/metrics").text + c.get("/metrics").text

    async def rows() -> int:
        conn = await asyncpg.connect(postgres_url)
        try:
            return await conn.fetchval(f"SELECT count(*) FROM {gw_stack.schema}.orders WHERE client_order_id = $1", cid)
        finally:
            await conn.close()

    assert ok.status_code == 201
    if gw_stack.build == "clocked":  # 10 ms left < the 50 ms reserve: refused before the OMS saw it
        assert r.status_code == 504 and "admission" in r.json()["errors"][0]["reason"]
        assert asyncio.run(rows()) == 0
    else:  # the baseline has no reserve: the write runs (and is acknowledged, however late)
        assert r.status_code == 201 and asyncio.run(rows()) == 1
    assert "clockbench_gateway_requests_total" in metrics
