"""The container family on a real Docker engine (a private dockerd started for the session): the
engine manager, the payload, both builds' checker and lifecycle, the supervisor's replacement.
Each test takes a few seconds; the seeded fault instants make the detection latencies per build
printed here reproducible in their schedule (their values are real time, so they vary)."""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

import pytest

from core.docker import ContainerSupervisor
from core.docker.adapters import EngineHealthProbe, HttpHealthProbe, SdkEngine, parse_health_event, pump_health_events
from core.docker.records import NS_PER_MS, NS_PER_S, detection
from harness.backends.docker_engine import (
    BUSYBOX_TAG,
    busybox_rootfs_tar,
    create_health_payload,
    ensure_busybox_image,
    start_engine,
)
from harness.measure.docker import make_checker, make_lifecycle
from harness.ports import free_port

BUILDS = ["clocked", "baseline"]


def checker_for(build: str, probe: object, **kw: object):
    return make_checker(build, probe, **kw)  # through harness.builds, the clocked one on a LiveClock


def lifecycle_for(build: str, engine: object, **kw: object):
    return make_lifecycle(build, engine, **kw)


def www(tmp_path: Path) -> Path:
    d = tmp_path / "www"
    d.mkdir()
    (d / "health").write_text("ok\n")
    return d


def wait_health(container, want: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        container.reload()
        if (container.attrs["State"].get("Health") or {}).get("Status") == want:
            return
        time.sleep(0.05)
    raise AssertionError(f"container never {want}: {container.attrs['State']}")


def test_engine_answers_and_the_image_is_imported_once(docker_engine, docker_client) -> None:
    assert docker_engine.version.startswith("20.") or docker_engine.version
    assert len(docker_engine.base_url) < 108 and docker_engine.socket_path.exists()
    first = ensure_busybox_image(docker_client)
    assert ensure_busybox_image(docker_client) == first
    out = docker_client.containers.run(BUSYBOX_TAG, ["sh", "-c", "echo hi; wget --help 2>&1 | head -1"],
                                       remove=True, network_mode="host")
    assert out.startswith(b"hi\n")


def test_a_second_engine_starts_beside_and_stops_by_its_pid(docker_engine) -> None:
    engine = start_engine()
    try:
        assert engine.socket_path != docker_engine.socket_path
        assert engine.client().version()["Version"] == docker_engine.version
        pid = engine.proc.pid
        assert int((engine.run_dir / "docker.pid").read_text()) == pid
    finally:
        engine.stop()
    engine.stop()  # idempotent
    assert engine.proc.returncode is not None and not engine.short_dir.exists()
    assert not os.path.exists(f"/proc/{pid}") or "dockerd" not in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")


def test_rootfs_tar_holds_busybox_and_its_applets() -> None:
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(busybox_rootfs_tar())) as tar:
        names = set(tar.getnames())
    assert {"bin/busybox", "bin/sh", "www/health", "tmp"} <= names
    assert any(n.endswith("/wget") for n in names) and any(n.endswith("/httpd") for n in names)


@pytest.mark.parametrize("build", BUILDS)
def test_checker_detects_a_killed_endpoint_at_seeded_instants(build, docker_engine, docker_client, tmp_path) -> None:
    port = free_port()
    folder = www(tmp_path)
    ctr = create_health_payload(docker_client, port, www_dir=folder, health_interval_ns=300 * NS_PER_MS)
    wait_health(ctr, "healthy")
    interval = 150 * NS_PER_MS
    rng = random.Random(15)
    plan = [(0.4 + rng.random() * 0.2, 0.8), (0.5 + rng.random() * 0.2, 0.8)]  # (healthy for, down for) s

    async def main():
        probe = HttpHealthProbe({ctr.id: port})
        checker = checker_for(build, probe, interval_ns=interval, timeout_ns=100 * NS_PER_MS)
        stop_events = pump_health_events(docker_client, checker.engine_event, asyncio.get_running_loop())
        checker.add(ctr.id)
        faults = []
        try:
            for up_s, down_s in plan:
                await asyncio.sleep(up_s)
                down = time.time_ns()
                (folder / "health").rename(folder / "gone")
                await asyncio.sleep(down_s)
                up = time.time_ns()
                (folder / "gone").rename(folder / "health")
                faults.append((down, up))
            await asyncio.sleep(0.4)
        finally:
            await checker.stop()
            await asyncio.to_thread(stop_events)
        return checker, faults

    checker, faults = asyncio.run(main())
    mine = [t for t in checker.transitions if t.via == "check"]
    assert mine[0].healthy and mine[-1].healthy
    det = detection(mine, faults, interval)
    assert det.missed == 0 and len(det.latencies_ns) == 2
    assert all(0 <= lat <= 800 * NS_PER_MS for lat in det.latencies_ns)  # inside the fault, whatever the load
    in_fault = [c for c in checker.checks if any(d <= c.start_ns and c.end_ns <= u for d, u in faults)]
    # a 404 is an answer: unhealthy; on a busy machine a check may also time out (not answered), also unhealthy
    assert in_fault and all(not c.healthy for c in in_fault), [c for c in in_fault if c.healthy]
    assert any(c.answered for c in in_fault), "no check answered during the faults"
    # on a busy machine a check may time out (not answered: unhealthy); nothing else is a false report
    outside = [t for t in mine if not t.healthy and not any(d <= t.at_ns <= u + interval for d, u in faults)]
    unanswered_ends = {c.end_ns for c in checker.checks if not c.answered}
    assert all(t.at_ns in unanswered_ends for t in outside)
    statuses = [e.status for e in checker.engine_events]
    assert "unhealthy" in statuses and "healthy" in statuses  # the engine's own events came in too
    print(f"{build}: detection latencies ms {[round(x / NS_PER_MS, 1) for x in det.latencies_ns]}")


