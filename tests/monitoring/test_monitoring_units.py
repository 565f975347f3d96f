"""Pure parts of monitoring: accuracy arithmetic, timestamps in the exposition, config, payloads,
the Grafana API test double's contract checks, and the producer's records."""

from __future__ import annotations

import json
import random

import pytest

from core.monitoring import accuracy
from core.monitoring.accuracy import StoredSample
from core.monitoring.apis import MonitoringAPIError, rfc3339_to_ns
from core.monitoring.dashboards import annotation_payload, dashboard, save_payload
from core.monitoring.figures import Figure, exposition_timestamp, families
from core.monitoring.promconfig import config_text, duration, scrape_job
from core.monitoring.schedule import next_at_phase, shared_schedule
from harness.backends.grafana_double import GrafanaDouble
from harness.measure.monitoring import make_records, stored_samples

MS = 1_000_000
S = 1_000_000_000


def test_exposition_timestamp_keeps_the_exact_millisecond() -> None:
    rng = random.Random(3)
    for _ in range(20_000):
        ns = rng.randrange(1_600_000_000 * S, 2_000_000_000 * S)
        assert int(float(exposition_timestamp(ns)) * 1000) == ns // MS  # what prometheus_client writes


def test_families_stamp_every_sample_and_reject_unknown_kinds() -> None:
    figs = [Figure("a", "h", (("k", "1"),), 1.0), Figure("a", "h", (("k", "2"),), 2.0),
            Figure("b_total", "h", (), 3.0, "counter")]
    fams = families(figs, 5 * S + 7 * MS + 3)
    assert [f.name for f in fams] == ["a", "b"]
    assert {int(float(s.timestamp) * 1000) for f in fams for s in f.samples} == {5007}
    assert all(s.timestamp is None for f in families(figs) for s in f.samples)
    with pytest.raises(ValueError, match="kind"):
        families([Figure("c", "h", (), 1.0, "histogram")])


def test_timestamp_errors_count_missing_collections_as_a_whole_interval() -> None:
    samples = [StoredSample(10 * S, 10 * S + 2 * MS), StoredSample(11 * S, 11 * S - 30 * MS)]
    assert accuracy.timestamp_errors_with_missing(samples, S, expected=3) == [2 * MS, 30 * MS, S]
    assert accuracy.share_within([2 * MS, 30 * MS, S], 10 * MS) == pytest.approx(1 / 3)
    assert accuracy.share_within([], 10_000) == 0.0


def test_interval_deviation_uses_the_read_instants() -> None:
    samples = [StoredSample(2 * S, 2 * S + 5 * MS), StoredSample(1 * S, 1 * S), StoredSample(3 * S, 2 * S + 5 * MS)]
    assert accuracy.interval_deviations_ns(samples, S) == [5 * MS, S]  # a value served twice: a whole interval off


def test_stored_samples_parse_prometheus_matrix_values() -> None:
    result = [{"metric": {}, "values": [[1795993801.123, "1795993801.0995"], [1795993800.1, "1795993800.05"]]}]
    got = stored_samples(result)
    assert got[0].stored_ns == 1795993800100 * MS and got[1].stored_ns == 1795993801123 * MS
    assert abs(got[1].taken_ns - 1795993801099500000) < 1000


def test_rfc3339_nanoseconds_without_float_rounding() -> None:
    assert rfc3339_to_ns("2026-11-29T23:10:01.123456789Z") % S == 123456789
    assert rfc3339_to_ns("2026-11-29T23:10:01.5+01:00") == rfc3339_to_ns("2026-11-29T22:10:01.5Z")
    with pytest.raises(MonitoringAPIError):
        rfc3339_to_ns("yesterday")


def test_prometheus_config_is_json_yaml_with_explicit_timestamps_kept() -> None:
    cfg = json.loads(config_text([scrape_job("j", ["127.0.0.1:1"], S)], S))
    assert cfg["global"]["scrape_interval"] == "1000ms" and cfg["scrape_configs"][0]["honor_timestamps"] is True
    with pytest.raises(ValueError):
        duration(10)


def test_schedule_arithmetic() -> None:
    assert next_at_phase(10 * S + 5, S, 0) == 11 * S and next_at_phase(10 * S, S, 0) == 11 * S
    assert next_at_phase(10 * S, S, -100 * MS) == 10 * S + 900 * MS
    assert shared_schedule(S, 50 * MS, 100 * MS, 100 * MS)[1:] == (950 * MS, 50 * MS, 150 * MS)
    with pytest.raises(ValueError):
        shared_schedule(S, 0, S, 0)


def test_payloads_follow_grafanas_api() -> None:
    model = dashboard()
    body = save_payload(model, "m", folder_uid="f")
    assert body["overwrite"] is True and body["folderUid"] == "f" and body["dashboard"]["id"] is None
    ann = annotation_payload(model["uid"], 12_345_678_901, "t", ["x"])
    assert ann == {"dashboardUID": model["uid"], "time": 12_345, "tags": ["x"], "text": "t"}


