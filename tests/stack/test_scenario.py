"""A TestClock scenario through nginx: orders, a GTD expiry, a TWAP, advances, settlement. Run twice on
fresh stacks, every response is identical; and a mixed build map shows in /api/v1/build."""

from __future__ import annotations

import json

import httpx
import pytest

from harness.stack import StackError, running, start

from .conftest import _drop, isolation_args, nginx_or_skip

pytestmark = pytest.mark.timeout(180)
S = 1_000_000_000
START = 1_700_000_000 * S  # Tue 2023-11-14 22:13:20 UTC
DAY = 86_400 * S


def scenario(url: str) -> list[tuple[int, object]]:
    out: list[tuple[int, object]] = []
    with httpx.Client(base_url=url) as c:

        def call(method: str, path: str, body: dict | None = None) -> dict:
            r = c.request(method, path, json=body)
            out.append((r.status_code, r.json()))
            return r.json()

        call("GET", "/api/v1/clock/server-time")
        call("POST", "/api/v1/clock/advance", {"by_ns": 31 * S})  # one quote (every 30 s) makes a market
        call("POST", "/api/v1/orders", {"client_order_id": "s1", "instrument": "AAPL", "side": "BUY", "quantity": 300})
        call("POST", "/api/v1/orders", {"client_order_id": "s2", "instrument": "MSFT", "side": "SELL", "quantity": 50})
        gtd = call("POST", "/api/v1/orders", {"client_order_id": "s3", "instrument": "AAPL", "side": "BUY", "quantity": 1,
                                              "time_in_force": "GTD", "expire_time_ns": START + 45 * S,
                                              "order_type": "LIMIT", "limit_price": "120.00"})  # fmt: skip
        call("POST", "/api/v1/orders", {"client_order_id": "s1", "instrument": "AAPL", "side": "BUY", "quantity": 1})
        call("POST", "/api/v1/orders", {"client_order_id": "bad", "instrument": "AAPL", "side": "BUY", "quantity": 0})
        algo = call("POST", "/api/v1/algos", {"kind": "TWAP", "instrument": "MSFT", "side": "BUY", "quantity": 101,
                                              "duration_ns": 8 * S, "slices": 4})  # fmt: skip
        call("POST", "/api/v1/clock/advance", {"by_ns": 20 * S})  # past the TWAP and the GTD expiry
        if "algo_id" in algo:
            call("GET", f"/api/v1/algos/{algo['algo_id']}")
        if "order_id" in gtd:
            call("GET", f"/api/v1/orders/{gtd['order_id']}")
        call("GET", "/api/v1/positions")
        for day in (1, 2, 3):  # past T+1..T+2 settlement, a day per call (the service's advance limit)
            call("POST", "/api/v1/clock/advance", {"to_ns": START + day * DAY})
        call("GET", "/api/v1/positions")
        call("GET", "/api/v1/positions/AAPL")
        call("POST", "/api/v1/clock/advance", {"to_ns": START})  # backwards: refused
        call("POST", "/api/v1/clock/sync", {"t0": 42})
    return out


def run_once(postgres_url: str, redis_url: str) -> list[tuple[int, object]]:
    schema, args = isolation_args()
    try:
        with running(build="clocked", clock="test", start_time_ns=START, workers=3, nginx=True,
                     postgres_url=postgres_url, redis_url=redis_url, write_pointer=False,
                     service_args=[*args, "--quote-ms", "30000"]) as s:  # fmt: skip
            assert len(s.worker_urls) == 1 and "single worker" in s.notes[0]
            return scenario(s.url)
    finally:
        _drop(postgres_url, schema)


def test_test_clock_scenario_is_identical_on_two_runs(postgres_url, redis_url):
    nginx_or_skip()
    first = run_once(postgres_url, redis_url)
    second = run_once(postgres_url, redis_url)
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    statuses = [s for s, _ in first]
    assert statuses[2] == 201 and statuses[5] == 409 and statuses[6] == 422 and statuses[-2] == 422
    by_body = [b for _, b in first]
    assert by_body[0]["timestamp_ns"] == START and by_body[0]["clock"] == "test"
    algo = [b for b in by_body if isinstance(b, dict) and b.get("slices")][-1]  # the GET after the advance
    assert [sl["scheduled_ns"] for sl in algo["slices"]] == [sl["fired_ns"] for sl in algo["slices"]]
    assert sum(sl["quantity"] for sl in algo["slices"]) == 101
    gtd = next(b for b in by_body if isinstance(b, dict) and b.get("client_order_id") == "s3"
               and b.get("state") == "EXPIRED")  # fmt: skip
    assert gtd["last_update_ns"] == START + 45 * S
    assert [b["state"] for b in by_body[2:4]] == ["FILLED", "FILLED"]
    settled = by_body[-3]
    assert settled["settled_quantity"] > 0


def test_mixed_build_map_and_clear_errors(postgres_url, redis_url):
    nginx_or_skip()
    schema, args = isolation_args()
    try:
        with running(build="clocked", components=["oms=baseline", "websocket=baseline"], workers=1, nginx=False,
                     postgres_url=postgres_url, redis_url=redis_url, service_args=args, write_pointer=False) as s:  # fmt: skip
            assert s.nginx_url is None and s.url == s.worker_urls[0]
            b = httpx.get(s.url + "/api/v1/build").json()
            assert b["components"]["oms"] == "baseline" and b["components"]["ems"] == "clocked"
            r = httpx.post(s.url + "/api/v1/orders", json={"client_order_id": "mix", "instrument": "AAPL",
                                                          "side": "BUY", "quantity": 1})  # fmt: skip
            assert r.status_code == 201
    finally:
        _drop(postgres_url, schema)
    with pytest.raises(StackError, match="unknown component"):
        start(build="clocked", components=["nope=clocked"], write_pointer=False)
    with pytest.raises(StackError, match="needs --start-time"):
        start(clock="test", write_pointer=False)
    with pytest.raises(StackError, match="Redis is unreachable"):
        start(postgres_url=postgres_url, redis_url="redis://127.0.0.1:1/0", write_pointer=False)
