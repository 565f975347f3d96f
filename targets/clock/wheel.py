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
    """Pure data structure: the caller says which tick it is; nothing here reads a clock."""

    def __init__(self, tick_ns: int, slots: int = 512, start_tick: int = 0) -> None:
        if tick_ns <= 0:
            raise ValueError(f"tick_ns must be > 0, got {tick_ns}")
        if slots <= 0:
            raise ValueError(f"slots must be > 0, got {slots}")
        self.tick_ns = tick_ns
        self._slots: list[dict[T, int]] = [{} for _ in range(slots)]
        self._where: dict[T, int] = {}
        self.current_tick = start_tick  # every tick <= this one has been expired

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
        self._slots[slot][item] = tick
        self._where[item] = slot
        return tick

    def add_new(self, item: T, deadline_ns: int) -> bool:
        """``add`` for an item known not to be in the wheel (just expired); True if already overdue."""
        tick = -(-deadline_ns // self.tick_ns)
        overdue = tick <= self.current_tick
        if overdue:
            tick = self.current_tick + 1
        slot = tick % len(self._slots)
        self._slots[slot][item] = tick
        self._where[item] = slot
        return overdue

    def remove(self, item: T) -> bool:
        slot = self._where.pop(item, None)
        if slot is None:
            return False
        del self._slots[slot][item]
        return True

    def expire(self, up_to_tick: int) -> list[T]:
        """Take out every item due at or before ``up_to_tick``, in deadline order, then insertion order."""
        n = len(self._slots)
        first = self.current_tick + 1
        last = min(up_to_tick, first + n - 1)  # one revolution visits every slot
        where = self._where
        if up_to_tick > self.current_tick:
            self.current_tick = up_to_tick
        if first == last:  # the common case, one tick: its bucket is already in insertion order
            bucket = self._slots[first % n]
            if not bucket:
                return []
            due_now = [item for item, item_tick in bucket.items() if item_tick <= up_to_tick]
            for item in due_now:
                del bucket[item]
                del where[item]
            return due_now
        due: list[tuple[int, int, T]] = []
        order = 0
        for tick in range(first, last + 1):
            bucket = self._slots[tick % n]
            if not bucket:
                continue
            for item, item_tick in list(bucket.items()):
                if item_tick <= up_to_tick:
                    del bucket[item]
                    del where[item]
                    due.append((item_tick, order, item))
                    order += 1
        due.sort(key=lambda entry: (entry[0], entry[1]))
        return [item for _, _, item in due]

    def next_occupied_tick(self) -> int | None:
        """The first tick after the current one whose bucket holds anything (it may hold only
        items of a later lap: a wake there finds nothing due and looks again). Costs the gap."""
        if not self._where:
            return None
        n = len(self._slots)
        slots = self._slots
        for tick in range(self.current_tick + 1, self.current_tick + n + 1):
            if slots[tick % n]:
                return tick
        return None  # unreachable while _where is non-empty

    def next_tick(self) -> int | None:
        """The earliest tick holding anything (a scan: for idle-skipping, not for the hot path)."""
        if not self._where:
            return None
        return min(min(bucket.values()) for bucket in self._slots if bucket)
