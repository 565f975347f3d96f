"""Measurements of the container family on a real Docker engine, for ``clockbench run``.

What is measured, per build (clocked: targets.docker on a LiveClock; baseline: baselines.docker):

- ``sim.containers.checks_on_time`` (PM-/SC2-CONTAINER-RELIABILITY): payload containers (busybox
  httpd on the host network, started on a private engine) are checked every ``interval`` by the
  build's checker with the HTTP probe (the checker asks each container's /health itself). Every
  slot of each container's nominal schedule (origin + k*interval) is one value: 1,000,000 ppm when
  a check started within 10 % of the interval of it and was answered, else 0. The soaks alternate
  builds; every other soak runs with CPU burners (busy-looping processes, one per core: a busy
  machine, not the stack under load).
- ``sim.containers.detect_latency`` (EI-DOCKER-HEALTH): each container's endpoint is killed (its
  health file removed from the host folder it serves) at seeded instants and revived later; one
  value per fault: the time from the kill to the checker's unhealthy report.
- ``sim.containers.out_of_rotation`` / ``restart_to_healthy``: every payload's endpoint process killed
  at once under the build's checker + lifecycle + supervisor: kill -> out of the members (no more
  traffic), and unhealthy report -> restarted and healthy again.
- also: false unhealthy reports, faults missed, the engine's own detection (its health events),
  start-to-healthy time of the payloads, and the checker's CPU per container per check at 10, 100
  and 1,000 containers (``checker_cpu``; see that function for how 1,000 are modelled).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from core.docker.records import NS_PER_MS, NS_PER_S, detection, on_time, seeded_faults
from harness.results import MetricRecord, invalid

Log = Callable[[str], None]
BUILDS = ("clocked", "baseline")
SOURCE = "measure.docker"
METRICS = ("sim.containers.checks_on_time", "sim.containers.detect_latency")


def make_checker(build: str, probe: Any, **kw: Any) -> Any:
    """The build's health checker through the switchboard (the clocked one on a LiveClock)."""
    from harness.builds import make

    return make("containers", build, clock=_live() if build == "clocked" else None, probe=probe, **kw)


def make_lifecycle(build: str, engine: Any, **kw: Any) -> Any:
    from harness.builds import make

    return make("container_lifecycle", build, clock=_live() if build == "clocked" else None, engine=engine, **kw)


def _live() -> Any:
    from targets.clock import LiveClock

    return LiveClock()


def _burners(n: int) -> list[subprocess.Popen]:
    code = "while True: pass"
    return [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL) for _ in range(n)]


