"""The stack with its workers as containers (``clockbench stack up --containers``), on a private
engine with real nginx, PostgreSQL and Redis: a killed worker leaves nginx's upstream (traffic goes
to the healthy one only) and is replaced; both builds of the container family drive it."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from core.docker.records import NS_PER_MS
from harness.backends.docker_engine import unavailable_reason
from harness.stack.containers import ContainerStack
from harness.stack.manager import StackSpec
from tests.conftest import missing
from tests.stack.conftest import nginx_or_skip


@pytest.mark.parametrize("build", ["clocked", "baseline"])
def test_a_dead_worker_is_gated_out_and_replaced(build, postgres_url, redis_url, tmp_path) -> None:
    nginx_or_skip()
    if unavailable_reason():
        missing("Docker engine", unavailable_reason())
    spec = StackSpec(workers=2, postgres_url=postgres_url, redis_url=redis_url, health_timeout_s=90,
                     write_pointer=False)
    stack = ContainerStack(spec, family_build=build, check_interval_ns=250 * NS_PER_MS, run_dir=tmp_path / "stack")
    stack.start()
    try:
        w0, w1 = stack.workers
        client = stack._engine.client()
        assert httpx.get(stack.url + "/health").status_code == 200

        async def main() -> tuple[int, int]:
            sup = asyncio.create_task(stack.supervise())
            await asyncio.sleep(1.0)
            assert stack.gate_log == []  # both healthy: no change
            killed = time.time_ns()
            await asyncio.to_thread(client.containers.get(w1.container_id).kill)
            deadline = time.monotonic() + 30
            while not any(w1.container_id not in m for _, m in stack.gate_log) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            gated = next(t for t, m in stack.gate_log if w1.container_id not in m)
            await asyncio.sleep(0.3)  # nginx's reload takes effect
            async with httpx.AsyncClient() as http:
                answers = [(await http.get(stack.url + "/health")).status_code for _ in range(20)]
            assert answers == [200] * 20  # only the live worker gets traffic
            deadline = time.monotonic() + 90
            while not (stack.gate_log and w1.container_id in stack.gate_log[-1][1] and stack.supervisor.replacements) \
                    and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            sup.cancel()
            await asyncio.gather(sup, return_exceptions=True)
            return killed, gated

        killed, gated = asyncio.run(main())
        assert stack.gate_log[-1][1] == frozenset({w0.container_id, w1.container_id})  # back in
        rep = stack.supervisor.replacements
        assert len(rep) == 1 and rep[0].container == w1.container_id and rep[0].result and rep[0].result.ok
        assert httpx.get(w1.url + "/health").status_code == 200
        print(f"{build}: death to out of nginx {(gated - killed) / NS_PER_MS:.0f} ms, "
              f"unhealthy to healthy again {(rep[0].result.ready_ns - rep[0].unhealthy_at_ns) / NS_PER_MS:.0f} ms")
    finally:
        stack.stop()


def test_stack_up_containers_runs_in_the_background_until_stack_down(postgres_url, redis_url, tmp_path, capsys,
                                                                      monkeypatch) -> None:
    """``stack up --containers`` returns once the stack is ready, its supervisor keeps running (status
    sees it, nginx answers), and ``stack down`` stops the supervisor, which removes its workers,
    nginx and its engine."""
    import psutil

    from harness.cli import main
    from harness.stack import state as state_mod

    nginx_or_skip()
    if unavailable_reason():
        missing("Docker engine", unavailable_reason())
    run_dir = tmp_path / "bg"
    # the supervisor records the stack where this process reads it (``from tests.conftest import`` runs
    # the conftest a second time, which moves CLOCKBENCH_STATE_DIR after the pointer was fixed)
    monkeypatch.setenv("CLOCKBENCH_STATE_DIR", str(state_mod.POINTER.parent))
    assert main(["stack", "up", "--containers", "--workers", "1", "--postgres-url", postgres_url,
                 "--redis-url", redis_url, "--timeout", "90", "--run-dir", str(run_dir)]) == 0
    printed = capsys.readouterr().out
    own = state_mod.load(run_dir / "stack.json")  # the run's own record (the pointer is checked below)
    assert own is not None
    sup = next(p for p in own.processes if p.role == "supervisor")
    try:
        st = state_mod.load()
        assert st is not None and st.run_dir == str(run_dir) and st.url in printed
        assert psutil.pid_exists(sup.pid)
        assert httpx.get(st.url + "/health", timeout=10).status_code == 200
        assert main(["stack", "status"]) == 0
    finally:
        assert main(["stack", "down"]) == 0
        if psutil.pid_exists(sup.pid):  # the pointer failed: stop the supervisor by its pid, as down would
            psutil.Process(sup.pid).terminate()
            psutil.Process(sup.pid).wait(90)
    out = capsys.readouterr().out
    assert "stopped supervisor" in out
    assert state_mod.load() is None
    assert not psutil.pid_exists(sup.pid) or psutil.Process(sup.pid).status() == psutil.STATUS_ZOMBIE
    log = (run_dir / "supervisor.log").read_text()
    assert log.rstrip().endswith("stopped")  # it cleaned up (containers, nginx, engine) before exiting
    with pytest.raises(httpx.HTTPError):
        httpx.get(st.url + "/health", timeout=2)


def test_foreground_without_containers_is_a_usage_error(capsys) -> None:
    from harness.cli import main

    assert main(["stack", "up", "--foreground"]) == 2
    assert "--foreground goes with --containers" in capsys.readouterr().err
