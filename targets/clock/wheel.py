"""A hashed timing wheel: O(1) add, cancel and re-arm, at the price of a tick's resolution.

Heartbeats and idle timeouts are armed and re-armed far more often than they fire, and a few
milliseconds late is fine for them. As in Netty's HashedWheelTimer and Kafka's timing wheel, a
deadline is rounded up to a tick and hashed into ``slots`` buckets; each tick looks at one
bucket. A deadline more than one revolution away waits in its bucket for its round.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class TimingWheel(Generic[T]):
    """Pure data structure: the caller says what time it is; nothing here reads a clock.

    Each item is kept with its exact deadline in the bucket of the tick that deadline rounds up
    to, so the wheel can hand out what is due at any instant, not only at tick boundaries: the
    scheduler decides how often to look (LiveClock coalesces its wake-ups), the wheel keeps add,
    cancel and re-arm O(1) whatever that choice.
    """

    def __init__(self, tick_ns: int, slots: int = 512, start_tick: int = 0) -> None:
        if tick_ns <= 0:
            raise ValueError(f"tick_ns must be > 0, got {tick_ns}")
        if slots <= 0:
            raise ValueError(f"slots must be > 0, got {slots}")
        self.tick_ns = tick_ns
        self._slots: list[dict[T, int]] = [{} for _ in range(slots)]  # item -> its deadline
        self._where: dict[T, int] = {}  # item -> its slot
        self.current_tick = start_tick  # every tick <= this one has been expired
        self.expired_to_ns = start_tick * tick_ns  # every deadline <= this instant has been handed out

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, item: object) -> bool:
        return item in self._where

    def tick_of(self, deadline_ns: int) -> int:
        """The first tick at or after a deadline (deadlines are rounded up, never down)."""
        return -(-deadline_ns // self.tick_ns)

    def add(self, item: T, deadline_ns: int) -> int:
        """Schedule (or move) ``item``; returns its tick. A deadline already passed goes to the next tick."""
        tick = max(self.tick_of(deadline_ns), self.current_tick + 1)
        self.remove(item)
        slot = tick % len(self._slots)
        self._slots[slot][item] = deadline_ns
        self._where[item] = slot
        return tick

    def add_new(self, item: T, deadline_ns: int) -> bool:
        """``add`` for an item known not to be in the wheel (just expired); True if it is already
        due (at or before the last instant expired): a backlog the caller may deliver at once."""
        tick = -(-deadline_ns // self.tick_ns)
        if tick <= self.current_tick:
            tick = self.current_tick + 1
        slot = tick % len(self._slots)
        self._slots[slot][item] = deadline_ns
        self._where[item] = slot
        return deadline_ns <= self.expired_to_ns

    def remove(self, item: T) -> bool:
        slot = self._where.pop(item, None)
        if slot is None or slot < 0:  # -1: in flight, taken out by the C firing loop (_cclock.c)
            return False
        del self._slots[slot][item]
        return True

    def expire(self, up_to_tick: int) -> list[T]:
        """Take out every item due by the end of ``up_to_tick``, in deadline order, then insertion order."""
        return self.expire_due(up_to_tick * self.tick_ns)

    def expire_due(self, now_ns: int) -> list[T]:
        """Take out every item whose deadline is at or before ``now_ns``, in deadline order, then
        insertion order. The bucket holding ``now_ns`` may be taken in part."""
        tick_ns = self.tick_ns
        n = len(self._slots)
        first = self.current_tick + 1
        last = min(-(-now_ns // tick_ns), first + n - 1)  # one revolution visits every slot
        done_tick = now_ns // tick_ns
        if done_tick > self.current_tick:
            self.current_tick = done_tick
        if now_ns > self.expired_to_ns:
            self.expired_to_ns = now_ns
        where = self._where
        slots = self._slots
        due: list[tuple[int, T]] = []
        for tick in range(first, last + 1):
            bucket = slots[tick % n]
            if not bucket:
                continue
            taken = [(deadline, item) for item, deadline in bucket.items() if deadline <= now_ns]
            for _, item in taken:
                del bucket[item]
                del where[item]
            due += taken
        if len(due) > 1:
            due.sort(key=_deadline_of)  # stable: ties keep insertion order; nearly sorted already
        return [item for _, item in due]

    def next_due(self, horizon_ns: int | None = None) -> int | None:
        """When to look next: the earliest deadline in the first occupied bucket after the current
        tick, or that bucket's end if it holds only items of a later lap (a look there finds
        nothing due and asks again). Costs the gap plus one bucket. With ``horizon_ns``, any
        deadline of that bucket at or before the horizon may be returned instead of the earliest:
        for a caller that will not look before the horizon anyway, the scan stops there."""
        if not self._where:
            return None
        n = len(self._slots)
        slots = self._slots
        for tick in range(self.current_tick + 1, self.current_tick + n + 1):
            bucket = slots[tick % n]
            if bucket:
                best = tick * self.tick_ns
                for deadline in bucket.values():
                    if deadline < best:
                        best = deadline
                        if horizon_ns is not None and best <= horizon_ns:
                            break
                return best
        return None  # unreachable while _where is non-empty

    def next_occupied_tick(self) -> int | None:
        """The first tick after the current one whose bucket holds anything."""
        due = self.next_due()
        return None if due is None else max(self.tick_of(due), self.current_tick + 1)

    def next_tick(self) -> int | None:
        """The earliest tick holding anything (a scan: for idle-skipping, not for the hot path)."""
        if not self._where:
            return None
        earliest = min(min(bucket.values()) for bucket in self._slots if bucket)
        return max(self.tick_of(earliest), self.current_tick + 1)


def _deadline_of(entry: tuple[int, object]) -> int:
    return entry[0]
