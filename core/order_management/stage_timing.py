"""Per-order stage timestamps and per-stage latency histograms (pure: every time is given).

An order passes through RECEIVED, SEQUENCED, ROUTED, ACKNOWLEDGED, FILLED and SETTLED. The
latency of a stage is the time from the previous stage to it; ``received->filled`` is the whole
trip. Latencies are appended to integer-ns lists on the hot path (a list append) and folded
into HdrHistograms only when a report asks, because recording into an HdrHistogram costs more
than a microsecond and would distort the very latency it measures.
"""

from __future__ import annotations

from hdrh.histogram import HdrHistogram

from core.units import NS_PER_DAY

RECEIVED, SEQUENCED, ROUTED, ACKNOWLEDGED, FILLED, SETTLED = range(6)
STAGES = ("received", "sequenced", "routed", "acknowledged", "filled", "settled")
# transition i (1..5) is stage i-1 -> stage i; index 6 is received -> filled
TRANSITIONS = tuple(f"{STAGES[i - 1]}->{STAGES[i]}" for i in range(1, 6)) + ("received->filled",)
_TOTAL = 5
HIST_MAX_NS = 7 * NS_PER_DAY  # a week: settlement latencies are days long


class StageTimes:
    """Stamps for every order seen, and the latency lists and histograms derived from them."""

    def __init__(self) -> None:
        self._stamps: dict[str, list[int | None]] = {}
        self._lat: list[list[int]] = [[] for _ in TRANSITIONS]
        self._hists = [HdrHistogram(1, HIST_MAX_NS, 3) for _ in TRANSITIONS]
        self._folded = [0] * len(TRANSITIONS)

    def record(self, order_id: str, stage: int, ts_ns: int) -> None:
        """Stamp ``stage`` of ``order_id`` at ``ts_ns`` (a repeated stamp is ignored: first wins)."""
        s = self._stamps.get(order_id)
        if s is None:
            s = self._stamps[order_id] = [None, None, None, None, None, None]
        elif s[stage] is not None:
            return
        s[stage] = ts_ns
        if stage:
            prev = s[stage - 1]
            if prev is not None:
                self._lat[stage - 1].append(ts_ns - prev)
            if stage == FILLED and s[RECEIVED] is not None:
                self._lat[_TOTAL].append(ts_ns - s[RECEIVED])  # type: ignore[operator]

    def stamps(self, order_id: str) -> dict[str, int]:
        """The stages ``order_id`` has reached, by name, with their times."""
        s = self._stamps.get(order_id)
        if s is None:
            raise KeyError(f"no stage times for order {order_id!r}")
        return {STAGES[i]: t for i, t in enumerate(s) if t is not None}

    def latencies(self, transition: str) -> list[int]:
        """Raw latencies (ns) of one transition, e.g. ``"routed->acknowledged"``, in order recorded."""
        return list(self._lat[self._index(transition)])

    def histogram(self, transition: str) -> HdrHistogram:
        i = self._index(transition)
        pending = self._lat[i]
        h = self._hists[i]
        for v in pending[self._folded[i]:]:
            h.record_value(min(v, HIST_MAX_NS))
        self._folded[i] = len(pending)
        return h

    def summary(self) -> dict[str, dict[str, int]]:
        """Per transition: count, p50, p90, p99, max (ns); transitions never seen are left out."""
        out: dict[str, dict[str, int]] = {}
        for name in TRANSITIONS:
            h = self.histogram(name)
            n = h.get_total_count()
            if n:
                out[name] = {
                    "count": n,
                    "p50_ns": h.get_value_at_percentile(50),
                    "p90_ns": h.get_value_at_percentile(90),
                    "p99_ns": h.get_value_at_percentile(99),
                    "max_ns": h.get_max_value(),
                }
        return out

    def forget(self, order_id: str) -> None:
        """Drop an order's stamps (its latencies stay in the lists and histograms)."""
        self._stamps.pop(order_id, None)

    def __len__(self) -> int:
        return len(self._stamps)

    @staticmethod
    def _index(transition: str) -> int:
        try:
            return TRANSITIONS.index(transition)
        except ValueError:
            raise KeyError(f"unknown transition {transition!r}; known: {', '.join(TRANSITIONS)}") from None