@pytest.mark.parametrize("build", BUILDS)
def test_engine_probe_reads_container_reload_health(build, docker_engine, docker_client) -> None:
    port = free_port()
    ctr = create_health_payload(docker_client, port, health_interval_ns=200 * NS_PER_MS)
    wait_health(ctr, "healthy")

    async def main():
        checker = checker_for(build, EngineHealthProbe(docker_client), interval_ns=100 * NS_PER_MS,
                              timeout_ns=2 * NS_PER_S)
        checker.add(ctr.id)
        await asyncio.sleep(0.35)
        await checker.stop()
        return checker

    checker = asyncio.run(main())
    assert checker.checks and all(c.answered and c.healthy for c in checker.checks)
    assert parse_health_event({"Action": "health_status: unhealthy", "id": "x"}) == ("x", "unhealthy")
    assert parse_health_event({"Action": "start", "id": "x"}) is None


@pytest.mark.parametrize("build", BUILDS)
def test_lifecycle_on_the_engine(build, docker_engine, docker_client) -> None:
    polite = create_health_payload(docker_client, free_port(), health_interval_ns=200 * NS_PER_MS, start=False)
    stubborn = create_health_payload(docker_client, free_port(), graceful=False, health_interval_ns=200 * NS_PER_MS,
                                      start=False)
    engine = SdkEngine(docker_client)

    async def main():
        lc = lifecycle_for(build, engine, ready_timeout_ns=20 * NS_PER_S, ready_poll_ns=50 * NS_PER_MS,
                           stop_grace_ns=700 * NS_PER_MS, backoff_base_ns=100 * NS_PER_MS,
                           backoff_cap_ns=NS_PER_S, max_attempts=3)
        started = [await lc.start(polite.id), await lc.start(stubborn.id)]
        stopped = [await lc.stop(polite.id), await lc.stop(stubborn.id)]
        restarted = await lc.restart(polite.id)
        return started, stopped, restarted

    started, stopped, restarted = asyncio.run(main())
    assert all(s.ready for s in started)
    assert stopped[0].graceful and stopped[0].exited_ns - stopped[0].requested_ns < 700 * NS_PER_MS
    assert not stopped[1].graceful and stopped[1].exited_ns - stopped[1].requested_ns >= 700 * NS_PER_MS
    assert restarted.ok and restarted.attempts == 1
    polite.reload()
    assert polite.attrs["State"]["Health"]["Status"] == "healthy"
    print(f"{build}: start-to-healthy ms {[round((s.ready_ns - s.started_ns) / NS_PER_MS) for s in started]}")


@pytest.mark.parametrize("build", BUILDS)
def test_supervisor_replaces_a_container_whose_endpoint_died(build, docker_engine, docker_client) -> None:
    port = free_port()
    ctr = create_health_payload(docker_client, port, health_interval_ns=200 * NS_PER_MS)
    wait_health(ctr, "healthy")
    engine = SdkEngine(docker_client)

    async def main():
        checker = checker_for(build, HttpHealthProbe({ctr.id: port}), interval_ns=150 * NS_PER_MS,
                              timeout_ns=120 * NS_PER_MS, unhealthy_after=2)  # one slow answer is not a death
        lc = lifecycle_for(build, engine, ready_timeout_ns=20 * NS_PER_S, ready_poll_ns=50 * NS_PER_MS,
                           stop_grace_ns=NS_PER_S, backoff_base_ns=100 * NS_PER_MS, backoff_cap_ns=NS_PER_S)
        members: list[frozenset[str]] = []
        sup = ContainerSupervisor(checker, lc, on_members=members.append)
        checker.add(ctr.id)
        await asyncio.sleep(0.4)
        await asyncio.to_thread(ctr.exec_run, ["killall", "httpd"])  # the endpoint dies; the container exits
        deadline = time.monotonic() + 30
        while not sup.replacements and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        await sup.stop()
        return sup, members

    sup, members = asyncio.run(main())
    assert members[0] == frozenset({ctr.id}) and frozenset() in members and members[-1] == frozenset({ctr.id})
    assert len(sup.replacements) == 1 and sup.replacements[0].result and sup.replacements[0].result.ok
    r = sup.replacements[0].result
    print(f"{build}: unhealthy-to-healthy-again ms {round((r.ready_ns - sup.replacements[0].unhealthy_at_ns) / NS_PER_MS)}")
