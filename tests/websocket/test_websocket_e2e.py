"""End to end, both builds: 1,000 real WebSocket clients through nginx to the service's /ws/market.

Every heartbeat promised inside the window must arrive, no live client may be closed, and every
dead peer (two that stop reading and acking, two frozen with SIGSTOP) must be closed by the
connection controller after its timeout, never before, and within a slack of its deadline that
holds on a busy 2-core machine. Timing figures are measured by ``clockbench run``, not asserted.
"""

from __future__ import annotations

import pytest

from harness import wsload
from harness.stack import running
from tests.stack.conftest import nginx_or_skip

MS = 1_000_000
HEARTBEAT_MS, PEER_TIMEOUT_MS = 500, 4_000  # the peer timeout: 8 heartbeats, room for a starved client process
SLACK_NS = 1_500 * MS  # how far past its deadline a dead peer may be closed on a loaded machine
CONNECTIONS = 1_000


@pytest.mark.parametrize("build", ["clocked", "baseline"])
def test_thousand_real_connections_every_heartbeat_arrives_and_dead_peers_are_closed(
    build, postgres_url, redis_url, tmp_path
):
    nginx_or_skip()
    args = ["--heartbeat-ms", str(HEARTBEAT_MS), "--ws-peer-timeout-ms", str(PEER_TIMEOUT_MS)]
    with running(build=build, workers=1, nginx=True, postgres_url=postgres_url, redis_url=redis_url,
                 service_args=args, nginx_worker_connections=4096, run_dir=tmp_path / "stack",
                 write_pointer=False) as s:  # fmt: skip
        pids = [p.pid for p in s.state.processes if p.role.startswith("worker")]
        fig = wsload.run(s.url, s.worker_urls, pids, CONNECTIONS, processes=2, window_s=3.0,
                         grace_ns=HEARTBEAT_MS * MS // 2, peer_timeout_ns=PEER_TIMEOUT_MS * MS,
                         stop_reading=2, vanish=2, out=tmp_path / "clients")  # fmt: skip
    assert fig["connect_failures"] == 0
    assert fig["connections"] == CONNECTIONS - 2  # the two that stop reading are judged apart
    assert fig["heartbeats_due"] >= CONNECTIONS * 3  # ~5 promises per connection in a 3 s window (fewer if beats drift)
    assert fig["heartbeats_arrived"] == fig["heartbeats_due"], wsload.describe(fig)
    assert fig["false_disconnects"] == 0 and fig["closed_in_window"] == 0, fig["close_codes"]
    assert fig["dead_peers"] == 4 and fig["dead_peers_not_closed"] == [] and fig["dead_peers_gone_before_silence"] == []
    assert len(fig["dead_peer_over_deadline_ns"]) == 4
    assert all(0 <= x <= SLACK_NS for x in fig["dead_peer_over_deadline_ns"]), fig["dead_peer_over_deadline_ns"]
