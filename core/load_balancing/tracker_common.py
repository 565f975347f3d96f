"""What both connection trackers share: the tracked connections, their count and their idle deadline.

Each build keeps its own ``_Conn`` record (the clocked one stamps ns from the clock, the baseline
float seconds from ``time.time()``) and says how to read its idle start in ns (``_idle_since_ns``).
"""

from __future__ import annotations

from typing import Any


class ConnectionTrackerBase:
    def __init__(self, idle_timeout_ns: int) -> None:
        if not isinstance(idle_timeout_ns, int) or idle_timeout_ns <= 0:
            raise ValueError(f"idle_timeout_ns must be a positive int, got {idle_timeout_ns!r}")
        self.idle_timeout_ns = idle_timeout_ns
        self.closed_idle = 0  # connections closed for idleness
        self.lateness_ns: list[int] = []  # for each close: actual close time minus its deadline
        self._conns: dict[object, Any] = {}

    def _idle_since_ns(self, conn: Any) -> int:  # pragma: no cover - defined by each build
        raise NotImplementedError

    def busy(self, conn_id: object) -> None:
        conn = self._conns.get(conn_id)
        if conn is not None:
            conn.busy = True  # a clocked timer already armed notices when it fires

    def open_count(self, kind: str | None = None) -> int:
        return sum(1 for c in self._conns.values() if kind is None or c.kind == kind)

    def deadline_ns(self, conn_id: object) -> int | None:
        conn = self._conns.get(conn_id)
        if conn is None or conn.busy:
            return None
        return self._idle_since_ns(conn) + self.idle_timeout_ns
