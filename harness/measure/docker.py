"""Measurements of the container family on a real Docker engine, for ``clockbench run``.

What is measured, per build (clocked: targets.docker on a LiveClock; baseline: baselines.docker):

- ``sim.containers.checks_on_time`` (PM-/SC2-CONTAINER-RELIABILITY): payload containers (busybox
  httpd on the host network, started on a private engine) are checked every ``interval`` by the
  build's checker with the HTTP probe (the checker asks each container's /health itself). Every
  slot of each container's nominal schedule (origin + k*interval) is one value: 1,000,000 ppm when
  a check started within 10 % of the interval of it and was answered, else 0. One build's checker
  at a time; the busy soaks (``PLAN``'s schedule) run on a busy machine: the stack under load
  (``BusyStack``: two service workers as containers on the same engine, health-gated behind nginx
  and supervised by the soak's build, serving a bounded Locust orders load through nginx); where
  nginx or the stack cannot run, CPU burners instead (said in the records). ``*_busy`` records: the busy soaks alone (on time,
  answered, false unhealthy reports).
- ``sim.containers.detect_latency`` (EI-DOCKER-HEALTH): each container's endpoint is killed (its
  health file removed from the host folder it serves) at seeded instants and revived later; one
  value per fault: the time from the kill to the checker's unhealthy report.
- ``sim.containers.out_of_rotation`` / ``restart_to_healthy``: every payload's endpoint process killed
  at once under the build's checker + lifecycle + supervisor: kill -> out of the members (no more
  traffic), and unhealthy report -> restarted and healthy again.
- ``sim.containers.worker_death_to_no_traffic`` / ``worker_death_to_gate``: a stack worker's
  container killed while the stack serves the load (inside the build's last busy soak): to the last
  request nginx tried on it (its access log) and to the health gate taking it out of nginx's upstream.
- also: false unhealthy reports, faults missed, the engine's own detection (its health events),
  start-to-healthy time of the payloads, and the checker's CPU per container per check at 10, 100
  and 1,000 containers (``checker_cpu``: its thread's CPU time, taken while the payloads start; see
  that function for how 1,000 are modelled).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
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
from harness.measure import OrdersLoad
from harness import results
from harness.results import MetricRecord, invalid

Log = Callable[[str], None]
BUILDS = ("clocked", "baseline")
SOURCE = "measure.docker"
METRICS = ("sim.containers.checks_on_time", "sim.containers.detect_latency")



def _run_loop(main: Callable[[], Any]) -> Any:
    """``asyncio.run(main())`` on a thread of its own: the measurement gets a fresh loop whatever the
    calling thread holds (in a full run, a step before this one left a loop marked running on the
    run's main thread, and ``asyncio.run`` refused to start: "cannot be called from a running event
    loop")."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="containers-measure") as pool:
        return pool.submit(lambda: asyncio.run(main())).result()

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

    r = _run_loop(main)
    checker, faults = r["checker"], r["faults"]
    slots: list[int] = []
    gaps: list[int] = []
    late: list[int] = []
    lat: list[int] = []
    engine_lat: list[int] = []
    false_unhealthy = missed = 0
    window_end = r["end"] - interval_ns  # a slot in the last interval may still have its check in flight
    instants = 0  # the soak's intervals: every container's slot k falls in the k-th (their origins are staggered)
    for cid in r["ids"]:
        mine = [c for c in checker.checks if c.container == cid]
        ot = on_time(mine, checker.origins[cid], interval_ns, window_end)
        hit = ot.on_time
        instants = max(instants, ot.scheduled)
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
    return {"slots": slots, "instants": instants, "gaps": gaps, "late_ns": late, "latencies": lat,
            "engine_latencies": engine_lat, "false_unhealthy": false_unhealthy, "missed": missed, "checks": len(checker.checks),
            "skipped": getattr(checker, "skipped", 0), "unanswered": sum(not c.answered for c in checker.checks),
            "answered": [c.answered for c in checker.checks if c.start_ns < window_end]}


