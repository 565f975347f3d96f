"""TestClock: time that moves only when told, so every run of a scenario is the same."""

from __future__ import annotations

import gc
import heapq
from collections.abc import Callable

from . import _impl
from .base import ClockBase
from .events import Call, TimeEvent, Timer


def _seq_of(entry: tuple[int, object, int]) -> int:
    return entry[0]


class TestClock(ClockBase):
    """A clock whose time is set by the caller.

    ``advance_time`` fires every due timer, alert and sleeper in time order (ties in the order
    they were set); each callback sees the clock at its own event's time. Everything it does is
    a pure function of the calls made, hence bit-for-bit reproducible.
    """

    __test__ = False  # not a pytest test class, despite the name
    kind = "test"

    def __init__(self, start_time_ns: int = 0) -> None:
        super().__init__()
        if not isinstance(start_time_ns, int) or start_time_ns < 0:
            raise ValueError(f"start_time_ns must be an int >= 0, got {start_time_ns!r}")
        self._time = start_time_ns
        # A calendar queue: a heap of distinct due times, and for each one a bucket of entries
        # (seq, item, gen) in set order. Timers sharing a deadline (a thousand 1 s heartbeats)
        # cost one heap operation per deadline, not one per timer. item is a Timer or a Call;
        # gen guards against a cancelled or re-used timer's stale entry.
        self._due_heap: list[int] = []
        self._buckets: dict[int, list[tuple[int, Timer | Call, int]]] = {}
        self._advancing = False
        # With the C implementation in use when the clock is made, the queue and the firing loop
        # are _cclock.TimerQueue's instead: one heap of int64 (due, seq) keys, the same order.
        # The clock keeps the implementation it was made with (its pending firings live in one).
        new_queue = _impl.new_queue
        self._cq = new_queue() if new_queue is not None else None

    # --- reading -------------------------------------------------------------------------
    def timestamp_ns(self) -> int:
        return self._time

    def monotonic_ns(self) -> int:
        return self._time

    # --- scheduler -----------------------------------------------------------------------
    def _push(self, due: int, entry: tuple[int, Timer | Call, int]) -> None:
        if self._cq is not None:
            self._cq.push(due, entry[0], entry[1], entry[2])
            return
        bucket = self._buckets.get(due)
        if bucket is None:
            self._buckets[due] = [entry]
            heapq.heappush(self._due_heap, due)
        else:
            bucket.append(entry)

    def _arm(self, timer: Timer) -> None:
        # An alert allowed in the past fires at the current time (time never runs backwards).
        self._push(max(timer.next_ns, self._time), (timer.seq, timer, timer.gen))

    _rearm = _arm

    def _disarm(self, timer: Timer) -> None:
        pass  # its entry goes stale through timer.gen

    def _call_at(self, time_ns: int, fn: Callable[[], object]) -> Call:
        call = Call(fn)
        self._push(max(time_ns, self._time), (self._next_seq(), call, 0))
        return call

    def _live(self, entry: tuple[int, Timer | Call, int]) -> bool:
        item = entry[1]
        if item.__class__ is Call:
            return not item.cancelled  # type: ignore[union-attr]
        return entry[2] == item.gen and self._timers.get(item.name) is item  # type: ignore[union-attr]

    def next_deadline_ns(self) -> int | None:
        """The earliest pending firing of any timer, alert or sleeper, or None."""
        if self._cq is not None:
            return self._cq.next_due(self._timers)
        heap, buckets = self._due_heap, self._buckets
        while heap:
            due = heap[0]
            if any(self._live(entry) for entry in buckets[due]):
                return due
            heapq.heappop(heap)
            del buckets[due]
        return None

    def advance_time(self, to_time_ns: int) -> list[TimeEvent]:
        """Move time forward to ``to_time_ns``, firing what falls due; returns the events fired."""
        cq = self._cq
        if cq is not None and to_time_ns.__class__ is int:  # the same loop in C, with the same checks
            return cq.advance(self, to_time_ns, self._timers)
        if not isinstance(to_time_ns, int) or isinstance(to_time_ns, bool):
            raise TypeError(f"to_time_ns must be an int of nanoseconds, got {type(to_time_ns).__name__}")
        if to_time_ns < self._time:
            raise ValueError(f"time cannot move backwards: now {self._time}, asked for {to_time_ns}")
        if self._advancing:
            raise RuntimeError("advance_time() called from inside a timer callback")
        if cq is not None:  # an int subclass: the C loop takes a plain int
            return cq.advance(self, int(to_time_ns), self._timers)
        heap = self._due_heap
        if not heap or heap[0] > to_time_ns:  # nothing falls due: the common small step
            self._time = to_time_ns
            return []
        self._advancing = True
        # The cyclic collector is paused for the advance: the events are cycle-free, but as tuple
        # subclasses CPython 3.11 never untracks them, and rescanning a long advance's list of them
        # cost a third of its time. Cycles a callback makes are collected after the advance.
        collecting = gc.isenabled()
        if collecting:
            gc.disable()
        fired: list[TimeEvent] = []
        append = fired.append
        buckets = self._buckets
        timers = self._timers
        heappop = heapq.heappop
        heappush = heapq.heappush
        new_event = tuple.__new__
        eid = self._event_id
        try:
            # The hot loop of every simulation: the logic of ClockBase._fire, inlined.
            while heap and heap[0] <= to_time_ns:
                due = heappop(heap)
                bucket = buckets.pop(due)
                if len(bucket) > 1:
                    bucket.sort(key=_seq_of)  # nearly sorted already: a linear pass
                self._time = due
                for entry in bucket:
                    seq, item, gen = entry
                    if item.__class__ is Call:
                        if not item.cancelled:  # type: ignore[union-attr]
                            try:
                                item.fn()  # type: ignore[union-attr]
                            except BaseException:
                                self._requeue(due, bucket, entry)
                                raise
                        continue
                    if gen != item.gen:  # type: ignore[union-attr]
                        continue  # cancelled (cancel_timer bumps gen; a finished timer leaves no entry)
                    eid += 1
                    event = new_event(TimeEvent, (item.name, eid, item.next_ns, due))  # type: ignore[union-attr]
                    interval = item.interval_ns  # type: ignore[union-attr]
                    stop = item.stop_ns  # type: ignore[union-attr]
                    if interval and (stop is None or due + interval <= stop):
                        nxt = item.next_ns = due + interval  # type: ignore[union-attr]
                        nb = buckets.get(nxt)
                        if nb is None:
                            buckets[nxt] = [entry]  # same (seq, item, gen): re-used as is
                            heappush(heap, nxt)
                        else:
                            nb.append(entry)
                    else:
                        del timers[item.name]  # type: ignore[union-attr]
                    try:
                        item.callback(event)  # type: ignore[union-attr]
                    except BaseException:
                        self._requeue(due, bucket, entry)
                        raise
                    append(event)
            self._time = to_time_ns
        finally:
            self._event_id = eid
            self._advancing = False
            if collecting:
                gc.enable()
        return fired

    def _requeue(self, due: int, bucket: list[tuple[int, Timer | Call, int]], entry: tuple[int, Timer | Call, int]) -> None:
        """A callback raised: keep what its bucket has not fired yet, so the clock stays consistent."""
        rest = bucket[bucket.index(entry) + 1 :]
        if rest:
            if due in self._buckets:
                self._buckets[due][:0] = rest
            else:
                self._buckets[due] = rest
                heapq.heappush(self._due_heap, due)

    def advance_by(self, duration_ns: int) -> list[TimeEvent]:
        return self.advance_time(self._time + duration_ns)

    def set_time(self, time_ns: int) -> list[TimeEvent]:
        """Same as ``advance_time``: setting the time never skips what fell due on the way."""
        return self.advance_time(time_ns)
