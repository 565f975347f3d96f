"""Each profile, a few seconds against the real stack (nginx, uvicorn workers, PostgreSQL, Redis):
the results parse and the counts add up (requests sent = answered + failed, and Locust's own
totals agree); the WebSocket profile receives quotes/heartbeats with their ages."""

from __future__ import annotations

import json
import shutil

import pytest

from harness.load.runner import LoadSpec, run
from tests.conftest import missing


@pytest.fixture(scope="module")
def stack_url():
    if shutil.which("nginx") is None and not __import__("os").path.exists("/usr/sbin/nginx"):
        missing("nginx", "not installed")
    try:
        from harness.stack import StackError, running
    except ImportError as exc:
        missing("the stack", f"harness.stack does not import: {exc}")
    try:
        cm = running(build="clocked", workers=2, nginx=True, service_args=["--heartbeat-ms", "300"])
        s = cm.__enter__()
    except StackError as exc:
        missing("the stack (nginx, PostgreSQL, Redis)", str(exc))
    try:
        yield s.url
    finally:
        cm.__exit__(None, None, None)


def check(s: dict, out) -> None:
    a = s["aggregate"]
    assert a["requests"] == a["answered"] + a["failed"], a
    assert a["unaccounted"] == 0
    assert sum(e["requests"] for e in s["endpoints"].values()) == a["requests"]
    assert s["locust"]["requests"] >= a["requests"]  # Locust also counts the warm-up and stream events
    assert (a["latency_ns"] or {"count": 0})["count"] == a["answered"]
    assert json.loads((out / "summary.json").read_text())["profile"] == s["profile"]
    assert (out / "summary.csv").exists() and (out / "hdr.json").exists()


@pytest.mark.parametrize("profile", ["orders", "gateway"])
def test_http_profiles(stack_url, tmp_path, profile) -> None:
    s = run(LoadSpec(profile=profile, users=4, spawn_rate=10, duration_s=4, think="0-50"), stack_url, tmp_path,
            progress=lambda _l: None)
    check(s, tmp_path)
    assert s["aggregate"]["answered"] > 0, s["errors"]
    assert s["locust"] == {"requests": s["aggregate"]["requests"], "failures": s["aggregate"]["failed"]}


def test_gateway_profile_in_a_session_writes_each_tests_own_classification(stack_url, tmp_path) -> None:
    """The gateway profile in one long-lived process (runner.Session), two tests: each writes its
    own gateway.json at its stop, counting that test's requests only (nothing carried over)."""
    from harness.load.runner import Session

    spec = LoadSpec(profile="gateway", users=3, spawn_rate=10, duration_s=3, extra_args=["--cb-budget-ms", "20-200"])
    with Session(spec, stack_url, tmp_path / "session") as sess:
        runs = [sess.run(spec, tmp_path / f"t{i}") for i in range(2)]
    for i, s in enumerate(runs):
        check(s, tmp_path / f"t{i}")
        g = json.loads((tmp_path / f"t{i}" / "gateway.json").read_text())
        assert g["total"] == s["aggregate"]["answered"] + s["aggregate"]["failed"] > 0, (g, s["aggregate"])
        assert sum(g["statuses"].values()) == g["total"]
        assert s["locust"] == {"requests": s["aggregate"]["requests"], "failures": s["aggregate"]["failed"]}


def test_orders_profile_has_no_failed_request(stack_url, tmp_path) -> None:
    s = run(LoadSpec(profile="orders", users=4, spawn_rate=10, duration_s=4, think="0-20"), stack_url, tmp_path,
            progress=lambda _l: None)
    check(s, tmp_path)
    assert s["aggregate"]["answered"] > 50
    assert s["aggregate"]["failed"] == 0, s["errors"]


def test_orders_open_mode(stack_url, tmp_path) -> None:
    s = run(LoadSpec(profile="orders", users=10, spawn_rate=20, duration_s=4, rate=20), stack_url, tmp_path,
            progress=lambda _l: None)
    check(s, tmp_path)
    a = s["aggregate"]
    assert a["latency_corrected_ns"]["p99"] >= a["latency_ns"]["p99"]


@pytest.mark.parametrize("profile", ["market_ws", "mixed"])
def test_stream_profiles(stack_url, tmp_path, profile) -> None:
    s = run(LoadSpec(profile=profile, users=3, spawn_rate=10, duration_s=5), stack_url, tmp_path,
            progress=lambda _l: None)
    check(s, tmp_path)
    streams = s["streams"]
    assert streams, "no quote or heartbeat arrived"
    got = sum(v["received"] for v in streams.values())
    assert got > 0
    for v in streams.values():
        assert v["age_ns"]["count"] == v["received"]
    # the peer's view of heartbeats (as clockbench run measures it): each promised one's lateness,
    # and no user disconnected (each acks its heartbeats, so the connection controller keeps it)
    assert streams.get("heartbeat lateness", {}).get("received", 0) > 0, sorted(streams)
    assert "WS disconnected" not in s["errors"], s["errors"]


@pytest.mark.parametrize("route", ["server-time", "orders"])
def test_wrk_against_the_stack(stack_url, tmp_path, route) -> None:
    """A one-second wrk run: figures parse, nothing fails (for orders: the stack answers 409 to a
    reused client_order_id, so zero failures means the Lua script's ids are unique)."""
    from harness.load import wrk
    from tests.conftest import require_tool

    require_tool("wrk")
    r = wrk.run(stack_url, route, tmp_path, duration_s=1, connections=2, run_id="t-" + tmp_path.name[-8:])
    assert r["source"] == "lua-summary"
    assert r["requests"] > 10 and r["failed"] == 0, r["errors"]
    assert 0 < r["latency_ns"]["p50"] <= r["latency_ns"]["p99"] <= r["latency_ns"]["max"]
    assert json.loads((tmp_path / f"wrk-{route}.json").read_text())["requests"] == r["requests"]
