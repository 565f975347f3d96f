"""Start and stop one stack: N uvicorn worker processes on free loopback ports, optionally behind
the run's own nginx; wait for ``/health``; record everything in a state file; stop it all cleanly.

Programmatic use (the load tests do this)::

    from harness.stack import running
    with running(build="clocked", workers=2, nginx=True) as s:
        httpx.post(s.url + "/api/v1/orders", json=...)
"""

from __future__ import annotations

import contextlib
import secrets
import re
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
import psutil

from harness.rundir import ROOT, new_run_dir
from harness.builds import BuildMapError, build_map as make_build_map, to_args, validate_map
from harness.backends import find_postgres, find_redis

from . import nginx as nginx_mod
from . import state as state_mod
from .errors import StackError
from harness.ports import free_port, port_in_use
from .state import ProcessRecord, StackState

CLOCKS = ("live", "test")


@dataclass
class StackSpec:
    """What to start. ``build``/``components`` give the build map unless ``build_map`` is given whole."""

    build: str = "clocked"
    components: Sequence[str] = ()
    build_map: Mapping[str, str] | None = None
    workers: int = 1
    nginx: bool = True
    clock: str = "live"
    start_time_ns: int | None = None
    postgres_url: str | None = None
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 0  # nginx's port (0: a free one); without nginx, the first worker's port
    # The workers' ports where given (the rest free ones): a caller that must name the workers before
    # they are up (a Prometheus scraping them, started beside the stack) chooses them itself.
    worker_ports: Sequence[int] = ()
    run_dir: Path | None = None
    nginx_path: str | None = None
    health_timeout_s: float = 30.0
    service_args: Sequence[str] = ()  # extra flags for every worker (e.g. --heartbeat-ms 200)
    nginx_worker_processes: int = 1
    nginx_worker_connections: int = 1024  # per nginx worker; a proxied WebSocket holds two
    write_pointer: bool = True  # update reports/stack/current.json (the CLI's down/status read it)

    def resolved_map(self) -> dict[str, str]:
        try:
            if self.build_map is not None:
                return validate_map(self.build_map)
            return make_build_map(self.build, self.components)
        except BuildMapError as exc:
            raise StackError(str(exc)) from None