def _stop_all(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait(timeout=10)


# --- one soak -----------------------------------------------------------------------------------

def soak(build: str, client: Any, ports: dict[str, int], folders: dict[str, Path], *, interval_ns: int,
         timeout_ns: int, duration_ns: int, seed: int, faults_per_container: int, down_ns: int) -> dict:
    """One build's checker over every payload for ``duration_ns`` of real time, with seeded faults."""
    from core.docker.adapters import HttpHealthProbe, pump_health_events

    rng = random.Random(seed)

    async def main() -> dict:
        probe = HttpHealthProbe(ports)
        checker = make_checker(build, probe, interval_ns=interval_ns, timeout_ns=timeout_ns)
        loop = asyncio.get_running_loop()
        stop_events = pump_health_events(client, checker.engine_event, loop)
        start = time.time_ns()
        ids = sorted(ports)
        for i, cid in enumerate(ids):
            checker.add(cid, offset_ns=(i * interval_ns) // len(ids))
        plan = {cid: seeded_faults(rng.randrange(1 << 30), start + 2 * interval_ns,
                                   start + duration_ns - 2 * interval_ns, down_ns, faults_per_container)
                for cid in ids}
        faults: dict[str, list[tuple[int, int]]] = {cid: [] for cid in ids}

        def kill(cid: str) -> None:
            (folders[cid] / "health").rename(folders[cid] / "gone")
            faults[cid].append((time.time_ns(), 0))

        def revive(cid: str) -> None:
            (folders[cid] / "gone").rename(folders[cid] / "health")
            down, _ = faults[cid][-1]
            faults[cid][-1] = (down, time.time_ns())

        base = loop.time()
        for cid, fs in plan.items():
            for down, up in fs:
                loop.call_at(base + (down - start) / NS_PER_S, kill, cid)
                loop.call_at(base + (up - start) / NS_PER_S, revive, cid)
        await asyncio.sleep(duration_ns / NS_PER_S)
        end = time.time_ns()
        await checker.stop()
        await asyncio.to_thread(stop_events)
        return {"checker": checker, "faults": faults, "start": start, "end": end, "ids": ids}

    r = asyncio.run(main())
    checker, faults = r["checker"], r["faults"]
    slots: list[int] = []
    gaps: list[int] = []
    late: list[int] = []
    lat: list[int] = []
    engine_lat: list[int] = []
    false_unhealthy = missed = 0
    window_end = r["end"] - interval_ns  # a slot in the last interval may still have its check in flight
    for cid in r["ids"]:
        mine = [c for c in checker.checks if c.container == cid]
        ot = on_time(mine, checker.origins[cid], interval_ns, window_end)
        hit = ot.on_time
        slots += [1_000_000] * hit + [0] * (ot.scheduled - hit)
        starts = sorted(c.start_ns for c in mine)
        gaps += [1_000_000 if abs(b - a - interval_ns) <= interval_ns // 10 else 0 for a, b in zip(starts, starts[1:])]
        late += ot.late_ns
        done = [f for f in faults[cid] if f[1]]
        det = detection([t for t in checker.transitions if t.container == cid and t.via == "check"], done,
                        interval_ns + timeout_ns)
        lat += det.latencies_ns
        false_unhealthy += det.false_unhealthy
        missed += det.missed
        eng = detection([t for t in checker.transitions if t.container == cid and t.via == "engine"], done,
                        2 * NS_PER_S)
        engine_lat += eng.latencies_ns
    return {"slots": slots, "gaps": gaps, "late_ns": late, "latencies": lat, "engine_latencies": engine_lat,
            "false_unhealthy": false_unhealthy, "missed": missed, "checks": len(checker.checks),
            "skipped": getattr(checker, "skipped", 0), "unanswered": sum(not c.answered for c in checker.checks)}


# --- checker CPU ----------------------------------------------------------------------------------

class NullProbe:
    """A check that answers healthy at once: the CPU measured is the checker's own (scheduling,
    timeouts, records), not the probe's I/O."""

    async def check(self, container_id: str) -> bool:
        return True


def checker_cpu(build: str, n: int, *, interval_ns: int = NS_PER_S // 2, duration_ns: int = 2 * NS_PER_S,
                probe: Any = None) -> dict:
    """CPU of this process per check with ``n`` checked containers (checks staggered over the
    interval), over ``duration_ns`` of steady state (after the set-up and a first interval).

    1,000 containers are modelled as 1,000 check schedules: with the NullProbe nothing is sent (the
    checker's own cost); with an HttpHealthProbe whose map points many ids at a few real containers'
    ports, each id's checks are real HTTP requests to one of those endpoints.
    """
    probe = probe or NullProbe()

    async def main() -> dict:
        checker = make_checker(build, probe, interval_ns=interval_ns, timeout_ns=interval_ns // 2)
        for i in range(n):
            checker.add(f"c{i:05d}", offset_ns=(i * interval_ns) // n)
        await asyncio.sleep(interval_ns / NS_PER_S)  # set-up done and the first round under way
        n0 = len(checker.checks)
        cpu0, wall0 = time.process_time_ns(), time.perf_counter_ns()
        await asyncio.sleep(duration_ns / NS_PER_S)
        cpu, wall = time.process_time_ns() - cpu0, time.perf_counter_ns() - wall0
        window = checker.checks[n0:]  # a copy: checks ending after the window are not counted
        checks = len(window)
        await checker.stop()
        return {"containers": n, "checks": checks, "cpu_ns": cpu, "wall_ns": wall,
                "interval_ns": interval_ns, "cpu_per_check_ns": cpu // checks if checks else None,
                "answered": sum(c.answered for c in window)}

    return asyncio.run(main())


# --- replacement ----------------------------------------------------------------------------------

def replacement(build: str, client: Any, ports: dict[str, int], *, interval_ns: int = 250 * NS_PER_MS,
                timeout_s: float = 60.0) -> dict:
    """Kill every payload's endpoint process at once (the container exits) under the build's checker,
    lifecycle and supervisor; per container: kill -> out of the members (no more traffic), and
    unhealthy report -> the restarted container healthy again (the engine's readiness gate)."""
    from core.docker import ContainerSupervisor
    from core.docker.adapters import HttpHealthProbe, SdkEngine

    async def main() -> dict:
        checker = make_checker(build, HttpHealthProbe(ports), interval_ns=interval_ns,
                               timeout_ns=interval_ns * 4 // 5, unhealthy_after=2)
        kw = dict(ready_timeout_ns=30 * NS_PER_S, ready_poll_ns=50 * NS_PER_MS, stop_grace_ns=2 * NS_PER_S,
                  backoff_base_ns=500 * NS_PER_MS, backoff_cap_ns=4 * NS_PER_S)
        lc = make_lifecycle(build, SdkEngine(client), **kw)
        left: dict[str, int] = {}

        def members(m: frozenset[str]) -> None:
            now = time.time_ns()
            for cid in ports:
                if cid not in m and cid not in left:
                    left[cid] = now

        sup = ContainerSupervisor(checker, lc, on_members=members)
        sup.members = set(ports)
        for i, cid in enumerate(sorted(ports)):
            checker.add(cid, offset_ns=i * interval_ns // len(ports))
        await asyncio.sleep(2 * interval_ns / NS_PER_S)
        killed: dict[str, int] = {}

        def kill(cid: str) -> None:
            client.containers.get(cid).exec_run(["killall", "httpd"])

        for cid in ports:
            killed[cid] = time.time_ns()
            await asyncio.to_thread(kill, cid)
        deadline = time.monotonic() + timeout_s
        while len(sup.replacements) < len(ports) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await sup.stop()
        return {"killed": killed, "left": left, "replacements": list(sup.replacements)}

    r = asyncio.run(main())
    out_ns = [r["left"][c] - r["killed"][c] for c in ports if c in r["left"]]
    ready = [x.result.ready_ns - x.unhealthy_at_ns for x in r["replacements"] if x.result and x.result.ok]
    failed = len(ports) - len(ready)
    return {"out_of_rotation_ns": out_ns, "restart_to_healthy_ns": ready, "failed": failed}


# --- the producer ---------------------------------------------------------------------------------

def _payloads(engine: Any, count: int, workdir: Path, health_interval_ns: int) -> tuple[dict, dict, list[int]]:
    from harness.backends.docker_engine import create_health_payload
    from harness.ports import free_port

    client = engine.client()
    ports: dict[str, int] = {}
    folders: dict[str, Path] = {}
    ready: list[int] = []

    def one(i: int) -> tuple[str, int, Path, int]:
        folder = workdir / f"www{i}"
        folder.mkdir()
        (folder / "health").write_text("ok\n")
        port = free_port()
        c = engine.client()
        t0 = time.time_ns()
        ctr = create_health_payload(c, port, www_dir=folder, health_interval_ns=health_interval_ns)
        while True:
            ctr.reload()
            if (ctr.attrs["State"].get("Health") or {}).get("Status") == "healthy":
                return ctr.id, port, folder, time.time_ns() - t0
            if time.time_ns() - t0 > 60 * NS_PER_S:
                raise RuntimeError(f"payload {i} not healthy within 60 s: {ctr.attrs['State']}")
            time.sleep(0.02)

    with ThreadPoolExecutor(max_workers=4) as pool:
        for cid, port, folder, took in pool.map(one, range(count)):
            ports[cid], folders[cid] = port, folder
            ready.append(took)
    return ports, folders, ready


def produce(quick: bool, log: Log = print, seed: int = 15) -> list[MetricRecord]:
    """Every container metric, both builds, on a private engine; INVALID records with the reason when
    no engine can be started here."""
    from harness.backends.docker_engine import EngineUnavailable, ensure_busybox_image, start_engine

    containers, interval_ns, duration_ns, repeats = (4, 500 * NS_PER_MS, 10 * NS_PER_S, 2) if quick \
        else (10, 500 * NS_PER_MS, 60 * NS_PER_S, 4)
    down_ns = 4 * interval_ns
    faults_per = 2 if quick else 6
    cpu_sizes = (10, 100, 1000)
    try:
        engine = start_engine()
    except EngineUnavailable as exc:
        reason = f"no Docker engine: {exc}"
        log(f"  containers: {reason}")
        return [invalid(m, b, "ppm" if m.endswith("on_time") else "ns", reason, SOURCE) for m in METRICS for b in BUILDS]
    workdir = Path(tempfile.mkdtemp(prefix="clockbench-payloads-"))
    runs: dict[str, list[dict]] = {b: [] for b in BUILDS}
    try:
        client = engine.client()
        ensure_busybox_image(client)
        log(f"  containers: engine {engine.version} ready in {engine.started_s:.1f}s; starting {containers} payloads")
        ports, folders, ready = _payloads(engine, containers, workdir, 250 * NS_PER_MS)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        for rep in range(repeats):
            busy = rep % 2 == 1
            order = BUILDS if rep % 2 == 0 else tuple(reversed(BUILDS))
            for b in order:
                burners = _burners(cores) if busy else []
                try:
                    r = soak(b, client, ports, folders, interval_ns=interval_ns, timeout_ns=interval_ns // 2,
                             duration_ns=duration_ns, seed=seed * 1000 + rep, faults_per_container=faults_per,
                             down_ns=down_ns)
                finally:
                    _stop_all(burners)
                r["busy"] = busy
                runs[b].append(r)
                share = sum(r["slots"]) / 1e6 / len(r["slots"]) if r["slots"] else float("nan")
                log(f"  containers: {b}{' (busy machine)' if busy else ''}: {r['checks']} checks, on time "
                    f"{share:.4f}, detect p50 {_p(r['latencies'], 50)} ms, false unhealthy {r['false_unhealthy']}")
        repl: dict[str, dict] = {}
        for b in BUILDS:
            repl[b] = replacement(b, client, ports)
            log(f"  containers: {b}: {len(repl[b]['out_of_rotation_ns'])} endpoints killed, out of rotation p50 "
                f"{_p(repl[b]['out_of_rotation_ns'], 50)} ms, restart to healthy p50 {_p(repl[b]['restart_to_healthy_ns'], 50)} ms"
                f"{', ' + str(repl[b]['failed']) + ' not replaced' if repl[b]['failed'] else ''}")
        cpu: dict[str, dict[int, dict]] = {b: {} for b in BUILDS}
        for n in cpu_sizes:
            for b in BUILDS:
                cpu[b][n] = checker_cpu(b, n, duration_ns=(1 if quick else 5) * NS_PER_S)
            log(f"  containers: checker CPU per check at {n}: clocked {cpu['clocked'][n]['cpu_per_check_ns']} ns, "
                f"baseline {cpu['baseline'][n]['cpu_per_check_ns']} ns")
    finally:
        engine.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    extra = {"containers": containers, "interval_ns": interval_ns, "soak_ns": duration_ns, "repeats": repeats,
             "faults_per_container_per_soak": faults_per, "fault_ns": down_ns, "seed": seed,
             "probe": "HTTP GET /health of each payload (busybox httpd, host network)",
             "busy": "every other soak with one busy-looping process per core",
             "payload_start_to_healthy_ns": ready}
    out: list[MetricRecord] = []
    for b in BUILDS:
        rs = runs[b]
        slots = [v for r in rs for v in r["slots"]]
        out.append(MetricRecord("sim.containers.checks_on_time", b, "ppm", slots, lower_is_better=False,
                                source=SOURCE, extra=extra))
        busy_slots = [v for r in rs if r["busy"] for v in r["slots"]]
        if busy_slots:
            out.append(MetricRecord("sim.containers.checks_on_time_busy", b, "ppm", busy_slots,
                                    lower_is_better=False, source=SOURCE, extra=extra))
        gaps = [v for r in rs for v in r["gaps"]]
        if gaps:
            out.append(MetricRecord("sim.containers.gap_on_time", b, "ppm", gaps, lower_is_better=False, source=SOURCE,
                                    extra=dict(extra, definition="share of gaps between a container's consecutive "
                                               "check starts within 10% of the interval: regularity without the "
                                               "schedule (a sleep loop's own reading of 'on time')")))
        lat = [v for r in rs for v in r["latencies"]]
        out.append(MetricRecord("sim.containers.detect_latency", b, "ns", lat, source=SOURCE, extra=extra)
                   if lat else invalid("sim.containers.detect_latency", b, "ns", "no fault was detected", SOURCE))
        eng = [v for r in rs for v in r["engine_latencies"]]
        if eng:
            out.append(MetricRecord("sim.containers.engine_detect_latency", b, "ns", eng, source=SOURCE,
                                    extra=dict(extra, note="the engine's own health check (interval 250 ms), via its events")))
        late = [abs(v) for r in rs for v in r["late_ns"]]
        if late:
            out.append(MetricRecord("sim.containers.check_lateness", b, "ns", late, source=SOURCE, extra=extra))
        out.append(MetricRecord("sim.containers.false_unhealthy", b, "count", [sum(r["false_unhealthy"] for r in rs)],
                                source=SOURCE, extra=extra))
        out.append(MetricRecord("sim.containers.faults_missed", b, "count", [sum(r["missed"] for r in rs)],
                                source=SOURCE, extra=extra))
        for key, metric in (("out_of_rotation_ns", "sim.containers.out_of_rotation"),
                            ("restart_to_healthy_ns", "sim.containers.restart_to_healthy")):
            if repl[b][key]:
                out.append(MetricRecord(metric, b, "ns", repl[b][key], source=SOURCE,
                                        extra={"definition": "out_of_rotation: endpoint process killed -> the supervisor "
                                               "takes it out of the members (2 failed checks every 250 ms); "
                                               "restart_to_healthy: the unhealthy report -> the restarted container "
                                               "healthy (engine health check every 250 ms)", "containers": containers}))
        for n in cpu_sizes:
            c = cpu[b][n]
            if c["cpu_per_check_ns"]:
                out.append(MetricRecord(f"bench.containers.checker_cpu.n{n}", b, "ns/op", [c["cpu_per_check_ns"]],
                                        source=SOURCE, extra=dict(c, model="NullProbe: the checker's own CPU per check")))
    return out


def _p(values: list[int], q: float) -> str:
    if not values:
        return "-"
    s = sorted(values)
    return f"{s[min(len(s) - 1, int(q / 100 * len(s)))] / NS_PER_MS:.0f}"


def produce_containers(ctx: Any) -> list[MetricRecord]:
    """``clockbench run``'s producer (ctx: the run's Context)."""
    from harness.measure import Unavailable

    if not any(m.startswith("sim.containers.") for m in ctx.metrics):
        raise Unavailable("no selected criterion needs the container measurements")
    ctx.build_flags["containers"] = "each soak runs one build's checker (targets.docker or baselines.docker) on the same payloads"
    return produce(ctx.quick, ctx.log)
