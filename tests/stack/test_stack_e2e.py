"""End to end over HTTP through the run's own nginx, in both builds: the order flow, bad input
(each field named, nothing written), WebSocket heartbeats and quotes, /metrics, build flags."""

from __future__ import annotations

import asyncio
import json
import time

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from harness.builds import COMPONENTS

pytestmark = pytest.mark.timeout(120)


def _rows(postgres_url: str, schema: str, client_order_id: str) -> list[dict]:
    async def go() -> list[dict]:
        conn = await asyncpg.connect(postgres_url)
        try:
            rows = await conn.fetch(f"SELECT * FROM {schema}.orders WHERE client_order_id = $1", client_order_id)
            return [dict(r) for r in rows]
        finally:
            await conn.close()

    return asyncio.run(go())


def test_health_and_build_go_through_nginx(live_stack):
    with httpx.Client(base_url=live_stack.url) as c:
        h = c.get("/health").json()
        assert h["ready"] is True and h["checks"]["postgres"]["ok"] and h["checks"]["redis"]["ok"]
        b = c.get("/api/v1/build").json()
        assert b["components"] == {k: live_stack.build for k in COMPONENTS}
        assert b["build"] == live_stack.build
        workers = {c.get("/api/v1/build").json()["worker"] for _ in range(6)}
        assert workers == {0, 1}  # nginx spreads requests over both workers
    log = live_stack.access_log.read_text()
    assert 'GET "/api/v1/build"' in log and "urt=" in log


def test_order_flow_is_committed_before_201(live_stack, postgres_url):
    cid = f"e2e-{live_stack.build}-1"
    with httpx.Client(base_url=live_stack.url) as c:
        r = c.post("/api/v1/orders", json={"client_order_id": cid, "instrument": "AAPL", "side": "BUY", "quantity": 10})
        assert r.status_code == 201, r.text
        order = r.json()
        assert order["state"] in ("FILLED", "PARTIALLY_FILLED", "ACCEPTED")
        assert isinstance(order["receive_time_ns"], int) and order["sequence"] >= 1
        rows = _rows(postgres_url, live_stack.schema, cid)
        assert len(rows) == 1 and rows[0]["order_id"] == order["order_id"]
        # any worker answers it: the one that took it from memory, the other from Redis/PostgreSQL
        for _ in range(4):
            got = c.get(f"/api/v1/orders/{order['order_id']}")
            assert got.status_code == 200 and got.json()["client_order_id"] == cid
        pos = c.get("/api/v1/positions")
        assert pos.status_code == 200 and "positions" in pos.json()


def test_an_id_naming_a_missing_worker_is_a_json_404_through_nginx(live_stack):
    with httpx.Client(base_url=live_stack.url) as c:
        for method, path in (("GET", "/api/v1/orders/W9-O1"), ("DELETE", "/api/v1/orders/W7-O3"),
                             ("GET", "/api/v1/algos/W12-A1")):  # fmt: skip
            r = c.request(method, path)
            assert r.status_code == 404 and r.headers["content-type"].startswith("application/json"), r.text
            assert r.json()["errors"][0]["field"] == "order_id"
        assert c.get("/api/v1/orders/W1-O999999").status_code == 404  # a real worker: its own 404
        h = c.get("/health")
        assert h.status_code == 200 and "127.0.0.1" not in h.text


def test_cancel_unknown_and_final(live_stack):
    with httpx.Client(base_url=live_stack.url) as c:
        assert c.delete("/api/v1/orders/NOPE").status_code == 404
        assert c.get("/api/v1/orders/NOPE").json()["errors"][0]["field"] == "order_id"
        r = c.post("/api/v1/orders", json={"client_order_id": f"e2e-{live_stack.build}-ioc", "instrument": "MSFT",
                                          "side": "SELL", "quantity": 5, "time_in_force": "IOC"})  # fmt: skip
        assert r.status_code == 201
        oid = r.json()["order_id"]
        # IOC is final at once: cancelling it again is a conflict (on whichever worker holds it, else 404)
        assert c.delete(f"/api/v1/orders/{oid}").status_code in (404, 409)


@pytest.mark.parametrize(
    "body, fields",
    [
        ({"client_order_id": "bad-1", "instrument": "ZZZ", "side": "BUY", "quantity": -3, "order_type": "LIMIT"},
         {"instrument", "quantity", "limit_price"}),
        ({"client_order_id": "bad-2", "instrument": "AAPL", "side": "HOLD", "quantity": 1}, {"side"}),
        ({"client_order_id": "bad-3", "instrument": "AAPL", "side": "BUY", "quantity": "ten"}, {"quantity"}),
        ({"client_order_id": "bad-4", "instrument": "AAPL", "side": "BUY", "quantity": 1, "time_in_force": "GTD"},
         {"expire_time_ns"}),
        ({"client_order_id": "bad-5", "instrument": "AAPL", "side": "BUY", "quantity": 1, "colour": "red"}, {"colour"}),
        ({"client_order_id": "bad-6", "side": "BUY", "quantity": 1}, {"instrument"}),
    ],
)  # fmt: skip
def test_bad_input_names_each_field_and_writes_nothing(live_stack, postgres_url, body, fields):
    body = dict(body, client_order_id=f"{body['client_order_id']}-{live_stack.build}")
    with httpx.Client(base_url=live_stack.url) as c:
        r = c.post("/api/v1/orders", json=body)
    assert r.status_code in (400, 422), r.text
    errors = r.json()["errors"]
    assert {e["field"] for e in errors} == fields
    assert all(e["reason"] for e in errors)
    assert _rows(postgres_url, live_stack.schema, body["client_order_id"]) == []