@dataclass
class Stack:
    """A running stack. ``url`` is where clients go: nginx when it fronts the workers, else worker 0."""

    url: str
    nginx_url: str | None
    worker_urls: list[str]
    build_map: dict[str, str]
    clock: str
    run_dir: Path
    access_log: Path | None
    notes: list[str]
    state: StackState
    _procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list, repr=False)
    _pointer: bool = True

    def stop(self, timeout_s: float = 10.0) -> list[str]:
        """Stop every process this stack started (nginx first, then the workers); returns what was stopped."""
        stopped = _stop_records(self.state.processes, timeout_s)
        for _, proc in self._procs:
            with contextlib.suppress(Exception):
                proc.wait(timeout=0.1)
        st = self.state
        drop_namespace(st.postgres_url, st.redis_url, st.db_schema, st.redis_prefix)
        if self._pointer:
            current = state_mod.load()
            if current is not None and current.run_dir == self.state.run_dir:
                state_mod.clear()
        return stopped

    def dead(self) -> list[str]:
        """The roles of this stack's processes that have exited (a killed worker, a crashed nginx)."""
        return [role for role, proc in self._procs if proc.poll() is not None]

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------
def _service(found_url: str | None, finder, what: str) -> str:
    """The service's URL (explicit, else found by harness.backends), checked to answer on its port."""
    found = finder(found_url)
    if not found.ok:
        raise StackError(f"{what} is unreachable: {found.reason}")
    parsed = urlparse(found.url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or (5432 if what == "PostgreSQL" else 6379)
    try:
        socket.create_connection((host, port), timeout=2.0).close()
    except OSError as exc:
        raise StackError(f"{what} is unreachable at {host}:{port} ({found.how}): {exc.strerror or exc}") from None
    return found.url


def run_namespace(run_dir: Path, bmap: dict[str, str]) -> tuple[str, str]:
    """A PostgreSQL schema and Redis key prefix of the run's own: runs and builds never share tables
    (the two builds' DDL differ: the baseline's has now() defaults, the clocked one has none)."""
    token = re.sub(r"[^a-z0-9]+", "_", run_dir.name.lower()).strip("_")[-32:]
    token = f"{token}_{secrets.token_hex(3)}_{bmap.get('postgres', 'clocked')[:1]}"
    return f"cbrun_{token}", f"cbrun:{token}:"


def drop_namespace(postgres_url: str | None, redis_url: str | None, schema: str | None, prefix: str | None) -> None:
    """Remove a run's tables and cache keys (best effort: a stack that cannot reach them just leaves them)."""
    import asyncio

    async def drop() -> None:
        if postgres_url and schema:
            from core.database.schema import drop_at

            await drop_at(postgres_url, schema, timeout_s=5)
        if redis_url and prefix:
            import redis.asyncio as aioredis

            client = aioredis.from_url(redis_url)
            try:
                keys = [k async for k in client.scan_iter(match=prefix + "*", count=1000)]
                for i in range(0, len(keys), 1000):
                    await client.delete(*keys[i : i + 1000])
            finally:
                await client.aclose()

    with contextlib.suppress(Exception):
        asyncio.run(drop())


def _worker_cmd(spec: StackSpec, bmap: dict[str, str], port: int, index: int, pg: str, rd: str,
                namespace: tuple[str, str] | None = None) -> list[str]:  # fmt: skip
    cmd = [
        sys.executable, "-m", "harness.app",
        "--host", spec.host, "--port", str(port),
        *to_args(bmap),
        "--clock", spec.clock,
        "--postgres-url", pg, "--redis-url", rd,
        "--worker-id", str(index),
    ]  # fmt: skip
    if spec.start_time_ns is not None:
        cmd += ["--start-time", str(spec.start_time_ns)]
    if namespace is not None:
        cmd += ["--db-schema", namespace[0], "--redis-prefix", namespace[1]]
    cmd += list(spec.service_args)
    return cmd


def _spawn(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        return subprocess.Popen(
            cmd, cwd=str(ROOT), env=env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    finally:
        out.close()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _record(role: str, proc: subprocess.Popen[bytes], url: str, log: Path) -> ProcessRecord:
    try:
        created = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        created = 0.0
    return ProcessRecord(role, proc.pid, created, url, str(log))


def wait_healthy(
    url: str,
    timeout_s: float,
    *,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
    require_ready: bool = True,
) -> dict:
    """Poll ``url/health`` until it answers 200 (and ready, if asked); raise StackError with the
    reason (the process died, with its log's tail; or the last answer) after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    with httpx.Client(timeout=2.0) as client:
        while True:
            if proc is not None and proc.poll() is not None:
                tail = _tail(log) if log else ""
                raise StackError(f"{url}: the process exited with code {proc.returncode} before it was healthy\n{tail}")
            try:
                r = client.get(url + "/health")
                body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
                # 200 = ready; 503 with the JSON body = up but not ready (enough when readiness is not required)
                if (r.status_code == 200 and body.get("ready", True)) or (not require_ready and r.status_code == 503
                                                                         and "ready" in body):  # fmt: skip
                    return body
                last = f"HTTP {r.status_code}: {r.text[:300]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                raise StackError(f"{url}/health not ready after {timeout_s:.0f}s; last answer: {last}")
            time.sleep(0.1)


def start(spec: StackSpec | None = None, **kwargs: object) -> Stack:
    """Start a stack from ``spec`` (or keyword fields of StackSpec). On any failure, everything already
    started is stopped again and StackError says why."""
    spec = spec or StackSpec(**kwargs)  # type: ignore[arg-type]
    if spec.clock not in CLOCKS:
        raise StackError(f"--clock {spec.clock!r}: choose live or test")
    if spec.clock == "test" and spec.start_time_ns is None:
        raise StackError("--clock test needs --start-time NS (nanoseconds since the UNIX epoch)")
    if spec.start_time_ns is not None and spec.start_time_ns < 0:
        raise StackError(f"--start-time must be >= 0 ns, got {spec.start_time_ns}")
    if spec.workers < 1:
        raise StackError(f"--workers must be >= 1, got {spec.workers}")
    bmap = spec.resolved_map()
    notes: list[str] = []
    workers = spec.workers
    if spec.clock == "test" and workers > 1:
        notes.append(
            f"--clock test runs a single worker ({workers} were asked for): a TestClock is one process's time"
        )
        workers = 1
    if spec.clock == "live" and workers > 1:
        notes.append("each worker process has its own LiveClock (timestamps are per-process wall clock, not shared)")
    if spec.port and port_in_use(spec.host, spec.port):
        raise StackError(f"port {spec.host}:{spec.port} is already in use; pick another with --port or pass 0")
    nginx_exe = nginx_mod.find_nginx(spec.nginx_path) if spec.nginx else None
    pg = _service(spec.postgres_url, find_postgres, "PostgreSQL")
    rd = _service(spec.redis_url, find_redis, "Redis")

    run_dir = Path(spec.run_dir) if spec.run_dir else new_run_dir("stack")
    run_dir.mkdir(parents=True, exist_ok=True)
    namespace = None if "--db-schema" in spec.service_args else run_namespace(run_dir, bmap)
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    records: list[ProcessRecord] = []
    st = StackState(
        run_dir=str(run_dir), url="", nginx_url=None, worker_urls=[], build_map=bmap, clock=spec.clock,
        start_time_ns=spec.start_time_ns, postgres_url=pg, redis_url=rd, processes=records, notes=notes,
        db_schema=namespace[0] if namespace else None, redis_prefix=namespace[1] if namespace else None,
    )  # fmt: skip
    try:
        ports: list[int] = []
        for i in range(workers):
            if i < len(spec.worker_ports):
                port = spec.worker_ports[i]
                if port in ports or port_in_use(spec.host, port):
                    raise StackError(f"worker port {spec.host}:{port} is already in use")
            else:
                port = spec.port if (i == 0 and not spec.nginx and spec.port) else free_port(spec.host)
            while port in ports:
                port = free_port(spec.host)
            ports.append(port)
            url = f"http://{spec.host}:{port}"
            log = run_dir / f"worker-{i}.log"
            proc = _spawn(_worker_cmd(spec, bmap, port, i, pg, rd, namespace), log)
            procs.append((f"worker-{i}", proc))
            records.append(_record(f"worker-{i}", proc, url, log))
            st.worker_urls.append(url)
            state_mod.save(st, state_mod.POINTER if spec.write_pointer else None)
        for (role, proc), rec in zip(procs, records):
            wait_healthy(rec.url, spec.health_timeout_s, proc=proc, log=Path(rec.log))
        st.url = st.worker_urls[0]
        if nginx_exe is not None:
            prefix = run_dir / "nginx"
            nport = spec.port or free_port(spec.host)
            text = nginx_mod.render_config(
                prefix=prefix, host=spec.host, port=nport,
                workers=[nginx_mod.Upstream(spec.host, p) for p in ports],
                worker_processes=spec.nginx_worker_processes, worker_connections=spec.nginx_worker_connections,
            )  # fmt: skip
            nginx_mod.write_config(prefix, text)
            nginx_mod.check_config(nginx_exe, prefix)
            proc = nginx_mod.start(nginx_exe, prefix)
            nurl = f"http://{spec.host}:{nport}"
            procs.append(("nginx", proc))
            records.append(_record("nginx", proc, nurl, prefix / "logs" / "nginx.out"))
            st.nginx_url = nurl
            st.url = nurl
            st.access_log = str(prefix / "logs" / "access.log")
            state_mod.save(st, state_mod.POINTER if spec.write_pointer else None)
            wait_healthy(nurl, spec.health_timeout_s, proc=proc, log=prefix / "logs" / "error.log")
        state_mod.save(st, state_mod.POINTER if spec.write_pointer else None)
    except BaseException:
        _stop_records(records, 5.0)
        drop_namespace(pg, rd, st.db_schema, st.redis_prefix)
        if spec.write_pointer:
            state_mod.clear()
        raise
    return Stack(
        url=st.url, nginx_url=st.nginx_url, worker_urls=list(st.worker_urls), build_map=bmap, clock=spec.clock,
        run_dir=run_dir, access_log=Path(st.access_log) if st.access_log else None, notes=notes, state=st,
        _procs=procs, _pointer=spec.write_pointer,
    )  # fmt: skip


@contextlib.contextmanager
def running(spec: StackSpec | None = None, **kwargs: object) -> Iterator[Stack]:
    """``with running(build="baseline", workers=2) as s:`` — a stack for the block, stopped after it."""
    stack = start(spec, **kwargs)
    try:
        yield stack
    finally:
        stack.stop()


# ---------------------------------------------------------------------------------------------
def _same_process(rec: ProcessRecord) -> psutil.Process | None:
    """The live process of a record, or None if it is gone (or its pid now belongs to another program)."""
    try:
        p = psutil.Process(rec.pid)
        if rec.create_time and abs(p.create_time() - rec.create_time) > 0.01:
            return None
        if p.status() == psutil.STATUS_ZOMBIE:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(rec.pid, os.WNOHANG)
            return None
        return p
    except psutil.Error:
        return None


def _signal_group(pid: int, sig: int) -> None:
    """Signal the process group we created for it (start_new_session), else the process itself."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
            return
    except (ProcessLookupError, PermissionError):
        pass
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _stop_records(records: Sequence[ProcessRecord], timeout_s: float) -> list[str]:
    """nginx first (so no new requests reach the workers), then the workers; TERM, then KILL after a wait."""
    order = sorted(records, key=lambda r: 0 if r.role == "nginx" else 1)
    stopped: list[str] = []
    for group in ([r for r in order if r.role == "nginx"], [r for r in order if r.role != "nginx"]):
        live = [(r, p) for r in group if (p := _same_process(r)) is not None]
        for r, _ in live:
            _signal_group(r.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for r, p in live:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except psutil.TimeoutExpired:
                _signal_group(r.pid, signal.SIGKILL)
                with contextlib.suppress(psutil.Error):
                    p.wait(timeout=5)
            except psutil.Error:
                pass
            stopped.append(f"{r.role} (pid {r.pid})")
    return stopped


def stop_recorded(pointer: Path = state_mod.POINTER, timeout_s: float = 10.0) -> tuple[StackState | None, list[str]]:
    """Stop what the state file says ``stack up`` started (from any process); clear the state file."""
    st = state_mod.load(pointer)
    if st is None:
        return None, []
    if any(r.role == "supervisor" for r in st.processes):
        timeout_s = max(timeout_s, 60.0)  # a container stack's supervisor removes its containers and engine first
    stopped = _stop_records(st.processes, timeout_s)
    drop_namespace(st.postgres_url, st.redis_url, st.db_schema, st.redis_prefix)
    state_mod.clear(pointer)
    return st, stopped


def status(pointer: Path = state_mod.POINTER) -> tuple[StackState | None, list[tuple[ProcessRecord, bool]]]:
    """The recorded stack and, for each of its processes, whether it still runs."""
    st = state_mod.load(pointer)
    if st is None:
        return None, []
    return st, [(r, _same_process(r) is not None) for r in st.processes]
