"""The peer's view of a WebSocket's heartbeats: what a client saw, judged (pure, no I/O).

Each heartbeat announces ``next_heartbeat``, the server's promise of the next one. A client that
trusts the promise gives up on the server when the next heartbeat is later than the promise plus
a grace (``grace_ns``): that is the client's timeout, and a heartbeat after it, or never, is a
broken promise that makes a real client drop the connection and reconnect.

A connection is **stable** over a measured window when it stayed open through the whole window
(nothing closed it) and every heartbeat promised inside the window arrived before the client's
timeout. This is what the plan's "connection stability" means to a user: no drop, and no
reason for the client to drop.

Times are int nanoseconds on one machine's wall clock: server and clients share it, so an
arrival and a promise compare directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass
class PeerLog:
    """One connection as its client saw it."""

    conn: str
    beats: list[tuple[int, int, int]] = field(default_factory=list)  # (arrived_ns, timestamp_ns, next_heartbeat_ns)
    opened_ns: int | None = None
    closed_ns: int | None = None  # when the client saw the connection end (None: still open)
    close_code: int | None = None
    close_reason: str = ""

    def add(self, arrived_ns: int, timestamp_ns: int, next_ns: int) -> None:
        self.beats.append((arrived_ns, timestamp_ns, next_ns))


@dataclass(frozen=True)
class ConnectionView:
    """The figures of one connection over a window."""

    due: int  # heartbeats promised inside the window (promise + grace before the window's end)
    on_time: int  # of those, arrived before the client's timeout (promise + grace)
    lateness_ns: tuple[int, ...]  # arrival minus promise, for each promised heartbeat that arrived
    closed_in_window: bool
    stable: bool


def view(log: PeerLog, window: tuple[int, int], grace_ns: int) -> ConnectionView:
    """Judge one connection over ``window`` = (start_ns, end_ns)."""
    if grace_ns < 0:
        raise ValueError(f"grace_ns must be >= 0, got {grace_ns}")
    start, end = window
    if end <= start:
        raise ValueError(f"empty window {window}")
    beats = sorted(log.beats)
    due = on_time = 0
    lateness: list[int] = []
    for i, (_, _, promise) in enumerate(beats):
        if not start <= promise <= end - grace_ns:
            continue
        due += 1
        if i + 1 < len(beats):
            arrived = beats[i + 1][0]
            lateness.append(arrived - promise)
            if arrived <= promise + grace_ns:
                on_time += 1
    closed = log.closed_ns is not None and log.closed_ns <= end
    opened_in_time = log.opened_ns is None or log.opened_ns <= start
    stable = opened_in_time and not closed and on_time == due and due > 0
    return ConnectionView(due, on_time, tuple(lateness), closed, stable)


def quantile(sorted_values: Sequence[int], q: float) -> int | None:
    """Nearest-rank quantile of sorted values (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, -(-int(q * 1_000_000) * len(sorted_values) // 1_000_000))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(logs: Iterable[PeerLog], window: tuple[int, int], grace_ns: int) -> dict:
    """Figures over many connections: stable share, heartbeats on time, lateness quantiles, closes."""
    views = [view(log, window, grace_ns) for log in logs]
    lateness = sorted(x for v in views for x in v.lateness_ns)
    due = sum(v.due for v in views)
    on_time = sum(v.on_time for v in views)
    stable = sum(v.stable for v in views)
    return {
        "connections": len(views),
        "stable": stable,
        "stable_share": stable / len(views) if views else None,
        "closed_in_window": sum(v.closed_in_window for v in views),
        "heartbeats_due": due,
        "heartbeats_on_time": on_time,
        "on_time_share": on_time / due if due else None,
        "heartbeats_arrived": len(lateness),
        "lateness_p50_ns": quantile(lateness, 0.50),
        "lateness_p99_ns": quantile(lateness, 0.99),
        "lateness_max_ns": lateness[-1] if lateness else None,
        "grace_ns": grace_ns,
        "window_ns": window[1] - window[0],
    }