# --- checker CPU ----------------------------------------------------------------------------------

class NullProbe:
    """A check that answers healthy at once: the CPU measured is the checker's own (scheduling,
    timeouts, records), not the probe's I/O."""

    async def check(self, container_id: str) -> bool:
        return True


def checker_cpu(build: str, n: int, *, interval_ns: int = NS_PER_S // 2, duration_ns: int = 2 * NS_PER_S,
                probe: Any = None) -> dict:
    """CPU of the checker's own thread per check with ``n`` checked containers (checks staggered over
    the interval), over ``duration_ns`` of steady state (after the set-up and a first interval).

    The CPU is the thread CPU time (``time.thread_time_ns``) of the thread whose event loop runs the
    checker: its timers or sleeping tasks, timeouts and records, and nothing else the process does
    meanwhile (the run measures it while the payloads start, on other threads).

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
        cpu0, wall0 = time.thread_time_ns(), time.perf_counter_ns()
        await asyncio.sleep(duration_ns / NS_PER_S)
        cpu, wall = time.thread_time_ns() - cpu0, time.perf_counter_ns() - wall0
        window = checker.checks[n0:]  # a copy: checks ending after the window are not counted
        checks = len(window)
        await checker.stop()
        return {"containers": n, "checks": checks, "cpu_ns": cpu, "wall_ns": wall, "cpu_clock": "thread",
                "interval_ns": interval_ns, "cpu_per_check_ns": cpu // checks if checks else None,
                "answered": sum(c.answered for c in window)}

    return _run_loop(main)


def checker_cpu_all(sizes: tuple[int, ...], duration_ns: int) -> dict[str, dict[int, dict]]:
    """``checker_cpu`` for every size, both builds one after the other per size (each build's figure
    taken next to the other's, under the same conditions)."""
    cpu: dict[str, dict[int, dict]] = {b: {} for b in BUILDS}
    for n in sizes:
        for b in BUILDS:
            cpu[b][n] = checker_cpu(b, n, duration_ns=duration_ns)
    return cpu


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

    r = _run_loop(main)
    out_ns = [r["left"][c] - r["killed"][c] for c in ports if c in r["left"]]
    ready = [x.result.ready_ns - x.unhealthy_at_ns for x in r["replacements"] if x.result and x.result.ok]
    failed = len(ports) - len(ready)
    return {"out_of_rotation_ns": out_ns, "restart_to_healthy_ns": ready, "failed": failed}


# --- the producer ---------------------------------------------------------------------------------

def _payloads(engine: Any, count: int, workdir: Path, health_interval_ns: int,
              engine_checked: int, first: int = 0) -> tuple[dict, dict, list[int], set[str]]:
    """``count`` payloads (numbered from ``first``); the first ``engine_checked`` also carry the
    engine's own health check (every ``health_interval_ns``, an exec in the container each time: by
    the dozen they would load the machine), the others are ready when their /health answers 200."""
    from harness.backends.docker_engine import create_health_payload
    from harness.ports import free_port

    ports: dict[str, int] = {}
    folders: dict[str, Path] = {}
    ready: list[int] = []
    checked: set[str] = set()

    def answers(port: int) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def one(i: int) -> tuple[str, int, Path, int | None]:
        folder = workdir / f"www{i}"
        folder.mkdir()
        (folder / "health").write_text("ok\n")
        port = free_port()
        c = engine.client()
        with_engine = i < first + engine_checked
        t0 = time.time_ns()
        ctr = create_health_payload(c, port, www_dir=folder,
                                    health_interval_ns=health_interval_ns if with_engine else None)
        while True:
            if with_engine:
                ctr.reload()
                if (ctr.attrs["State"].get("Health") or {}).get("Status") == "healthy":
                    return ctr.id, port, folder, time.time_ns() - t0
            elif answers(port):
                return ctr.id, port, folder, None
            if time.time_ns() - t0 > 60 * NS_PER_S:
                ctr.reload()
                raise RuntimeError(f"payload {i} not healthy within 60 s: {ctr.attrs['State']}")
            time.sleep(0.02)

    with ThreadPoolExecutor(max_workers=4) as pool:
        for cid, port, folder, took in pool.map(one, range(first, first + count)):
            ports[cid], folders[cid] = port, folder
            if took is not None:
                ready.append(took)
                checked.add(cid)
    return ports, folders, ready, checked


# --- the busy machine: the stack under load --------------------------------------------------------

_PER_WORKER = re.compile(r'"/api/v1/(orders|algos)/W\d+-')
_LINE = re.compile(r'^(\d+\.\d+) (\d{3}) \S+ "([^"]*)" .*? ua="([^"]*)"')


def access_lines(path: Path) -> list[tuple[int, int, str, str]]:
    """nginx's access log of the stack as (end time ns, status, uri, upstream addresses) (pure parse)."""
    out = []
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            sec, frac = m.group(1).split(".")
            out.append((int(sec) * NS_PER_S + int(frac.ljust(9, "0")[:9]), int(m.group(2)), m.group(3), m.group(4)))
    return out


def last_traffic_ns(lines: list[tuple[int, int, str, str]], port: int, after_ns: int, before_ns: int) -> int | None:
    """The log time of the last request in [after, before) that nginx tried on the worker at ``port``
    through the shared (health-gated) upstream; None when none was. Requests about one worker's own
    orders (``/api/v1/orders/W<n>-...``) go to that worker by design, gate or not: not counted."""
    addr = f"127.0.0.1:{port}"
    last = None
    for t, _status, uri, ua in lines:
        if after_ns <= t < before_ns and addr in ua.replace(" ", "").split(",") and not _PER_WORKER.match(f'"{uri}'):
            last = t
    return last


class BusyStack:
    """The stack (two service workers as containers on the run's engine, health-gated behind nginx,
    on the run's PostgreSQL and Redis) serving a bounded Locust orders load: the busy machine."""

    def __init__(self, engine: Any, out: Path, rate: float, log: Log) -> None:
        from harness.stack.containers import ContainerStack
        from harness.stack.manager import StackSpec

        spec = StackSpec(workers=2, health_timeout_s=120, write_pointer=False)
        # the stack's own gate: a worker out after 5 s of failed /health (checks every 1 s, each allowed
        # 800 ms): under the load a stricter gate restarted both workers at once on this machine
        self.stack = ContainerStack(spec, family_build="clocked", check_interval_ns=NS_PER_S, unhealthy_after=5,
                                    run_dir=out / "stack", engine=engine)
        self.out, self.rate, self.log = out, rate, log
        self.loads = 0
        self.load: OrdersLoad | None = None

    def start(self) -> None:
        t0 = time.monotonic()
        self.stack.start()
        self.log(f"  containers: busy machine: stack {self.stack.url} (2 workers as containers) up in "
                 f"{time.monotonic() - t0:.0f}s; Locust orders load, {self.rate:g} requests/s")

    @property
    def access_log(self) -> Path:
        assert self.stack._prefix is not None
        return self.stack._prefix / "logs" / "access.log"

    def start_load(self, limit_s: float) -> None:
        """The Locust load, started once for every busy soak and worker death that follows (until
        ``stop_load``): started and stopped around each soak, Locust's own start-up and the wait for
        its first requests took 5-15 s per soak. Returns once the load is under way."""
        if self.load is not None and self.load.proc.poll() is None:
            return
        self.loads += 1
        # open mode: ``rate`` arrivals per second on a fixed schedule, whatever the answers' latency
        self.load = OrdersLoad(self.stack.url, ["--rate", f"{self.rate:g}", "--users", str(max(10, int(self.rate // 5))),
                                                "--duration", f"{limit_s:g}"], self.out / f"load{self.loads}")
        n0 = len(access_lines(self.access_log))
        deadline = time.monotonic() + 30
        while len(access_lines(self.access_log)) < n0 + 20 and time.monotonic() < deadline and self.load.proc.poll() is None:
            time.sleep(0.2)  # the load is under way before the measure starts

    def stop_load(self) -> None:
        if self.load is not None:
            self.load.stop()
            self.load = None

    def serve(self, build: str, limit_s: float) -> Callable[[], dict]:
        """Supervision by ``build``'s family, the load running (started here when it is not yet, for
        at most ``limit_s``), until the returned function is called; it stops the supervision and
        returns what the stack served meanwhile (requests, errors, per second). The load goes on."""
        self.stack.family_build = build
        stop_sup = self.stack.supervise_in_thread()
        self.start_load(limit_s)
        t0 = time.time_ns()

        def stop() -> dict:
            t1 = time.time_ns()
            sup = self.stack.supervisor
            restarts = len(sup.replacements) + len(sup.restarting()) if sup is not None else 0
            stop_sup()
            lines = [x for x in access_lines(self.access_log) if t0 <= x[0] < t1]
            errors = sum(1 for x in lines if x[1] >= 500)
            return {"requests": len(lines), "errors_5xx": errors, "seconds": (t1 - t0) / NS_PER_S,
                    "rps": len(lines) / max((t1 - t0) / NS_PER_S, 1e-9), "stack_worker_restarts": restarts}

        return stop

    def worker_death(self, build: str, kills: int, timeout_s: float = 120.0) -> list[dict]:
        """Kill a worker container (SIGKILL: the process dies, its port refuses) while the stack serves
        load under ``build``'s family (``serve(build)`` runs: the caller's busy soak of that build);
        per kill: to the last request nginx tried on it, to the health gate taking it out of nginx's
        upstream, and to the replacement back in. Returns once the last killed worker is back in."""
        client = self.stack._engine.client()
        if self.stack.family_build != build:
            raise ValueError(f"the stack is supervised by {self.stack.family_build!r}, not {build!r}")
        out: list[dict] = []
        for k in range(kills):
            w = self.stack.workers[k % len(self.stack.workers)]
            all_in = {x.container_id for x in self.stack.workers}
            deadline = time.monotonic() + timeout_s
            while (self.stack.supervisor is None or set(self.stack.supervisor.members) != all_in) \
                    and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1.0)  # traffic to both
            n_gates = len(self.stack.gate_log)
            killed = time.time_ns()
            client.containers.get(w.container_id).kill()
            gated = back = None
            seen = n_gates
            deadline = time.monotonic() + timeout_s
            while back is None and time.monotonic() < deadline:
                log_now = self.stack.gate_log[seen:]
                seen += len(log_now)
                for t, members in log_now:  # each change once, in order: out, then back in
                    if gated is None and w.container_id not in members:
                        gated = t
                    elif gated is not None and back is None and w.container_id in members:
                        back = t
                time.sleep(0.05)
            time.sleep(1.0)  # nginx flushes its log lines
            last = last_traffic_ns(access_lines(self.access_log), w.port, killed, back or time.time_ns())
            out.append({"worker": w.index, "killed_ns": killed,
                        "to_last_request_ns": (last - killed) if last is not None else 0,
                        "to_gate_ns": (gated - killed) if gated else None,
                        "to_back_ns": (back - killed) if back else None,
                        "gate_changes": [(t - killed, sorted(self.stack.worker(c).index for c in m))
                                         for t, m in self.stack.gate_log[n_gates:]]})
            self.log(f"  containers: {build}: worker-{w.index} killed: last request to it "
                     f"{out[-1]['to_last_request_ns'] / NS_PER_MS:.0f} ms after, out of nginx's upstream "
                     f"{_ms(out[-1]['to_gate_ns'])} ms, back in {_ms(out[-1]['to_back_ns'])} ms")
        return out

    def stop(self) -> None:
        self.stop_load()
        self.stack.stop()


def _ms(ns: int | None) -> str:
    return "-" if ns is None else f"{ns / NS_PER_MS:.0f}"


# quick: 90 payloads x 2 faults x 3 soaks = 540 faults per build, enough values for the p99 of
# EI-DOCKER-HEALTH (stats.min_samples: 500; 2 faults of 1 s, each followed by 1 s of health, are
# what a 6 s soak holds between its first and last two intervals); the soaks take 3 x 2 x 6 s (the
# worker-death soaks wait for the worker to be back, ~7 s). It was 60 payloads x 3 faults in 8 s
# soaks (the step 65 s at load 1-2, 2026-11-30), before that 40 x 5 in 12 s soaks (600 faults; the
# step took 92 s, 78 s with 8 s soaks: 5 s more to start the payloads, 19 s less of soak); 20 s soaks
# with 7 faults took 3 x 2 x 20 s for 840. The checker's CPU per check (bench.containers.checker_cpu,
# judged by no criterion) is taken over 0.5 s per size and build in --quick, inside the payloads'
# start. PM-CONTAINER-RELIABILITY is INCONCLUSIVE in any quick run (it needs 1,843 clean intervals),
# and SC2-CONTAINER-RELIABILITY's difference is tens of points against a goal of 0.3: shorter soaks
# leave both so. The baseline's share rises as the soaks shorten (its drift has less time to grow).
# ``schedule``: per repeat, (busy, clocked first); the busy soaks run each build first once, as the
# stack's state moves on under its load (the later busy soak met a more loaded stack in both of two runs).
PLAN = {
    True: {"containers": 90, "soak_s": 6, "faults": 2, "rate": 50, "kills": 1, "cpu_s": 0.5,
           "schedule": ((False, True), (True, False), (True, True))},
    False: {"containers": 40, "soak_s": 60, "faults": 22, "rate": 50, "kills": 5, "cpu_s": 5,
            "schedule": ((False, True), (True, False), (False, False), (True, True))},
}


def checks_units(soaks: list[dict]) -> dict:
    """The independent outcomes the checks of these soaks hold (results.INDEPENDENT): one per interval
    of a soak, not one per check. The containers' schedules are staggered over the interval, so a stall
    of the machine delays the checks of every container due while it lasts: the late checks of a quick
    run came as one group of 5 to 11 containers, one slot each, and judged as that many independent
    misses they took PM-CONTAINER-RELIABILITY from PASS (0 late of 2,644) to FAIL (11 of 2,643) between
    two runs of the same code. Counting each interval once is the cautious end (every check of an
    interval as one outcome): a stall rarely spans more, and the criterion then needs the soaks' length,
    not their number of containers, to show a share as high as 99.8%."""
    return {results.INDEPENDENT: sum(r["instants"] for r in soaks)}


def death_soak(schedule: tuple[tuple[bool, bool], ...]) -> int | None:
    """The repeat whose busy soaks also hold the worker-death trials (each build's in its own soak of
    that repeat): the last busy one, so the earlier busy soaks keep the stack undisturbed; None when
    no soak is busy."""
    busy = [i for i, (is_busy, _first) in enumerate(schedule) if is_busy]
    return busy[-1] if busy else None


ENGINE_CHECKED = 4  # payloads that also carry the engine's own health check (250 ms): events, restarts


def produce(quick: bool, log: Log = print, seed: int = 15, out: Path | None = None,
            nginx: bool = True) -> list[MetricRecord]:
    """Every container metric, both builds, on a private engine; INVALID records with the reason when
    no engine can be started here. ``out``: the run's folder (the busy stack's logs go under it)."""
    from harness.backends.docker_engine import EngineUnavailable, ensure_busybox_image, start_engine

    plan = PLAN[quick]
    containers, interval_ns, repeats = plan["containers"], 500 * NS_PER_MS, len(plan["schedule"])
    duration_ns = plan["soak_s"] * NS_PER_S
    down_ns = 2 * interval_ns
    faults_per = plan["faults"]
    cpu_sizes = (10, 100, 1000)
    try:
        engine = start_engine()
    except EngineUnavailable as exc:
        reason = f"no Docker engine: {exc}"
        log(f"  containers: {reason}")
        return [invalid(m, b, "ppm" if m.endswith("on_time") else "ns", reason, SOURCE) for m in METRICS for b in BUILDS]
    workdir = Path(tempfile.mkdtemp(prefix="clockbench-payloads-"))
    out = Path(out) if out else workdir / "out"
    runs: dict[str, list[dict]] = {b: [] for b in BUILDS}
    busy_stack: BusyStack | None = None
    busy_how = ""
    deaths: dict[str, list[dict]] = {b: [] for b in BUILDS}
    death_reason = ""
    t_start = time.monotonic()
    marks: list[tuple[str, float]] = []  # (phase that ended, monotonic time): where the step's time goes
    try:
        client = engine.client()
        # The checker's CPU per check (its own thread's CPU time, so what the set-up does on other
        # threads and processes is not in it) is taken while the payloads start: 6 x 1.5 s after the
        # replacement trials before.
        cpu_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checker-cpu")
        cpu_job = cpu_pool.submit(checker_cpu_all, cpu_sizes, int(plan["cpu_s"] * NS_PER_S))
        cpu_pool.shutdown(wait=False)
        ensure_busybox_image(client)
        log(f"  containers: engine {engine.version} ready in {engine.started_s:.1f}s; starting {containers} payloads")
        # The engine-checked payloads first and alone (their start-to-healthy is a figure), then the
        # others while the busy stack starts beside them: set-up only, nothing is measured until the
        # first soak (one after the other they took 18 s and 30 s at load 25).
        ports, folders, ready, checked = _payloads(engine, ENGINE_CHECKED, workdir, 250 * NS_PER_MS, ENGINE_CHECKED)
        made: list[BusyStack] = []

        def start_busy() -> None:
            made.append(BusyStack(engine, out / "containers-stack", plan["rate"], log))
            made[0].start()

        stack_start: Any = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="busy-stack") as pool:
            if not nginx:
                death_reason = busy_how = "no nginx here (the run's --no-nginx or none installed)"
            else:
                stack_start = pool.submit(start_busy)
            try:
                more = _payloads(engine, containers - ENGINE_CHECKED, workdir, 250 * NS_PER_MS, 0, first=ENGINE_CHECKED)
            finally:
                start_error = stack_start.exception() if stack_start is not None else None
                busy_stack = made[0] if made else None  # stopped below or by the finally, whatever failed
        ports.update(more[0])
        folders.update(more[1])
        log(f"  containers: {containers} payloads up in {time.monotonic() - t_start:.0f}s")
        marks.append(("set-up", time.monotonic()))
        cpu = cpu_job.result()  # the set-up usually outlasts it
        marks.append(("checker cpu (rest)", time.monotonic()))
        if start_error is not None:  # StackError, no PostgreSQL/Redis: said, then CPU burners
            death_reason = busy_how = f"the container stack could not start: {str(start_error).splitlines()[0][:300]}"
            if busy_stack is not None:
                busy_stack.stop()
            busy_stack = None
        if busy_stack is None:
            log(f"  containers: {busy_how}; the busy soaks use CPU burners instead")
        busy_limit_s = (sum(2 for busy, _ in plan["schedule"] if busy) * (duration_ns / NS_PER_S + 30)
                        + 2 * plan["kills"] * 120 + 60)  # the load's own limit, should the run hang
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        kill_rep = death_soak(plan["schedule"])
        trials = ThreadPoolExecutor(max_workers=1, thread_name_prefix="worker-death")
        for rep, (busy, clocked_first) in enumerate(plan["schedule"]):
            order = BUILDS if clocked_first else tuple(reversed(BUILDS))
            for b in order:
                burners: list[subprocess.Popen] = []
                stop_serving: Callable[[], dict] | None = None
                if busy and busy_stack is not None:  # one load for every busy soak and the worker deaths
                    stop_serving = busy_stack.serve(b, limit_s=busy_limit_s)
                elif busy:
                    burners = _burners(cores)
                served = None
                trial = None
                if rep == kill_rep and stop_serving is not None:
                    # the worker-death trial inside this build's last busy soak, under its supervision:
                    # a worker killed about 1 s in, the soak waiting for it to be back in (10-25 s)
                    trial = trials.submit(busy_stack.worker_death, b, plan["kills"])  # type: ignore[union-attr]
                try:
                    r = soak(b, client, ports, folders, interval_ns=interval_ns, timeout_ns=interval_ns // 2,
                             duration_ns=duration_ns, seed=seed * 1000 + rep, faults_per_container=faults_per,
                             down_ns=down_ns)
                finally:
                    if trial is not None:
                        try:
                            deaths[b] = trial.result()
                        except Exception as exc:  # noqa: BLE001 - said in the records
                            death_reason = f"worker death measure failed: {type(exc).__name__}: {exc}"
                            log(f"  containers: {b}: {death_reason}")
                    _stop_all(burners)
                    if stop_serving is not None:
                        served = stop_serving()
                if served is not None:
                    served["worker_kills"] = len(deaths[b]) if trial is not None else 0
                    for d in deaths[b] if trial is not None else []:
                        d["served"] = served
                r["busy"] = busy
                r["served"] = served
                runs[b].append(r)
                share = sum(r["slots"]) / 1e6 / len(r["slots"]) if r["slots"] else float("nan")
                what = ""
                if busy:
                    what = (f" (busy: the stack served {served['rps']:.0f} req/s, {served['errors_5xx']} 5xx, "
                            f"{served['stack_worker_restarts']} worker restarts by its gate, "
                            f"{served['worker_kills']} of them after a worker kill)"
                            if served else " (busy: CPU burners)")
                log(f"  containers: {b}{what}: {r['checks']} checks, on time {share:.4f}, {len(r['latencies'])} "
                    f"faults detected, p99 {_p(r['latencies'], 99)} ms, false unhealthy {r['false_unhealthy']}")
        trials.shutdown()
        marks.append(("soaks and worker deaths", time.monotonic()))
        if busy_stack is not None:
            busy_stack.stop()
            busy_stack = None
        marks.append(("stack stop", time.monotonic()))
        repl: dict[str, dict] = {}
        few = {cid: ports[cid] for cid in sorted(checked)}
        for b in BUILDS:
            repl[b] = replacement(b, client, few)
            log(f"  containers: {b}: {len(repl[b]['out_of_rotation_ns'])} endpoints killed, out of rotation p50 "
                f"{_p(repl[b]['out_of_rotation_ns'], 50)} ms, restart to healthy p50 {_p(repl[b]['restart_to_healthy_ns'], 50)} ms"
                f"{', ' + str(repl[b]['failed']) + ' not replaced' if repl[b]['failed'] else ''}")
        marks.append(("replacement", time.monotonic()))
        for n in cpu_sizes:
            log(f"  containers: checker CPU per check at {n}: clocked {cpu['clocked'][n]['cpu_per_check_ns']} ns, "
                f"baseline {cpu['baseline'][n]['cpu_per_check_ns']} ns (the checker thread's CPU)")
    finally:
        if busy_stack is not None:
            busy_stack.stop()
        engine.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    took_s = time.monotonic() - t_start
    marks.append(("teardown", time.monotonic()))
    phases = {name: round(t - (marks[i - 1][1] if i else t_start), 1) for i, (name, t) in enumerate(marks)}
    log(f"  containers: {took_s:.0f}s in all: " + ", ".join(f"{k} {v:.0f}s" for k, v in phases.items()))
    busy_desc = (f"the busy soaks (see schedule) while the stack (2 service workers as containers on the same engine, "
                 f"health-gated behind nginx, the soak's build supervising them) serves a Locust orders load "
                 f"of {plan['rate']} requests/s (open mode) through nginx" if not busy_how else
                 f"the busy soaks (see schedule) with one busy-looping process per core ({busy_how})")
    extra = {"containers": containers, "interval_ns": interval_ns, "soak_ns": duration_ns, "repeats": repeats,
             "faults_per_container_per_soak": faults_per,
             "schedule": [{"busy": b, "first": "clocked" if c else "baseline"} for b, c in plan["schedule"]], "fault_ns": down_ns, "seed": seed,
             "probe": "HTTP GET /health of each payload (busybox httpd, host network)",
             "busy": busy_desc, "engine_checked_payloads": ENGINE_CHECKED,
             "payload_start_to_healthy_ns": ready, "producer_seconds": round(took_s, 1),
             "phases_s": phases}
    out: list[MetricRecord] = []
    for b in BUILDS:
        rs = runs[b]
        slots = [v for r in rs for v in r["slots"]]
        out.append(MetricRecord("sim.containers.checks_on_time", b, "ppm", slots, lower_is_better=False,
                                source=SOURCE, extra=dict(extra, **checks_units(rs))))
        busy = [r for r in rs if r["busy"]]
        busy_slots = [v for r in busy for v in r["slots"]]
        if busy_slots:
            out.append(MetricRecord("sim.containers.checks_on_time_busy", b, "ppm", busy_slots,
                                    lower_is_better=False, source=SOURCE, extra=dict(extra, **checks_units(busy))))
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
        busy_runs = [r for r in rs if r["busy"]]
        if busy_runs:
            served = [r["served"] for r in busy_runs if r.get("served")]
            out.append(MetricRecord("sim.containers.false_unhealthy_busy", b, "count",
                                    [sum(r["false_unhealthy"] for r in busy_runs)], source=SOURCE,
                                    extra=dict(extra, served=served, definition="unhealthy reports outside every "
                                               "fault (and its grace), in the busy soaks only")))
            answered = [1_000_000 if c else 0 for r in busy_runs for c in r["answered"]]
            if answered:
                out.append(MetricRecord("sim.containers.answered_busy", b, "ppm", answered, lower_is_better=False,
                                        source=SOURCE, extra=dict(extra, definition="share of checks answered "
                                                                  "(in time for the checker's timeout), busy soaks")))
        d = deaths[b]
        if d:
            dx = {"definition": "a stack worker (container) SIGKILLed while the stack serves the Locust load (the "
                  "trial runs inside the build's last busy soak, its first kill about 1 s in; the supervision and the load go "
                  "on after the soak until the last killed worker is back in), the build's checker probing each worker's /health every 1 s (out after 5 failures in a row, each "
                  "allowed 800 ms): to_last_request = the kill -> the nginx log time of the last request nginx tried on "
                  "it through the shared upstream (0: none after the kill; nginx's own passive failure marking "
                  "stops most of it; when the gate has taken every worker out, nginx's config keeps the first one "
                  "in, dead or not, so traffic can reach a dead worker again); to_gate = the kill -> the health "
                  "gate rewrote nginx's upstream without it and reloaded nginx", "kills": d}
            out.append(MetricRecord("sim.containers.worker_death_to_no_traffic", b, "ns",
                                    [x["to_last_request_ns"] for x in d], source=SOURCE, extra=dx))
            gate = [x["to_gate_ns"] for x in d if x["to_gate_ns"] is not None]
            out.append(MetricRecord("sim.containers.worker_death_to_gate", b, "ns", gate, source=SOURCE, extra=dx)
                       if gate else invalid("sim.containers.worker_death_to_gate", b, "ns",
                                            "the gate never took the killed worker out", SOURCE))
        else:
            reason = death_reason or "not measured"
            for m in ("sim.containers.worker_death_to_no_traffic", "sim.containers.worker_death_to_gate"):
                out.append(invalid(m, b, "ns", f"{reason}; sim.containers.out_of_rotation is the time to the "
                                   "health set removing a payload", SOURCE))
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
    return produce(ctx.quick, ctx.log, out=ctx.out, nginx=ctx.nginx)
