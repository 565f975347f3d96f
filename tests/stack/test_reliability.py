"""The service under bad input, faults and heavy requests (issue 11), in process against real
PostgreSQL and Redis (an isolated schema and key prefix), under ``--clock test`` so nothing moves
between a request and the checks of its effect.

Faults are injected by patching the store's methods to raise (a TEST DOUBLE of an outage: the
adapter's own methods run, or not, exactly as the fault says). Real outages (servers stopped and
restarted mid-load) are the job of ``test_faults.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
import redis.exceptions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.order_management import limits as lim
from harness.app.app import create_app
from harness.app.config import ServiceConfig
from harness.builds import BUILDS, build_map

START_NS = 1_700_000_000_000_000_000
API = "/api/v1"


class InProcess:
    """One worker's app in this process, its lifespan run on a private loop; requests through ASGI."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.app = create_app(config)
        self._cm = self.app.router.lifespan_context(self.app)
        self.run(self._cm.__aenter__())
        self.c = self.app.state.components
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://worker")

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return self.run(self.client.request(method, url, **kw))

    def rows(self) -> dict[str, tuple[str, str]]:
        """client_order_id -> (order_id, state) of every row in PostgreSQL."""

        async def q() -> dict[str, tuple[str, str]]:
            pool = self.c.store.store.pool
            recs = await pool.fetch(f"SELECT order_id, client_order_id, state FROM {self.config.db_schema}.orders")
            return {r["client_order_id"]: (r["order_id"], r["state"]) for r in recs}

        return self.run(q())

    def settle(self) -> None:
        self.run(self.c.orders.flush())

    def close(self) -> None:
        self.run(self.client.aclose())
        self.run(self._cm.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture(scope="module", params=BUILDS)
def svc(request, postgres_url, redis_url):
    schema = "cb_rel_" + uuid.uuid4().hex[:10]
    config = ServiceConfig(clock="test", start_time_ns=START_NS, build_map=build_map(request.param),
                           postgres_url=postgres_url, redis_url=redis_url, db_schema=schema,
                           redis_prefix=f"cb:{schema}:")  # fmt: skip
    s = InProcess(config)
    s.build = request.param  # type: ignore[attr-defined]
    # two seconds of quotes: every instrument has a market, so orders rest, fill or cancel (not "no market")
    assert s.request("POST", f"{API}/clock/advance", json={"by_ns": 2_000_000_000}).status_code == 200
    yield s
    s.close()
    from core.database.schema import drop_at

    asyncio.run(drop_at(postgres_url, schema))


ids = itertools.count()


def cid(tag: str = "c") -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}-{next(ids)}"


def order(**kw: Any) -> dict[str, Any]:
    return {"client_order_id": cid(), "instrument": "AAPL", "side": "BUY", "quantity": 1, **kw}


def fields(r: httpx.Response) -> set[str]:
    return {e["field"] for e in r.json()["errors"]}


# --- strict input ----------------------------------------------------------------------------------
@pytest.mark.parametrize("patch, field", [
    ({"quantity": True}, "quantity"), ({"quantity": 2**64}, "quantity"), ({"quantity": 10**30}, "quantity"),
    ({"quantity": "10"}, "quantity"), ({"quantity": 1.5}, "quantity"), ({"quantity": 1e30}, "quantity"),
    ({"quantity": 2.0e9}, "quantity"),  # integral numbers are integers (2.0 is 2), and the bounds apply
    ({"time_in_force": "GTD", "expire_time_ns": 2**70}, "expire_time_ns"),
    ({"order_type": "LIMIT", "limit_price": "1e28"}, "limit_price"),
    ({"order_type": "LIMIT", "limit_price": "1e999999"}, "limit_price"),
    ({"order_type": "LIMIT", "limit_price": "1" + "0" * 100}, "limit_price"),
    ({"order_type": "LIMIT", "limit_price": " 100 "}, "limit_price"),
    ({"order_type": "LIMIT", "limit_price": "1_00"}, "limit_price"),
    ({"order_type": "LIMIT", "limit_price": 100}, "limit_price"),
    ({"side": "buy"}, "side"), ({"client_order_id": "a\x00b"}, "client_order_id"),
    ({"client_order_id": "x" * 65}, "client_order_id"), ({"client_order_id": "ok\n"}, "client_order_id"),
    ({"client_timestamp_ns": -1}, "client_timestamp_ns"),
])  # fmt: skip
def test_bad_fields_are_a_422_naming_the_field_and_change_nothing(svc, patch, field):
    body = order(**patch)
    before = svc.rows()
    r = svc.request("POST", f"{API}/orders", json=body)
    assert r.status_code == 422, r.text
    assert field in fields(r)
    svc.settle()
    assert svc.rows() == before


