"""Pure parts of the stack: the build map, the nginx config, the access-log timing."""

from __future__ import annotations

from pathlib import Path

import pytest

from baselines.load_balancing import load_balancer_timing as base_timing
from harness.builds import COMPONENTS, BuildMapError, build_map, label, to_args, validate_map
from harness.stack import nginx
from harness.stack.errors import StackError
from core.load_balancing import load_balancer_timing as lbt


def test_build_sets_every_component_and_component_overrides_one():
    m = build_map("baseline", ["oms=clocked"])
    assert m["oms"] == "clocked"
    assert all(m[c] == "baseline" for c in COMPONENTS if c != "oms")
    assert build_map(*_from_args(to_args(m))) == m
    assert label(build_map("clocked")) == "clocked"
    assert "oms=baseline" in label(build_map("clocked", ["oms=baseline"]))


def _from_args(args: list[str]) -> tuple[str, list[str]]:
    build = args[args.index("--build") + 1]
    comps = [args[i + 1] for i, a in enumerate(args) if a == "--component"]
    return build, comps


@pytest.mark.parametrize(
    "build, comps, words",
    [
        ("fast", [], ["--build", "fast"]),
        ("clocked", ["oms"], ["NAME=BUILD"]),
        ("clocked", ["nope=clocked"], ["unknown component", "nope"]),
        ("clocked", ["oms=quick"], ["unknown build", "quick"]),
        ("clocked", ["oms=baseline", "oms=clocked"], ["given twice"]),
        ("clocked", ["postgres=baseline"], ["coordinator=clocked", "postgres=baseline"]),
    ],
)
def test_bad_flags_name_the_problem(build, comps, words):
    with pytest.raises(BuildMapError) as info:
        build_map(build, comps)
    for w in words:
        assert w in str(info.value)


def test_validate_map_needs_every_component():
    with pytest.raises(BuildMapError, match="lacks"):
        validate_map({"oms": "clocked"})


def test_nginx_config_has_the_plans_settings_and_passes_nginx_t(tmp_path: Path):
    text = nginx.render_config(prefix=tmp_path / "nginx", host="127.0.0.1", port=18080,
                               workers=[nginx.Upstream("127.0.0.1", 18081), nginx.Upstream("127.0.0.1", 18082)])
    for needle in ("keepalive 32;", "keepalive_requests 1000;", "keepalive_timeout 75s;", "proxy_connect_timeout 5s;",
                   "proxy_send_timeout 10s;", "proxy_read_timeout 30s;", "client_max_body_size 10M;",
                   "proxy_set_header Upgrade $http_upgrade;", "$request_time", "$upstream_response_time",
                   "server 127.0.0.1:18081", "server 127.0.0.1:18082"):  # fmt: skip
        assert needle in text
    try:
        exe = nginx.find_nginx()
    except StackError as exc:
        pytest.skip(str(exc))
    nginx.write_config(tmp_path / "nginx", text)
    nginx.check_config(exe, tmp_path / "nginx")
    (tmp_path / "nginx" / "nginx.conf").write_text(text.replace("keepalive 32;", "keepalive thirty-two;"))
    with pytest.raises(StackError, match="nginx -t rejected"):
        nginx.check_config(exe, tmp_path / "nginx")


LOG = [
    '1700000000.123 201 POST "/api/v1/orders" rt=0.012 urt=0.008 uct=0.000 ua="127.0.0.1:1" bytes=10 conn=1 reqs=1',
    '1700000000.124 200 GET "/health" rt=0.005 urt=0.004 uct=0.000 ua="127.0.0.1:1" bytes=10 conn=1 reqs=2',
    '1700000000.125 502 GET "/x" rt=0.020 urt=0.003, 0.004 uct=0.000, 0.001 ua="a, b" bytes=10 conn=2 reqs=1',
    '1700000000.126 400 GET "/bad" rt=0.000 urt=- uct=- ua="-" bytes=10 conn=3 reqs=1',
    "garbage line",
]


def test_access_log_added_latency_is_exact_ns():
    entries, skipped = lbt.parse(LOG)
    assert skipped == 1 and len(entries) == 4
    assert entries[0].added_ns == 4_000_000
    assert entries[2].upstream_ns == 7_000_000 and entries[2].upstream_attempts == 2
    assert entries[3].added_ns is None
    dist = lbt.added_latency(entries)
    assert dist is not None and dist.count == 3 and dist.min_ns == 1_000_000 and dist.max_ns == 13_000_000
    assert lbt.added_latency(entries, "/api/v1/orders").p50_ns == 4_000_000
    with pytest.raises(lbt.LogFormatError, match="garbage"):
        lbt.parse(LOG, strict=True)


def test_baseline_timing_agrees_within_float_rounding():
    summary = base_timing.summarize(LOG)
    assert summary is not None and summary["count"] == 3
    assert abs(summary["max_ns"] - 13_000_000) < 10


def test_a_given_worker_port_that_is_taken_stops_the_start_before_anything_runs(tmp_path: Path, postgres_url: str,
                                                                                redis_url: str) -> None:
    """``worker_ports`` (chosen by a caller that names the workers before they are up, as the monitoring
    step does for Prometheus): a port already taken is a StackError naming it, and nothing is left running."""
    import socket

    from harness.stack import StackSpec, start

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(StackError, match=f"worker port 127.0.0.1:{port} is already in use"):
            start(StackSpec(build="baseline", workers=2, nginx=False, worker_ports=[port], postgres_url=postgres_url,
                            redis_url=redis_url, run_dir=tmp_path / "stack", write_pointer=False))
    assert not list((tmp_path / "stack").glob("worker-*.log"))  # no worker was spawned
