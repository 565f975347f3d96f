"""The wall clock stepped back 5 s under a live worker (libfaketime on the worker only, its offset
read from a control file), both builds, against the test's own PostgreSQL and Redis.

libfaketime fakes only the wall clock here (FAKETIME_DONT_FAKE_MONOTONIC=1): a real NTP step moves
CLOCK_REALTIME, never CLOCK_MONOTONIC. The worker is asyncio (epoll timeouts on the monotonic
clock), so the EINVAL that libfaketime 0.9.10 gives ``time.sleep`` in that mode does not touch it;
the test process itself is not preloaded.

Checks: the service keeps accepting orders through the step (recovery bounded), no acknowledged order
is lost, and the clocked build's receive timestamps never go backwards. The baseline's timestamps
follow the wall clock back: that jump is measured and printed, not judged (it is the plan's point).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from harness.builds import BUILDS
from harness.ports import free_port
from tests.conftest import missing
from tests.stack import faultservers
from tests.stack.test_faults import servers  # noqa: F401 - the module's own PostgreSQL and Redis

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
STEP_S = 5


def _worker(build: str, pg_url: str, redis_url: str, schema: str, offset_file: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, LD_PRELOAD=str(LIBFAKETIME), FAKETIME_TIMESTAMP_FILE=str(offset_file),
               FAKETIME_DONT_FAKE_MONOTONIC="1", FAKETIME_NO_CACHE="1")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "harness.app", "--port", str(port), "--build", build,
                             "--postgres-url", pg_url, "--redis-url", redis_url, "--db-schema", schema,
                             "--redis-prefix", f"cb:{schema}:", "--quote-ms", "100"],
                            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"the faked worker did not come up: {log.read_text()[-2000:]}")


@pytest.mark.parametrize("build", BUILDS)
def test_wall_clock_step_back(servers, build, tmp_path):  # noqa: F811
    if not LIBFAKETIME.exists():
        missing("libfaketime", f"{LIBFAKETIME} not found (apt-get install faketime)")
    pg, rd = servers
    schema = "cb_step_" + uuid.uuid4().hex[:8]
    offset = tmp_path / "offset"
    offset.write_text("+0\n")
    proc, url = _worker(build, pg.url, rd.url, schema, offset, tmp_path / "worker.log")
    acks: list[tuple[float, int, str, str]] = []  # (monotonic, receive_time_ns, order_id, client id)
    stepped_at = None
    try:
        with httpx.Client(base_url=url, timeout=10) as c:
            t_end = time.monotonic() + 6
            n = 0
            while time.monotonic() < t_end:
                n += 1
                if stepped_at is None and time.monotonic() > t_end - 4:
                    offset.write_text(f"-{STEP_S}\n")
                    stepped_at = time.monotonic()
                cid = f"s-{uuid.uuid4().hex[:10]}"
                r = c.post("/api/v1/orders", json={"client_order_id": cid, "instrument": "AAPL", "side": "BUY",
                                                  "quantity": 1 + n % 3})  # fmt: skip
                if r.status_code == 201:
                    o = r.json()
                    acks.append((time.monotonic(), o["receive_time_ns"], o["order_id"], cid))
    finally:
        proc.terminate()
        proc.wait(timeout=20)

    async def rows() -> dict[str, str]:
        conn = await asyncpg.connect(pg.url)
        try:
            return {r["client_order_id"]: r["order_id"] for r in await conn.fetch(f"SELECT * FROM {schema}.orders")}
        finally:
            await conn.close()

    stored = asyncio.run(rows())
    after = [a for a in acks if a[0] > stepped_at]
    assert after, "no order accepted after the step"
    recovery = after[0][0] - stepped_at
    back_ns = max((acks[i][1] - acks[i + 1][1] for i in range(len(acks) - 1)), default=0)
    print(f"\nclock-step[{build}]: orders {len(acks)}, first 201 after the step {recovery:.3f} s, "
          f"largest backward jump of receive_time_ns {back_ns / 1e6:.1f} ms")
    assert recovery < 5.0
    assert all(stored.get(cid) == oid for _, _, oid, cid in acks), "an acknowledged order is missing"
    if build == "clocked":
        assert back_ns <= 0, f"the clocked build's timestamps went back {back_ns} ns"
    else:
        assert back_ns > (STEP_S - 1) * 1_000_000_000, "the baseline did not see the step: was the clock faked?"
