"""The arithmetic that splits a clock-sync error into the proxy's part and the machine's part
(pure: hand-made exchanges with known delays), and the report's clock-sync table built from it."""

from __future__ import annotations

import json
from pathlib import Path

from harness.measure import frontend as fe
from harness.measure.delay_proxy import Chunk
from harness.report.render import frontend_sync_html

MS = 1_000_000
ORIGIN_MS = 1_796_000_000_000.0  # the page's performance.timeOrigin, ms since the epoch


def exchange(n: int, sent_ms: float, up_ms: float, down_ms: float, proxy_up_ms: float, proxy_down_ms: float,
             conn: int) -> tuple[dict, dict, list[Chunk]]:
    """One exchange: the browser sends at sent_ms (page timeline), the server stamps t1 = t2 after up_ms."""
    name = f"http://127.0.0.1:9/api/v1/clock/sync?n={n}"
    sent_ns = int((ORIGIN_MS + sent_ms) * MS)
    t1 = sent_ns + int(up_ms * MS)
    back_ms = sent_ms + up_ms + down_ms
    wire = {"name": name, "requestStart": sent_ms, "responseStart": back_ms}
    reply = {"name": name, "t1": t1, "t2": t1}
    at_proxy = sent_ns + MS // 10  # 0.1 ms from the browser to the proxy
    chunks = [Chunk("up", conn, at_proxy, at_proxy + int(proxy_up_ms * MS), 200, f"POST /api/v1/clock/sync?n={n} HTTP/1.1".encode()),
              Chunk("down", conn, t1 + MS // 10, t1 + MS // 10 + int(proxy_down_ms * MS), 150, b"HTTP/1.1 200 OK")]
    return wire, reply, chunks


def test_each_exchange_is_split_into_the_proxys_part_and_the_rest() -> None:
    # (up, down) on the true timeline and what the proxy held each leg.
    spec = [(1, 50.0, 14.0, 12.0, 11.0, 10.5), (2, 100.0, 11.5, 11.0, 10.8, 10.6), (3, 200.0, 20.0, 11.0, 12.0, 10.2)]
    data = {"origin": ORIGIN_MS, "syncWire": [], "syncReplies": [], "samples": [], "sampleRtt": []}
    chunks: list[Chunk] = []
    for n, sent, up, down, pu, pd in spec:
        w, r, cs = exchange(n, sent, up, down, pu, pd, conn=n)
        data["syncWire"].append(w)
        data["syncReplies"].append(r)
        chunks += cs
    paths = {p.name.rsplit("=", 1)[1]: p for p in fe.exchange_paths(data, chunks)}
    assert set(paths) == {"1", "2", "3"}
    p2 = paths["2"]
    assert abs(p2.up - 11.5 * MS) < 1_000 and abs(p2.down - 11.0 * MS) < 1_000
    assert abs(p2.error - 0.25 * MS) < 1_000  # (11.5 - 11.0) / 2
    assert abs(p2.proxy_error - 0.1 * MS) < 1_000  # (10.8 - 10.6) / 2
    # Outside the proxy, by side: the browser's 0.1 ms to the proxy, the rest of the request leg in
    # the service (11.5 - 0.1 - 10.8), the reply's 0.1 ms to the proxy, the rest in the browser.
    for got, want in ((p2.browser_out, 0.1), (p2.server_in, 0.6), (p2.server_out, 0.1), (p2.browser_in, 0.3)):
        assert got is not None and abs(got - want * MS) < 1_000, (got, want)
    s = fe.path_summary(list(paths.values()))
    assert s["n"] == 3 and abs(s["min_rtt_ms"] - 22.5) < 1e-3 and abs(s["min_rtt_error_ms"] - 0.25) < 1e-3
    # Error samples taken while the estimate came from exchange 2 (named by its round trip), 0.05 ms
    # further off than the exchange itself (drift since): machine part 0.15 ms, proxy part 0.1 ms.
    data["samples"] = [0.30 * MS] * 5
    data["sampleRtt"] = [p2.rtt] * 5
    bd = fe.error_breakdown(data, list(paths.values()))
    assert bd["n"] == 5
    assert abs(bd["proxy_part_ms"] - 0.10) < 1e-3
    assert abs(bd["machine_part_ms"] - 0.15) < 1e-3
    assert abs(bd["rest_ms"] - 0.05) < 1e-3
    assert abs(bd["error_without_machine_ms"] - 0.15) < 1e-3
    # A sample whose round trip names no exchange is left out rather than matched to a wrong one.
    data["samples"].append(9.0 * MS)
    data["sampleRtt"].append(99.0 * MS)
    assert fe.error_breakdown(data, list(paths.values()))["n"] == 5


def test_the_plan_hooks_error_is_its_request_leg() -> None:
    data = {"planLegs": [{"called": 1_000 * MS, "server": 1_012 * MS}, {"called": 2_000 * MS, "server": None}]}
    assert fe.plan_legs(data) == [12 * MS]


def test_report_shows_each_page_builds_signed_error_and_where_it_comes_from(tmp_path: Path) -> None:
    err = {"n": 200, "median_ms": -0.4, "abs_p99_ms": 0.9, "abs_max_ms": 1.2, "share_within_1ms": 0.99}
    summary = {
        "paths": {"symmetric": {"nominal_ms": [10, 10, 2]}},
        "sync": {"symmetric": {
            "clocked": {"sync_error": err, "exchanges": {"breakdown": {"n": 200, "proxy_part_ms": 0.1, "machine_part_ms": -0.45,
                                                                       "rest_ms": -0.05}}},  # fmt: skip
            "plan": {"sync_error": {**err, "median_ms": 18.5}, "request_legs_ms": [18.0, 19.0, 30.0]},
            "baseline": {"sync_error": {**err, "median_ms": 4999.5}}}},
        "asymmetry_note": "no four-timestamp method can beat half the asymmetry <because>",
    }
    (tmp_path / "frontend").mkdir()
    (tmp_path / "frontend" / "frontend.json").write_text(json.dumps(summary))
    html = frontend_sync_html(tmp_path)
    assert "-0.400 ms" in html and "+18.500 ms" in html and "+4.9995 s" in html
    assert "this machine outside the proxy -0.450 ms" in html
    assert "median 19.0 ms" in html
    assert "&lt;because&gt;" in html  # escaped, not markup
    assert frontend_sync_html(tmp_path / "nothing-here") == ""


def test_stamp_errors_take_the_truth_at_fetch_and_only_acknowledged_orders() -> None:
    """The stamp is judged against the truth read at its fetch() call (same synchronous handler);
    the click's start is only the page's lag before it; a refused order is not an order placed."""
    stamps = [
        {"id": "a", "client": 1_000 * MS + 300_000, "truth": 1_000 * MS, "clickTruth": 960 * MS, "submitTruth": 990 * MS, "status": 201},
        {"id": "b", "client": 2_000 * MS - 200_000, "truth": 2_000 * MS, "clickTruth": 1_999 * MS, "submitTruth": None, "status": 200},
        {"id": "c", "client": 3_000 * MS, "truth": 3_000 * MS + 5 * MS, "clickTruth": 2_999 * MS, "status": 422},
    ]
    data = {"stamps": stamps}
    assert fe.stamp_errors(data) == [300_000, -200_000]
    lags = fe.stamp_lags(data)
    assert lags["click_to_stamp"]["n"] == 3 and lags["click_to_stamp"]["max_ms"] == 40.0
    assert lags["click_to_submit_event"] == {"n": 1, "p50_ms": 30.0, "p99_ms": 30.0, "max_ms": 30.0}
    # The true time read by the stamp hook, right after the stamp, is preferred where it was seen.
    hooked = [{**stamps[0], "stampTruth": 1_000 * MS + 100_000}, stamps[1]]
    assert fe.stamp_errors({"stamps": hooked}) == [200_000, -200_000]
    # Without the page's answer recorded (older instruments), every stamp counts.
    assert len(fe.stamp_errors({"stamps": [{**s, "status": None} for s in stamps]})) == 3


def test_readings_count_as_the_estimates_they_came_from():
    """A new estimate starts where the exchange's round trip changes; readings after the window
    (the order phase) are not counted; no round trips known: every reading its own unit."""
    rtts = [None, None, 22.6, 22.6, 22.6, 23.1, 23.1, 22.6, 24.0, 24.0]
    assert fe.estimates_read(rtts, 10) == 5
    assert fe.estimates_read(rtts, 5) == 2
    assert fe.estimates_read([], 7) == 7
    assert fe.estimates_read([22.6] * 100, 100) == 1
