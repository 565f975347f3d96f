"""The stack with its service workers as containers (``clockbench stack up --containers``).

Each worker is the same ``python -m harness.app`` process as in a normal stack, run in a busybox
container on a private Docker engine (host network; the host's /usr, this checkout and the Python
installation bind-mounted read-only). The container family gates and heals it: the build's health
checker probes each worker's /health; the supervisor keeps the members (healthy workers) and
restarts an unhealthy one through the lifecycle (graceful stop, readiness gate, backoff); every
change of the members rewrites nginx's shared upstream (a worker out is marked ``down``) and
reloads nginx, so traffic only reaches healthy workers. ``gate_log`` records when that happened.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.docker.records import NS_PER_MS, NS_PER_S
from harness.backends import find_postgres, find_redis

from . import nginx as nginx_mod
from .errors import StackError
from .manager import StackSpec, _service, _worker_cmd, drop_namespace, run_namespace
from harness.ports import free_port

CONTAINER_LABEL = "clockbench-stack-worker"


@dataclass
class Worker:
    index: int
    port: int
    container_id: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class ContainerStack:
    """Workers as containers behind a health-gated nginx. ``start()`` blocks until every worker is
    healthy and nginx answers; ``supervise()`` (async) gates and replaces until cancelled."""

    spec: StackSpec
    family_build: str | None = None  # the container family's build; None: the build map's "containers"
    check_interval_ns: int = 500 * NS_PER_MS
    unhealthy_after: int = 3  # failed checks in a row (each allowed 80 % of the interval) before a worker is out
    run_dir: Path | None = None
    engine: Any = None  # an engine the caller started (and stops); None: the stack starts its own
    workers: list[Worker] = field(default_factory=list)
    gate_log: list[tuple[int, frozenset[str]]] = field(default_factory=list)  # (time_ns, members) per reload
    url: str = ""
    _engine: Any = None
    _nginx: Any = None
    _nginx_exe: str = ""
    _prefix: Path | None = None
    _nport: int = 0
    _namespace: tuple[str, str] | None = None
    _pg: str = ""
    _rd: str = ""
    supervisor: Any = None

    # --- start / stop -------------------------------------------------------------------------
    def start(self) -> ContainerStack:
        from harness.backends.docker_engine import EngineUnavailable, ensure_busybox_image, start_engine
        from harness.rundir import new_run_dir

        if self.family_build is None:
            self.family_build = self.spec.resolved_map()["containers"]
        if self.family_build not in ("clocked", "baseline"):
            raise StackError(f"container family build {self.family_build!r}: choose clocked or baseline")
        if self.spec.clock != "live":
            raise StackError("--containers runs live workers only (a TestClock is one process's time)")
        self._nginx_exe = nginx_mod.find_nginx(self.spec.nginx_path)
        self._pg = _service(self.spec.postgres_url, find_postgres, "PostgreSQL")
        self._rd = _service(self.spec.redis_url, find_redis, "Redis")
        self.run_dir = Path(self.run_dir) if self.run_dir else new_run_dir("stack")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        bmap = self.spec.resolved_map()
        if self.engine is not None:
            self._engine = self.engine
        else:
            try:
                self._engine = start_engine(self.run_dir / "dockerd")
            except EngineUnavailable as exc:
                raise StackError(f"--containers needs a Docker engine: {exc}") from None
        try:
            client = self._engine.client()
            ensure_busybox_image(client)
            self._namespace = run_namespace(self.run_dir, bmap)
            for i in range(self.spec.workers):
                port = free_port()
                cmd = _worker_cmd(self.spec, bmap, port, i, self._pg, self._rd, self._namespace)
                ctr = client.containers.create(**self._container_kwargs(cmd, port, i))
                self.workers.append(Worker(i, port, ctr.id))
            asyncio.run(self._start_all())
            self._start_nginx()
        except BaseException:
            self.stop()
            raise
        return self

    def _container_kwargs(self, cmd: list[str], port: int, index: int) -> dict:
        from harness.backends.docker_engine import BUSYBOX_TAG
        from harness.rundir import ROOT

        mounts: list[str] = []
        for p in sorted({"/usr", str(ROOT), sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parent.parent)}):
            if not any(p == m or p.startswith(m.rstrip("/") + "/") for m in mounts):
                mounts.append(p)
        url = f"http://127.0.0.1:{port}/health"
        return dict(
            image=BUSYBOX_TAG,
            command=cmd,
            name=f"cb-worker-{index}-{port}",
            network_mode="host",
            working_dir=str(ROOT),
            environment={"PYTHONPATH": str(ROOT), "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"},
            volumes={m: {"bind": m, "mode": "ro"} for m in mounts},
            labels={CONTAINER_LABEL: str(index)},
            healthcheck={"test": ["CMD", "/bin/busybox", "wget", "-q", "-O", "/dev/null", url],
                         "interval": NS_PER_S, "timeout": 2 * NS_PER_S, "retries": 2, "start_period": 30 * NS_PER_S},
            stop_signal="SIGTERM",
        )

    def _lifecycle(self) -> Any:
        from core.docker.adapters import SdkEngine

        kw = dict(ready_timeout_ns=int(self.spec.health_timeout_s * NS_PER_S), ready_poll_ns=100 * NS_PER_MS,
                  stop_grace_ns=5 * NS_PER_S, backoff_base_ns=NS_PER_S, backoff_cap_ns=15 * NS_PER_S)
        from harness.measure.docker import make_lifecycle

        return make_lifecycle(self.family_build, SdkEngine(self._engine.client()), **kw)

    async def _start_all(self) -> None:
        """Start every worker behind the readiness gate (the engine's health check says healthy)."""
        lc = self._lifecycle()
        results = await asyncio.gather(*(lc.start(w.container_id) for w in self.workers))
        for w, r in zip(self.workers, results):
            if not r.ready:
                logs = self._engine.client().containers.get(w.container_id).logs(tail=15).decode(errors="replace")
                raise StackError(f"worker-{w.index} (container) not healthy within {self.spec.health_timeout_s:.0f}s:\n{logs}")

    def _start_nginx(self) -> None:
        assert self.run_dir is not None
        self._prefix = self.run_dir / "nginx"
        self._nport = self.spec.port or free_port()
        self._write_config(frozenset(w.container_id for w in self.workers))
        nginx_mod.check_config(self._nginx_exe, self._prefix)
        self._nginx = nginx_mod.start(self._nginx_exe, self._prefix)
        self.url = f"http://127.0.0.1:{self._nport}"
        from .manager import wait_healthy

        wait_healthy(self.url, self.spec.health_timeout_s, proc=self._nginx, log=self._prefix / "logs" / "error.log")

    def _write_config(self, members: frozenset[str]) -> None:
        assert self._prefix is not None
        ups = [nginx_mod.Upstream("127.0.0.1", w.port, down=w.container_id not in members) for w in self.workers]
        if all(u.down for u in ups):  # nginx needs one server not down; with none healthy every request fails anyway
            ups[0] = nginx_mod.Upstream("127.0.0.1", ups[0].port)
        text = nginx_mod.render_config(prefix=self._prefix, host="127.0.0.1", port=self._nport, workers=ups,
                                       worker_processes=self.spec.nginx_worker_processes)
        nginx_mod.write_config(self._prefix, text)

    def gate(self, members: frozenset[str]) -> None:
        """The members changed: rewrite the shared upstream and reload nginx (SIGHUP to its master)."""
        self._write_config(members)
        if self._nginx is not None and self._nginx.poll() is None:
            self._nginx.send_signal(signal.SIGHUP)
        self.gate_log.append((time.time_ns(), members))

    async def supervise(self) -> None:
        """Check every worker and replace the unhealthy ones until cancelled."""
        from core.docker import ContainerSupervisor
        from core.docker.adapters import HttpHealthProbe
        from harness.measure.docker import make_checker

        probe = HttpHealthProbe({w.container_id: w.port for w in self.workers})
        # /health pings PostgreSQL and Redis: on a busy machine one answer can be slow, so a worker is
        # taken out after ``unhealthy_after`` failed checks in a row, each allowed 80 % of the interval
        checker = make_checker(self.family_build, probe, interval_ns=self.check_interval_ns,
                               timeout_ns=self.check_interval_ns * 4 // 5, unhealthy_after=self.unhealthy_after)
        self.supervisor = ContainerSupervisor(checker, self._lifecycle(), on_members=self.gate)
        self.supervisor.members = {w.container_id for w in self.workers}  # they passed the readiness gate
        for i, w in enumerate(self.workers):
            checker.add(w.container_id, offset_ns=i * self.check_interval_ns // len(self.workers))
        try:
            await asyncio.Event().wait()
        finally:
            await self.supervisor.stop()

    def supervise_in_thread(self) -> Callable[[], None]:
        """``supervise()`` on an event loop of its own in a thread (a run measures something else on
        its own loop meanwhile). Returns a function that stops it and waits."""
        started = threading.Event()
        box: dict[str, Any] = {}

        def run() -> None:
            async def main() -> None:
                box["loop"], box["task"] = asyncio.get_running_loop(), asyncio.current_task()
                started.set()
                try:
                    await self.supervise()
                except asyncio.CancelledError:
                    pass

            try:
                asyncio.run(main())
            finally:
                started.set()

        thread = threading.Thread(target=run, name="container-stack-supervisor", daemon=True)
        thread.start()
        started.wait(30)

        def stop() -> None:
            loop, task = box.get("loop"), box.get("task")
            if loop is not None and task is not None and not loop.is_closed():
                loop.call_soon_threadsafe(task.cancel)
            thread.join(60)

        return stop

    def _remove_workers(self) -> None:
        try:
            client = self._engine.client()
            for w in self.workers:
                try:
                    client.containers.get(w.container_id).remove(force=True)
                except Exception:  # noqa: BLE001 - already gone
                    pass
        except Exception:  # noqa: BLE001 - the engine is gone: nothing left to remove
            pass

    def worker(self, container_id: str) -> Worker:
        return next(w for w in self.workers if w.container_id == container_id)

    def stop(self) -> None:
        if self._nginx is not None and self._nginx.poll() is None:
            self._nginx.terminate()
            try:
                self._nginx.wait(timeout=10)
            except Exception:  # noqa: BLE001
                self._nginx.kill()
        if self._engine is not None:
            if self.engine is None:
                self._engine.stop()
            else:  # the caller's engine stays up: only this stack's workers go
                self._remove_workers()
            self._engine = None
        if self._namespace is not None:
            drop_namespace(self._pg, self._rd, *self._namespace)
            self._namespace = None

    def __enter__(self) -> ContainerStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _save_state(stack: ContainerStack) -> None:
    """Record this supervising process (and nginx) so ``stack status``/``stack down`` find them: the
    workers are containers on the stack's own engine, which this process stops on SIGTERM."""
    import os

    import psutil

    from . import state as state_mod
    from .manager import _record

    me = psutil.Process(os.getpid())
    procs = [state_mod.ProcessRecord("supervisor", me.pid, me.create_time(), stack.url,
                                     str(Path(stack.run_dir or ".") / "supervisor.log"))]
    if stack._nginx is not None and stack._prefix is not None:
        procs.append(_record("nginx", stack._nginx, stack.url, stack._prefix / "logs" / "error.log"))
    st = state_mod.StackState(
        run_dir=str(stack.run_dir), url=stack.url, nginx_url=stack.url, worker_urls=[w.url for w in stack.workers],
        build_map=stack.spec.resolved_map(), clock=stack.spec.clock, start_time_ns=None,
        postgres_url=stack._pg, redis_url=stack._rd, processes=procs,
        notes=[f"workers run as containers ({', '.join(w.container_id[:12] for w in stack.workers)}) on a private "
               f"Docker engine, health-gated by the '{stack.family_build}' container family; 'stack down' stops "
               "the supervisor, which stops them, nginx and the engine"],
        access_log=str(stack._prefix / "logs" / "access.log") if stack._prefix else None)
    state_mod.save(st, state_mod.POINTER if stack.spec.write_pointer else None)


def _clear_state(stack: ContainerStack) -> None:
    """Forget the pointer if it still names this stack (``stack down`` may have cleared it already)."""
    from . import state as state_mod

    if not stack.spec.write_pointer:
        return
    st = state_mod.load()
    if st is not None and st.run_dir == str(stack.run_dir):
        state_mod.clear()


def run_foreground(stack: ContainerStack, out: Any = print) -> int:
    """``stack up --containers --foreground``: start, record, print, supervise until Ctrl-C or
    SIGTERM (``stack down``), then stop everything."""
    stack.start()
    try:
        _save_state(stack)
        out(f"url        {stack.url}  (nginx, health-gated)")
        for w in stack.workers:
            out(f"worker-{w.index}   {w.url}  container {w.container_id[:12]}")
        out(f"family     container health checks and lifecycle: {stack.family_build}")
        out(f"run dir    {stack.run_dir}")
        out("supervising: unhealthy workers leave nginx's upstream and are restarted; Ctrl-C or 'stack down' stops it")

        async def main() -> None:
            loop = asyncio.get_running_loop()
            task = asyncio.current_task()
            assert task is not None
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, task.cancel)
            seen = 0
            sup = asyncio.create_task(stack.supervise())
            try:
                while True:
                    await asyncio.sleep(0.5)
                    while seen < len(stack.gate_log):
                        t, members = stack.gate_log[seen]
                        seen += 1
                        names = sorted(f"worker-{stack.worker(c).index}" for c in members)
                        out(f"gate       {time.strftime('%H:%M:%S', time.localtime(t / NS_PER_S))} traffic to {', '.join(names) or 'none'}")
            except asyncio.CancelledError:
                pass
            finally:
                sup.cancel()
                await asyncio.gather(sup, return_exceptions=True)

        asyncio.run(main())
    finally:
        stack.stop()
        _clear_state(stack)
        out("stopped")
    return 0


def run_background(argv: list[str], run_dir: Path, timeout_s: float, out: Any = print) -> int:
    """``stack up --containers``: the same command with ``--foreground`` as a detached process of its
    own session (output to ``run_dir/supervisor.log``); returns once it recorded the stack (ready),
    or raises StackError with its log's tail when it exited first or did not get ready in time."""
    import os
    import subprocess

    from .manager import ROOT as _ROOT

    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir / "supervisor.log"
    state_file = run_dir / "stack.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with open(log, "ab") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "harness", *argv, "--foreground", "--run-dir", str(run_dir)],
                                stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT, cwd=str(_ROOT), env=env,
                                start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while not state_file.exists():
        if proc.poll() is not None:
            raise StackError(f"the stack's supervisor exited with code {proc.returncode}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            raise StackError(f"the container stack was not ready within {timeout_s:.0f}s:\n{_tail(log)}")
        time.sleep(0.2)
    time.sleep(0.2)  # its banner follows the state file
    for line in log.read_text(errors="replace").splitlines():
        if line.split(" ", 1)[0] in ("url", "family", "run") or line.startswith("worker-"):
            out(line)
    out(f"supervisor pid {proc.pid} (log {log}); 'clockbench stack down' stops the stack")
    return 0


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
