"""How long the WebSocket clients stay after the measured window (harness/wsload.py): the dead
peers, silent from a third into the window, must still be closed by the server before they leave."""

from __future__ import annotations

import pytest

from harness.wsload import settle_after_window_ms

MS = 1_000_000


@pytest.mark.parametrize("window_s", [3.0, 10.0, 30.0])
def test_the_clients_stay_until_every_dead_peer_can_be_closed(window_s: float) -> None:
    timeout, grace = 5_000 * MS, 500 * MS
    settle = settle_after_window_ms(window_s, timeout, grace, dead_peers=True)
    silent_at = window_s * 1000 / 3  # ms into the window (wsload.run's silent_at)
    assert window_s * 1000 + settle >= silent_at + (timeout + grace) / MS + 1500 - 1
    assert settle >= grace / MS + 1000  # and the last heartbeat promised in the window can arrive


def test_without_dead_peers_only_the_last_heartbeat_is_waited_for() -> None:
    assert settle_after_window_ms(10.0, 5_000 * MS, 500 * MS, dead_peers=False) == 1500
    # --quick's 10 s window: 1.5 s, where the settle counted from the window's end was 7 s
    assert settle_after_window_ms(10.0, 5_000 * MS, 500 * MS, dead_peers=True) == 1500
