"""The wall clock stepped back 5 s under a running worker (libfaketime), both builds (issue 11, item 8).

One worker runs with Debian's libfaketime preloaded and its offset read from a file the test
rewrites (``FAKETIME_TIMESTAMP_FILE``, ``FAKETIME_NO_CACHE=1``: read at every clock call), on the
private PostgreSQL and Redis. Orders are posted one at a time, so the answers' order is the
causal order; halfway the file goes from ``+0`` to ``-5``: the process's wall clock jumps 5 s back.

``FAKETIME_DONT_FAKE_MONOTONIC=1`` keeps the monotonic clock real, as an NTP step would. With it
libfaketime 0.9.10 breaks ``time.sleep`` (EINVAL from its clock_nanosleep wrapper), but the
service does not call ``time.sleep``: asyncio waits in epoll with relative timeouts, which
libfaketime leaves alone (checked here: the worker must keep answering).

Checks: the clocked build's timestamps (the order's receive time and last update, the row's
``ts_received_ns``) and the OMS's sequence never go backwards; the baseline's receive time does go
back (by how much is printed; at least 4 s, or the step was not injected); both answer every order
(the first after the step within RECOVERY_BOUND_S), lose none, and stay healthy.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import asyncio
import httpx
import pytest

from harness.builds import BUILDS, build_map, to_args
from harness.ports import free_port
from harness.rundir import ROOT
from harness.stack import wait_healthy

from tests.conftest import missing

from .conftest import PrivateServers, stack_args

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
STEP_S = 5
RECOVERY_BOUND_S = 5.0  # the first 201 after the step (the figure is reported)
FIGURES: list[dict[str, Any]] = []


def libfaketime() -> str:
    for path in (LIBFAKETIME, "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1"):
        if Path(path).exists():
            return path
    missing("libfaketime", "no libfaketime.so.1 (Debian: apt-get install faketime)")
    raise AssertionError("unreachable")


def backwards(values: list[int]) -> int:
    """The largest drop between one value and any later one (0: never went back)."""
    worst, high = 0, None
    for v in values:
        if high is not None and high - v > worst:
            worst = high - v
        high = v if high is None else max(high, v)
    return worst


def post_orders(client: httpx.Client, url: str, tag: str, start: int, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(start, start + n):
        r = client.post(url + "/api/v1/orders", json={"client_order_id": f"fk-{tag}-{i}", "instrument": "AAPL",
                                                      "side": "BUY" if i % 2 else "SELL", "quantity": 1})  # fmt: skip
        assert r.status_code == 201, f"order {i} answered {r.status_code}: {r.text[:300]}"
        out.append(r.json())
    return out


async def rows(pg_url: str, schema: str, tag: str) -> dict[str, int]:
    conn = await asyncpg.connect(pg_url, timeout=10)
    try:
        recs = await conn.fetch(f"SELECT client_order_id, ts_received_ns FROM {schema}.orders "
                                "WHERE client_order_id LIKE $1", f"fk-{tag}-%")  # fmt: skip
    finally:
        await conn.close()
    return {r["client_order_id"]: int(r["ts_received_ns"]) for r in recs}


@pytest.mark.service("postgres")
@pytest.mark.parametrize("build", BUILDS)
def test_wall_clock_stepped_back(private_servers: PrivateServers, build: str, tmp_path: Path) -> None:
    lib = libfaketime()
    offset_file = tmp_path / "faketime-offset"
    offset_file.write_text("+0\n")
    schema = "cb_fk_" + uuid.uuid4().hex[:10]
    port = free_port("127.0.0.1")
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "harness.app", "--host", "127.0.0.1", "--port", str(port),
           *to_args(build_map(build)), "--clock", "live", "--postgres-url", private_servers.pg.url,
           "--redis-url", private_servers.redis.url, *stack_args(schema)]  # fmt: skip
    env = dict(os.environ, LD_PRELOAD=lib, FAKETIME_TIMESTAMP_FILE=str(offset_file), FAKETIME_NO_CACHE="1",
               FAKETIME_DONT_FAKE_MONOTONIC="1", PYTHONPATH=str(ROOT))  # fmt: skip
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        wait_healthy(url, 60, proc=proc, log=log)
        tag = uuid.uuid4().hex[:8]
        with httpx.Client(timeout=10) as client:
            before = post_orders(client, url, tag, 0, 40)
            offset_file.write_text(f"-{STEP_S}\n")  # the worker's wall clock: 5 s back, from its next read
            stepped = time.monotonic()
            after = post_orders(client, url, tag, 40, 1)
            recovery_s = time.monotonic() - stepped  # to the first 201 after the step (every answer is a 201)
            after += post_orders(client, url, tag, 41, 39)
            health = client.get(url + "/health")
        assert proc.poll() is None, f"the worker died under libfaketime:\n{log.read_text()[-2000:]}"
        assert health.status_code == 200, f"/health after the step: {health.status_code} {health.text[:300]}"
        answers = before + after
        db = asyncio.run(rows(private_servers.pg.url, schema, tag))
        assert len(db) == len(answers), f"{len(answers)} orders acknowledged, {len(db)} rows"
        in_order = [db[a["client_order_id"]] for a in answers]
        fig = {
            "build": build, "fault": "wall_clock_step_back", "step_s": -STEP_S, "orders": len(answers),
            "receive_time_back_ms": backwards([a["receive_time_ns"] for a in answers]) / 1e6,
            "last_update_back_ms": backwards([a["last_update_ns"] for a in answers]) / 1e6,
            "sequence_back": backwards([a["sequence"] for a in answers]),
            "db_ts_received_back_ms": backwards(in_order) / 1e6, "recovery_s": round(recovery_s, 3),
        }  # fmt: skip
        FIGURES.append(fig)
        # the step really reached the process: its wall clock now reads about 5 s behind ours
        # (the row's ``seq`` is the order of the row's *last* write, so a later fill of an earlier order
        # outranks a newer order's insert: not an order of acceptance, not checked here)
        assert fig["sequence_back"] == 0, f"the OMS's sequence went backwards: {fig}"
        assert recovery_s < RECOVERY_BOUND_S, f"the first order after the step took {recovery_s:.1f} s: {fig}"
        if build == "clocked":
            assert fig["receive_time_back_ms"] == 0 and fig["last_update_back_ms"] == 0, f"clocked went back: {fig}"
            assert fig["db_ts_received_back_ms"] == 0, f"clocked rows went back: {fig}"
            # the clocked build holds its last value until the wall clock passes it: the receive times
            # after the step sit at or above the last one before it (a plateau, not a reversal)
            assert after[0]["receive_time_ns"] >= before[-1]["receive_time_ns"]
        else:
            # the fault was injected: the baseline (time.time_ns directly) follows the wall clock back
            assert fig["receive_time_back_ms"] >= (STEP_S - 1) * 1000, f"the step did not show in the baseline: {fig}"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
