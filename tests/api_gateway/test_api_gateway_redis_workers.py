"""Two worker processes share one limit through the machine's real Redis, on the live clock.

Each process hammers one client's key as fast as it can; together they must accept what the limit
allows over the span they actually ran (the GCRA: the burst plus one per emission interval elapsed;
the baseline's sliding log: the limit per window), within one request. Keys carry this test's own
prefix and are removed afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from gwkit import key_prefix

from core.api_gateway.rates import Rate, expected_accepted

HERE = Path(__file__).parent
RATE = "20/10s"  # burst 20, then one every 500 ms (a window longer than the run, on a busy machine too)
REQUESTS = 120  # per worker


def _workers(build: str, redis_url: str, prefix: str) -> list[list[list[int]]]:
    """Two processes: both import and connect, then start on one signal (a line on their stdin)."""
    code = (f"import sys, json; sys.path.insert(0, {str(HERE)!r}); from gwkit import live_worker; "
            f"print(json.dumps(live_worker({build!r}, {redis_url!r}, {prefix!r}, {REQUESTS}, {RATE!r})))")  # fmt: skip
    procs = [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready", p.stderr.read() if p.stderr else ""
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr[-2000:]
        out.append(json.loads(stdout))
    return out


@pytest.mark.parametrize("build", ["clocked", "baseline"])
def test_two_workers_sharing_redis_accept_the_limit_within_one(build, redis_url) -> None:
    import redis as redis_sync

    for _attempt in range(3):  # a busy machine may run one worker entirely before the other: run again
        prefix = key_prefix()
        try:
            results = _workers(build, redis_url, prefix)
        finally:
            client = redis_sync.Redis.from_url(redis_url)
            for key in client.scan_iter(match=prefix + "*"):
                client.delete(key)
            client.close()
        spans = [(min(t for t, _ in w), max(t for t, _ in w)) for w in results]
        if max(a for a, _ in spans) < min(b for _, b in spans):
            break  # the two workers really contended: their decisions overlap in time
    else:
        pytest.fail(f"in three attempts the two workers never ran at the same time: {spans}")
    decisions = [d for worker in results for d in worker]
    assert len(decisions) == 2 * REQUESTS
    accepted = sum(a for _, a in decisions)
    first = min(t for t, _ in decisions)
    last = max(t for t, _ in decisions)
    rate = Rate.parse(RATE)
    if build == "clocked":
        expected = expected_accepted(rate, last - first)
    else:  # sliding log: the limit per window, plus what left the window if the run outlived one
        expected = rate.limit * (1 + (last - first) // rate.period_ns)
    assert accepted < 2 * REQUESTS  # really above the limit
    assert abs(accepted - expected) <= 1, f"{build}: accepted {accepted}, expected {expected} over {(last - first) / 1e6:.1f} ms"