def test_grafana_double_checks_the_contract_without_a_socket_call() -> None:
    with GrafanaDouble(token="k") as g:
        ok = {"authorization": "Bearer k"}
        assert g.handle("/api/annotations", {}, b"{}", 1)[0] == 401
        assert g.handle("/api/dashboards/db", ok, b"[1]", 1)[0] == 400
        status, answer = g.handle("/api/dashboards/db", ok, json.dumps(save_payload(dashboard(), "m")).encode(), 1)
        assert status == 200 and answer["version"] == 1
        no_over = dict(save_payload(dashboard(), "m"), overwrite=False)
        assert g.handle("/api/dashboards/db", ok, json.dumps(no_over).encode(), 2)[0] == 412
        assert g.handle("/api/annotations", ok, json.dumps({"time": 1.5, "text": "x"}).encode(), 3)[0] == 400
        assert g.handle("/api/annotations", ok, json.dumps({"time": 1, "text": "x", "dashboardUID": "nope"}).encode(), 3)[0] == 404
        assert g.handle("/api/annotations", ok, json.dumps({"time": 1, "text": "x"}).encode(), 3) == (
            200, {"message": "Annotation added", "id": 1})
        assert g.handle("/api/other", ok, b"{}", 4)[0] == 404


def test_a_build_with_no_values_gets_invalid_records_with_the_reason() -> None:
    full = {b: [1, 2] for b in ("clocked", "baseline", "aa")}
    empty = dict(full, aa=[])
    recs = make_records(full, full, empty, {"load": "x"})
    bad = [r for r in recs if not r.valid]
    assert [(r.metric, r.build) for r in bad] == [("sim.monitoring.dashboard_staleness", "aa")]
    assert "no value measured" in bad[0].reason and len(recs) == 9