def test_not_json_is_a_clear_422(live_stack):
    with httpx.Client(base_url=live_stack.url) as c:
        r = c.post("/api/v1/orders", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 422 and "JSON" in r.json()["errors"][0]["reason"]
        assert c.post("/api/v1/clock/advance", json={"by_ns": 1}).status_code == 404  # live clock
        sync = c.post("/api/v1/clock/sync", json={"t0": 123}).json()
        assert sync["t0"] == 123 and sync["t1"] <= sync["t2"] and sync["clock"] == "live"


def test_websocket_heartbeats_and_quotes_through_nginx(live_stack):
    url = live_stack.url.replace("http://", "ws://") + "/ws/market"
    with connect(url, open_timeout=5) as ws:
        welcome = json.loads(ws.recv(timeout=5))
        assert welcome["type"] == "welcome" and welcome["heartbeat_interval_ns"] == 200_000_000
        ws.send(json.dumps({"type": "subscribe", "instruments": ["AAPL"]}))
        ws.send("not json")
        ws.send(json.dumps({"type": "subscribe", "instruments": ["ZZZ"]}))
        beats, quotes, others = [], [], []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and (len(beats) < 3 or not quotes):
            m = json.loads(ws.recv(timeout=3))
            (beats if m["type"] == "heartbeat" else quotes if m["type"] == "quote" else others).append(m)
    assert len(beats) >= 3
    for b in beats:
        assert set(b) == {"type", "timestamp", "next_heartbeat"}
        assert isinstance(b["timestamp"], int) and b["next_heartbeat"] > b["timestamp"]
    assert quotes and all(q["instrument"] == "AAPL" and isinstance(q["timestamp"], int) for q in quotes)
    types = [o["type"] for o in others]
    assert "subscribed" in types and types.count("error") == 2
    assert {o.get("field") for o in others if o["type"] == "error"} == {"message", "instruments"}


def test_metrics_parse_with_prometheus_parser(live_stack):
    with httpx.Client(base_url=live_stack.url) as c:
        c.post("/api/v1/orders", json={"client_order_id": f"m-{live_stack.build}", "instrument": "ES", "side": "BUY",
                                      "quantity": 1})  # fmt: skip
        families = {}
        for _ in range(4):  # nginx alternates workers: read both
            for fam in text_string_to_metric_families(c.get("/metrics").text):
                families.setdefault(fam.name, []).extend(fam.samples)
    assert {"clockbench_build_info", "clockbench_http_requests", "clockbench_http_request_duration_seconds",
            "clockbench_orders", "clockbench_order_stage_latency_seconds"} <= set(families)  # fmt: skip
    info = families["clockbench_build_info"]
    assert {s.labels["component"] for s in info} == set(COMPONENTS)
    assert all(s.labels["build"] == live_stack.build for s in info)
    routes = {s.labels["route"] for s in families["clockbench_http_requests"]}
    assert "/api/v1/orders" in routes
    stages = {s.labels["transition"] for s in families["clockbench_order_stage_latency_seconds"]}
    assert "received->sequenced" in stages


def test_positions_and_fills_are_one_view_behind_nginx(live_stack):
    """Two workers behind nginx: orders taken by both, then every answer of GET /positions (nginx
    spreads them over both workers) is the same, and so is an order's fills list; each worker's own
    /metrics is reachable through nginx by its number."""
    with httpx.Client(base_url=live_stack.url, timeout=10) as c:
        owners = set()
        for i in range(8):
            r = c.post("/api/v1/orders", json={"client_order_id": f"pos-{live_stack.build}-{i}", "instrument": "AAPL",
                                               "side": "BUY" if i % 3 else "SELL", "quantity": 5 + i})  # fmt: skip
            assert r.status_code == 201, r.text
            owners.add(r.json()["order_id"].split("-")[0])
        assert owners == {"W0", "W1"}  # both workers traded
        time.sleep(0.5)  # the fills' write-behind (20 ms linger) has landed on both workers
        views = [c.get("/api/v1/positions") for _ in range(6)]
        assert all(v.status_code == 200 for v in views)
        assert {v.json()["answered_by"] for v in views} == {0, 1}
        first = views[0].json()
        assert first["source"] == "database" and first["positions"]
        for v in views[1:]:
            body = v.json()
            assert (body["positions"], body["cash"], body["settled_cash"]) == \
                (first["positions"], first["cash"], first["settled_cash"])  # fmt: skip
        order_id = r.json()["order_id"]
        fills = [c.get("/api/v1/fills", params={"order_id": order_id}) for _ in range(3)]
        assert all(f.status_code == 200 and f.json() == fills[0].json() for f in fills)
        assert c.get("/api/v1/fills", params={"order_id": "W0-O99999"}).status_code == 404
        for w in (0, 1):
            m = c.get(f"/workers/W{w}/metrics")
            assert m.status_code == 200 and f'worker="{w}"' in m.text
        assert c.get("/workers/W7/metrics").status_code == 404
