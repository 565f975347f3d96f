"""wrk's report, captured from real runs against the stack (tests/loadtests/data/wrk_*.txt), parsed into
integer-ns figures, and the Lua script and command checks. The real wrk run against the stack (whose
409 on a duplicate client_order_id proves the script's ids unique) is in test_load_profiles.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.load import wrk

DATA = Path(__file__).resolve().parent / "data"


def test_duration_text_to_integer_ns() -> None:
    assert wrk.duration_ns("950.00us") == 950_000
    assert wrk.duration_ns("0.95ms") == 950_000
    assert wrk.duration_ns("724.42us") == 724_420
    assert wrk.duration_ns("22.07ms") == 22_070_000
    assert wrk.duration_ns("2.01s") == 2_010_000_000
    assert wrk.duration_ns("1.00m") == 60_000_000_000
    for bad in ("", "12", "3.1x", "ms"):
        with pytest.raises(wrk.WrkError, match="not a wrk duration"):
            wrk.duration_ns(bad)


def test_parse_text_only_report() -> None:
    """A plain ``wrk --latency`` report (no Lua summary): the text's two-decimal figures."""
    r = wrk.parse((DATA / "wrk_get_text_only.txt").read_text())
    assert r["source"] == "text"
    assert r["requests"] == 7508 and r["duration_ns"] == 2_000_000_000
    assert (r["threads"], r["connections"]) == (1, 4)
    assert r["latency_ns"] == {"mean": 1_150_000, "stdev": 850_000, "max": 10_890_000,
                               "p50": 950_000, "p75": 1_400_000, "p90": 2_020_000, "p99": 4_610_000}
    assert all(isinstance(v, int) for v in r["latency_ns"].values())
    assert r["failed"] == 0 and r["error_rate"] == 0.0
    assert r["throughput_rps"] == pytest.approx(7508 / 2.0)
    assert r["requests_per_s_reported"] == pytest.approx(3753.28)


def test_parse_prefers_the_lua_summary_and_agrees_with_the_text() -> None:
    out = (DATA / "wrk_post_orders.txt").read_text()
    r = wrk.parse(out)
    text = wrk.parse_text(out)
    assert r["source"] == "lua-summary"
    assert r["requests"] == 2459 == text["requests"]
    assert r["duration_ns"] == 2_002_043_000
    lat = r["latency_ns"]
    assert (lat["p50"], lat["p99"], lat["p999"], lat["min"], lat["max"]) == (2_810_000, 22_066_000, 44_105_000, 1_085_000, 47_365_000)
    assert lat["mean"] == 3_769_929
    # the text rounds to two decimals of its unit: the exact figures round to it
    for k in ("p50", "p75", "p90", "p99", "max", "mean"):
        assert abs(lat[k] - text["latency_ns"][k]) <= 5_000, k
    assert r["throughput_rps"] == pytest.approx(2459 / 2.002043)
    assert r["throughput_rps"] == pytest.approx(r["requests_per_s_reported"], rel=1e-3)


def test_parse_counts_non_2xx_as_failed() -> None:
    """Every POST but the first reused one client_order_id: 1922 of 1923 answered 409."""
    r = wrk.parse((DATA / "wrk_post_duplicates.txt").read_text())
    assert r["errors"]["status"] == 1922 and r["failed"] == 1922
    assert r["error_rate"] == pytest.approx(1922 / 1923)
    assert r["throughput_rps"] == pytest.approx(1.0)
    assert r["latency_ns"]["stdev"] == 724_420


def test_parse_rejects_what_is_not_a_report() -> None:
    with pytest.raises(wrk.WrkError, match="requests in"):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused\n")
    with pytest.raises(wrk.WrkError, match="not JSON"):
        wrk.parse((DATA / "wrk_get_text_only.txt").read_text() + "CBWRK {broken\n")


def test_lua_script_and_command_checks(tmp_path) -> None:
    s = wrk.lua_script("orders", "run-1")
    assert "request = function" in s and '"run-1"' in s and "done = function" in s
    assert "request = function" not in wrk.lua_script("server-time", "x")
    with pytest.raises(wrk.WrkError, match="unknown route"):
        wrk.lua_script("nope", "x")
    with pytest.raises(wrk.WrkError, match="run id"):
        wrk.lua_script("orders", 'a"b')
    with pytest.raises(wrk.WrkError, match="threads"):
        wrk.command("wrk", "http://127.0.0.1:1", "orders", tmp_path / "s.lua", duration_s=1, connections=1, threads=2)
    with pytest.raises(wrk.WrkError, match="loopback"):
        wrk.run("http://example.com", "orders", tmp_path, duration_s=1)