def test_loaded_window_follows_locusts_history_not_its_launch(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from harness.measure.monitoring import loaded_window

    rows = ["Timestamp,User Count,Type,Name,Requests/s", "100,0,,Aggregated,0", "106,10,,Aggregated,5",
            "106,10,POST,POST /x,5", "107,10,,Aggregated,9", "118,10,,Aggregated,9", "119,0,,Aggregated,0"]
    (tmp_path / "locust_stats_history.csv").write_text("\n".join(rows) + "\n")
    summary = {"started_ns": 100 * S, "ended_ns": 121 * S, "spec": {"duration_s": 14.0}}
    # Locust took 6 s to start: the window begins 2.5 s after its first loaded second, ends at its last
    assert loaded_window(tmp_path, summary, 2.0) == (108 * S + 500 * MS, 118 * S)
    # no history: the launch-based window (warm-up + 1.5 s after launch, until duration + 1 s)
    assert loaded_window(tmp_path / "none", summary, 2.0) == (103 * S + 500 * MS, 115 * S)
    # a Locust session's test: launched when its process answered the swarm request
    session = dict(summary, session={"pid": 1, "swarmed_ns": 101 * S})
    assert loaded_window(tmp_path / "none", session, 2.0) == (104 * S + 500 * MS, 116 * S)


def test_a_build_without_values_is_an_invalid_record_saying_why() -> None:
    recs = make_records({"clocked": [1], "baseline": [], "aa": [2]}, {"clocked": [1], "baseline": [1], "aa": [1]},
                        {"clocked": [], "baseline": [3], "aa": [3]}, {"source": "monitoring/monitoring.json"})
    bad = {(r.metric, r.build) for r in recs if not r.valid}
    assert bad == {("sim.monitoring.timestamp_error", "baseline"), ("sim.monitoring.dashboard_staleness", "clocked")}
    assert all("no value measured" in r.reason for r in recs if not r.valid)


def test_the_run_producer_passes_no_nginx_through(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``clockbench run --no-nginx`` (or no nginx installed) reaches the monitoring producer."""
    from harness.measure import Context
    from harness.measure import monitoring as mon

    seen = {}
    monkeypatch.setattr(mon, "produce", lambda out, quick, log, nginx=True: seen.update(nginx=nginx, quick=quick) or [])
    for nginx in (True, False):
        ctx = Context(tmp_path, True, "2", {"sim.monitoring.timestamp_error"}, log=lambda s: None, nginx=nginx)
        assert mon.produce_monitoring(ctx) == [] and seen == {"nginx": nginx, "quick": True}
        assert ("behind nginx" if nginx else "no nginx") in ctx.build_flags["monitoring"]


def test_round_adding_stops_at_the_statistics_of_the_criteria() -> None:
    """The producer adds rounds while a build has fewer values than its criteria's statistics need:
    NEEDS must name each criterion's statistic, and too_few must name exactly the short builds."""
    from harness.measure.monitoring import BUILDS, NEEDS, too_few
    from harness.report import criteria as crit
    from harness.stats import min_samples

    for c in crit.load():
        for m in c.metrics:
            if m.startswith("sim.monitoring."):
                assert min_samples(NEEDS[m.removeprefix("sim.monitoring.")]) >= min_samples(c.statistic), c.id
    enough = {metric: {b: [0] * min_samples(stat) for b in BUILDS} for metric, stat in NEEDS.items()}
    assert too_few(enough) == []
    enough["collection_interval_jitter"]["aa"].pop()
    short = too_few(enough)
    assert len(short) == 1 and short[0].startswith("collection_interval_jitter aa:")


def test_common_window_is_the_span_every_arm_was_loaded() -> None:
    """The three arms are loaded at once and judged over the same seconds: the overlap of their own
    loaded windows, empty (end == start) when they do not overlap."""
    from harness.measure.monitoring import common_window

    assert common_window([[10, 50], [12, 48], [11, 60]]) == (12, 48)
    assert common_window([[10, 20], [30, 40]]) == (30, 30)
    assert common_window([[5, 9]]) == (5, 9)


def test_an_added_round_runs_as_long_as_the_missing_values_need_at_the_rate_so_far() -> None:
    """Rounds added for missing values: 1.5 x the time the shortest build needs at its rate so far, plus
    the warm-up and window start (3.5 s quick), whole seconds, between 10 s and a whole round."""
    from harness.measure.monitoring import BUILDS, NEEDS, SETTINGS, topup_duration_s
    from harness.stats import min_samples

    quick = SETTINGS[True]
    enough = {metric: {b: [0] * min_samples(stat) for b in BUILDS} for metric, stat in NEEDS.items()}
    assert topup_duration_s(enough, 21.5, quick) == 0.0  # nothing short: no round
    # 24 of 30 updates in 21.5 s: 6 more at 24/21.5 per s take 5.4 s; x 1.5 = 8.1 s + 2 + 1.5 - 1 -> 11 s
    short = dict(enough, dashboard_staleness=dict(enough["dashboard_staleness"], baseline=[0] * 24))
    assert topup_duration_s(short, 21.5, quick) == 11.0
    # the slowest short build decides
    shorter = dict(short, timestamp_error=dict(enough["timestamp_error"], aa=[0] * 40))
    assert topup_duration_s(shorter, 21.5, quick) == 11.0  # 10 more at 40/21.5: 5.4 s, the same
    shorter["timestamp_error"]["aa"] = [0] * 20  # 30 more at 20/21.5: 32 s -> a whole round
    assert topup_duration_s(shorter, 21.5, quick) == quick["duration_s"]
    # one value short: at least 10 s; none at all: a whole round
    one = dict(enough, collection_interval_jitter=dict(enough["collection_interval_jitter"], clocked=[0] * 49))
    assert topup_duration_s(one, 21.5, quick) == 10.0
    none = dict(enough, dashboard_staleness=dict(enough["dashboard_staleness"], aa=[]))
    assert topup_duration_s(none, 21.5, quick) == quick["duration_s"]


def _window(r: int, arm: str, rps: float, valid: bool = True) -> dict:
    return {"round": r, "arm": arm, "throughput_rps": rps, "load_valid": valid, "duration_s": 24.0,
            "load_invalid_reasons": [] if valid else ["load generator saturated"]}


def test_mixed_throughput_is_paired_by_planned_round_and_drops_rounds_invalid_in_any_arm() -> None:
    from harness.measure.monitoring import BUILDS, throughput_records

    rates = {"clocked": (101.4, 98.6, 99.5, 80.0), "baseline": (90.2, 91.0, 89.0, 70.0), "aa": (90.0, 92.0, 88.0, 71.0)}
    windows = [_window(r, arm, rates[arm][r], valid=not (r == 1 and arm == "aa")) for r in range(4) for arm in BUILDS]
    recs = {r.build: r for r in throughput_records(windows, 3, "monitoring/monitoring.json")}
    assert set(recs) == set(BUILDS) and all(r.metric == "load.mixed.throughput" and r.valid for r in recs.values())
    # round 1 invalid in aa: left out of every build; round 3 was added for monitoring values: not counted
    assert recs["clocked"].values == [101, 100] and recs["baseline"].values == [90, 89] and recs["aa"].values == [90, 88]
    assert recs["clocked"].kind == "rounds" and recs["clocked"].lower_is_better is False
    assert recs["clocked"].extra["used_rounds"] == [0, 2] and recs["clocked"].extra["dropped_rounds"] == [1]
    bad = throughput_records([_window(0, arm, 50.0, valid=arm != "clocked") for arm in BUILDS], 1, "x")
    assert all(not r.valid and "no round valid in every arm" in r.reason and "saturated" in r.reason for r in bad)


def test_distinct_free_ports_are_distinct() -> None:
    from harness.measure.monitoring import distinct_free_ports

    ports = distinct_free_ports(15)
    assert len(set(ports)) == 15 and all(0 < p < 65536 for p in ports)