def test_lone_surrogate_and_non_json_bodies(svc):
    raw = b'{"client_order_id": "s\\ud800", "instrument": "AAPL", "side": "BUY", "quantity": 1}'
    r = svc.request("POST", f"{API}/orders", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422 and fields(r) == {"client_order_id"}, r.text
    r = svc.request("POST", f"{API}/orders", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 422 and fields(r) == {"body"}, r.text


@pytest.mark.parametrize("path", ["/orders/W0-O9%00", "/orders/%ED%A0%80", "/orders/" + "x" * 200, "/algos/a%00"])
def test_bad_path_ids_are_a_clean_4xx(svc, path):
    for method in ("GET", "DELETE"):
        r = svc.request(method, API + path)
        assert r.status_code in (404, 422), (method, path, r.status_code, r.text)
        assert r.json()["errors"]


def test_openapi_states_enums_bounds_and_error_answers(svc):
    doc = svc.request("GET", "/openapi.json").json()
    props = doc["components"]["schemas"]["OrderCreate"]["properties"]
    assert props["side"]["enum"] == ["BUY", "SELL"] and "LIMIT" in props["order_type"]["enum"]
    assert "AAPL" in props["instrument"]["enum"] and "GTD" in props["time_in_force"]["enum"]
    assert props["quantity"]["maximum"] == lim.MAX_QUANTITY
    assert props["expire_time_ns"]["maximum"] == lim.MAX_NS  # exact, not a float rounded to 2**63
    post = doc["paths"][f"{API}/orders"]["post"]["responses"]
    assert {"201", "409", "422", "503"} <= set(post)
    assert {"404", "409", "422", "503"} <= set(doc["paths"][f"{API}/orders/{{order_id}}"]["delete"]["responses"])


# --- bounded work ----------------------------------------------------------------------------------
@pytest.mark.parametrize("body, field", [
    ({"kind": "TWAP", "slices": 3_000_000, "quantity": 10_000_000}, "slices"),
    ({"kind": "POV", "participation_rate": "0.1", "interval_ns": 1}, "interval_ns"),
    ({"kind": "POV", "participation_rate": "0.1", "interval_ns": lim.MIN_INTERVAL_NS,
      "duration_ns": lim.MAX_ALGO_DURATION_NS}, "interval_ns"),
    ({"kind": "TWAP", "slices": 2, "duration_ns": lim.MAX_ALGO_DURATION_NS + 1}, "duration_ns"),
    ({"kind": "VWAP", "profile": ["0.001"] * 1001}, "profile"),
    ({"kind": "TWAP", "slices": True}, "slices"),
])  # fmt: skip
def test_algo_limits_are_a_422_naming_the_limit(svc, body, field):
    full = {"instrument": "AAPL", "side": "BUY", "quantity": 100, "duration_ns": 10**9, **body}
    r = svc.request("POST", f"{API}/algos", json=full)
    assert r.status_code == 422, r.text
    assert field in fields(r)


def test_advance_is_bounded_per_call(svc):
    for payload, field in (({"by_ns": 2**63 - 1}, "by_ns"), ({"by_ns": lim.MAX_ADVANCE_NS + 1}, "by_ns"),
                           ({"to_ns": START_NS + 10 * lim.MAX_ADVANCE_NS}, "to_ns")):  # fmt: skip
        r = svc.request("POST", f"{API}/clock/advance", json=payload)
        assert r.status_code == 422 and field in fields(r), r.text


def test_active_algos_are_capped_and_can_be_paused_resumed_cancelled(svc):
    made = []
    body = {"kind": "TWAP", "instrument": "MSFT", "side": "BUY", "quantity": 10, "slices": 2, "duration_ns": 10**12}
    for _ in range(lim.MAX_ACTIVE_ALGOS + 1):
        r = svc.request("POST", f"{API}/algos", json=body)
        if r.status_code != 201:
            break
        made.append(r.json()["algo_id"])
    assert r.status_code == 422 and "active algos" in r.text and len(made) <= lim.MAX_ACTIVE_ALGOS
    a = made[0]
    assert svc.request("POST", f"{API}/algos/{a}/pause").json()["state"] == "PAUSED"
    assert svc.request("POST", f"{API}/algos/{a}/pause").status_code == 409
    assert svc.request("POST", f"{API}/algos/{a}/resume").json()["state"] == "RUNNING"
    for algo_id in made:
        assert svc.request("DELETE", f"{API}/algos/{algo_id}").json()["state"] == "CANCELED"
    assert svc.request("DELETE", f"{API}/algos/{a}").status_code == 409
    assert svc.request("GET", f"{API}/algos/NOPE").status_code == 404
    assert svc.request("POST", f"{API}/algos", json=body).status_code == 201  # room again


def test_body_limit_is_a_json_413(svc):
    big = json.dumps(order(pad="x" * 200_000)).encode()
    r = svc.request("POST", f"{API}/orders", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and fields(r) == {"body"}


# --- accepted means durable, refused means nothing happened ----------------------------------------
class Faults:
    """Patch the PostgreSQL adapter and the Redis manager of one worker to fail at a chosen point."""

    KINDS = (None, "pg_refused", "pg_interface", "pg_timeout_after_commit", "redis_down", "pg_data")

    def __init__(self, svc: InProcess) -> None:
        coord = svc.c.store.coordinator
        self.pg, self.cache = coord.store, coord.cache

    @contextlib.contextmanager
    def active(self, kind: str | None):
        if kind is None:
            yield
            return
        targets = {"redis_down": (self.cache, ("set_record", "set_records"))}.get(
            kind, (self.pg, ("insert_order", "update_order", "update_orders", "insert_order_and_update")))
        obj, names = targets
        saved = {n: getattr(obj, n) for n in names}

        def wrap(real: Any) -> Any:
            async def failing(*a: Any, **kw: Any) -> Any:
                if kind == "pg_refused":
                    raise ConnectionRefusedError(111, "Connection refused")
                if kind == "pg_interface":
                    raise asyncpg.InterfaceError("connection is closed")
                if kind == "pg_data":
                    raise asyncpg.DataError("invalid byte sequence for encoding UTF8")
                if kind == "redis_down":
                    raise redis.exceptions.ConnectionError("Connection refused")
                await real(*a, **kw)  # pg_timeout_after_commit: the write happened, the answer never came
                raise TimeoutError("timed out waiting for the commit's answer")

            return failing

        for n, real in saved.items():
            setattr(obj, n, wrap(real))
        try:
            yield
        finally:
            for n in saved:
                delattr(obj, n)  # back to the class's method


def snapshot(svc: InProcess) -> dict[str, Any]:
    oms = svc.c.orders.oms
    pos = {p.instrument: (p.quantity, p.fills) for p in svc.c.orders.parts.pms.positions()}
    return {"orders": {o.client_order_id: (o.order_id, o.state.value, o.filled_qty) for o in oms.orders()},
            "positions": pos, "cash": svc.c.orders.parts.pms.cash}  # fmt: skip


bad_text = st.sampled_from(["a\x00b", "s\ud800", "", "x" * 80, "sp ace", "é"])
order_ops = st.fixed_dictionaries({
    "op": st.just("submit"),
    "fault": st.sampled_from(Faults.KINDS),
    "instrument": st.sampled_from(["AAPL", "MSFT", "ES", "ZZZ"]),
    "side": st.sampled_from(["BUY", "SELL", "buy"]),
    "quantity": st.one_of(st.integers(1, 50), st.sampled_from([0, -1, True, 2**64])),
    "price": st.one_of(st.none(), st.sampled_from(["100.00", "99.50", "1e3", " 1 ", "250.25", "0.001"])),
    "bad_cid": st.one_of(st.none(), bad_text),
})  # fmt: skip
cancel_ops = st.fixed_dictionaries({"op": st.just("cancel"), "fault": st.sampled_from(Faults.KINDS),
                                    "pick": st.integers(0, 1000)})  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(st.one_of(order_ops, cancel_ops), min_size=1, max_size=5))
def test_state_changes_if_and_only_if_the_answer_is_2xx(svc, ops):
    faults = Faults(svc)
    for op in ops:
        svc.settle()
        before, rows_before = snapshot(svc), svc.rows()
        if op["op"] == "submit":
            body = {"client_order_id": op["bad_cid"] if op["bad_cid"] is not None else cid("p"),
                    "instrument": op["instrument"], "side": op["side"], "quantity": op["quantity"]}  # fmt: skip
            if op["price"] is not None:
                body.update(order_type="LIMIT", limit_price=op["price"])
            with faults.active(op["fault"]):
                r = svc.request("POST", f"{API}/orders", content=json.dumps(body).encode(),  # \ud800 escaped
                                headers={"content-type": "application/json"})  # fmt: skip
        else:
            live = sorted(o.order_id for o in svc.c.orders.oms.orders() if not o.is_final)
            target = live[op["pick"] % len(live)] if live else "W0-O999999"
            with faults.active(op["fault"]):
                r = svc.request("DELETE", f"{API}/orders/{target}")
        svc.settle()
        after, rows_after = snapshot(svc), svc.rows()
        assert r.status_code in (200, 201, 404, 409, 422, 503), (op, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json")
        if r.status_code == 503:
            assert r.headers.get("retry-after") == "1"
        if op["fault"] == "redis_down" and r.status_code < 300:
            pass  # PostgreSQL is the record: a committed row with a failed cache write is accepted
        if r.status_code >= 300:
            # refused: nothing traded, nothing live anywhere
            assert after == before, (op, r.text)
            for c, (oid, state) in rows_after.items():
                if c not in rows_before:
                    assert state == "REJECTED", (op, c, state)  # only a compensated after-commit timeout
                elif c in after["orders"]:
                    assert state == after["orders"][c][1], (op, c, state)
            continue
        if op["op"] == "submit":
            o = r.json()
            assert after["orders"][o["client_order_id"]][0] == o["order_id"]
            assert set(after["orders"]) - set(before["orders"]) == {o["client_order_id"]}
        else:
            assert r.json()["state"] == "CANCELED"
        for c, (oid, state, filled) in after["orders"].items():  # database agrees with memory
            assert rows_after.get(c, (None, None))[1] == state, (op, c, state, rows_after.get(c))



# --- the follow-up state writes: coalesced, and retried until they land -----------------------------
def _post_all_accepted(svc, bodies: list[dict]) -> list[httpx.Response]:
    """POST every body at once; each must be accepted (201)."""

    async def burst() -> list[httpx.Response]:
        return await asyncio.gather(*(svc.client.post(f"{API}/orders", json=b) for b in bodies))

    answers = svc.run(burst())
    assert all(r.status_code == 201 for r in answers), [r.text for r in answers if r.status_code != 201][:3]
    return answers


def test_follow_up_state_writes_are_batched_and_reach_postgres(svc):
    writer = svc.c.orders.writer
    svc.settle()
    batches, written = writer.batches, writer.written
    bodies = [order(order_type="LIMIT", limit_price=p) for p in ("100.00", "99.50", "250.25", "0.01") * 10]

    answers = _post_all_accepted(svc, bodies)
    svc.settle()
    assert writer.written - written >= len(bodies)  # each order's state after routing was written...
    assert writer.batches - batches < len(bodies) // 2  # ...mostly carried by later inserts, not statements of its own
    rows = svc.rows()
    for o in svc.c.orders.oms.orders():
        assert rows[o.client_order_id] == (o.order_id, o.state.value)


def test_each_order_is_cached_once_with_its_state_after_routing(svc):
    """An order's row is committed before it is routed, but cached only when its state after routing is
    written (one cache write per order): once the follow-ups landed, every order is in Redis with the
    very row PostgreSQL holds, and never with the NEW state that preceded its routing."""
    bodies = [order(order_type="LIMIT", limit_price=p) for p in ("100.00", "99.50", "250.25", "0.01") * 5]

    answers = _post_all_accepted(svc, bodies)
    svc.settle()
    co = svc.c.store.coordinator
    for r in answers:
        report = svc.run(co.check_consistency(r.json()["order_id"]))
        assert report.in_store and report.in_cache and report.consistent, report
        assert svc.run(co.cache.get_record(f"order:{r.json()['order_id']}")).state != "NEW"


def test_a_failed_follow_up_write_is_retried_until_it_lands(svc):
    adapter = svc.c.store.coordinator.store
    calls = []
    down = [True]

    async def refused_once(*a: Any, **kw: Any) -> Any:  # TEST DOUBLE of PostgreSQL refusing while down
        calls.append(a)
        if down[0]:
            raise ConnectionRefusedError(111, "Connection refused")
        return await type(adapter).update_orders(adapter, *a, **kw)

    adapter.update_orders = refused_once
    try:
        r = svc.request("POST", f"{API}/orders", json=order(order_type="LIMIT", limit_price="0.01"))
        assert r.status_code == 201
        svc.settle()
        oid = r.json()["order_id"]
        state = svc.c.orders.oms.get(oid).state.value
        assert calls and svc.rows()[r.json()["client_order_id"]][1] != state  # not written yet
        down[0] = False
        n = len(calls)
        svc.run(asyncio.sleep(1.5))  # the retry comes after PERSIST_RETRY_S of real time
        svc.settle()
        assert len(calls) > n and svc.rows()[r.json()["client_order_id"]] == (oid, state)
    finally:
        del adapter.update_orders


# --- health ----------------------------------------------------------------------------------------
def test_health_is_503_when_not_ready_and_shows_no_address(svc):
    r = svc.request("GET", "/health")
    assert r.status_code == 200 and r.json()["ready"] is True
    adapter = svc.c.store.store
    real = adapter._pool

    class RefusingPool:  # TEST DOUBLE of PostgreSQL down (asyncpg's Pool attributes are read-only)
        async def fetchval(self, *a: Any, **kw: Any) -> Any:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    adapter._pool = RefusingPool()
    try:
        r = svc.request("GET", "/health")
    finally:
        adapter._pool = real
    assert r.status_code == 503 and r.json()["ready"] is False
    assert "127.0.0.1" not in r.text and "5432" not in r.text, r.text
    assert svc.request("GET", "/health").status_code == 200


# --- API: the order list ---------------------------------------------------------------------------
def test_order_list_filters_and_pages(svc):
    tag = cid("list")
    made = []
    for i in range(5):
        r = svc.request("POST", f"{API}/orders", json={"client_order_id": f"{tag}-{i}", "instrument": "BUND",
                                                      "side": "SELL", "quantity": 1, "order_type": "LIMIT",
                                                      "limit_price": "999999.00"})  # fmt: skip
        assert r.status_code == 201, r.text
        made.append(r.json()["order_id"])
        state = r.json()["state"]  # ACCEPTED (resting) once BUND has a market
    svc.settle()
    seen, after = [], None
    while True:
        params = {"instrument": "BUND", "side": "SELL", "state": state, "limit": 2, **({"after": after} if after else {})}
        page = svc.request("GET", f"{API}/orders", params=params).json()
        seen += [o["order_id"] for o in page["orders"]]
        assert all(o["instrument"] == "BUND" and o["state"] == state for o in page["orders"])
        after = page["next_after"]
        if after is None:
            break
    assert set(made) <= set(seen) and seen == sorted(seen)
    for bad in ({"limit": 0}, {"limit": 501}, {"state": "NOPE"}, {"instrument": "ZZZ"}, {"after": "a\x00"}):
        assert svc.request("GET", f"{API}/orders", params=bad).status_code == 422, bad
