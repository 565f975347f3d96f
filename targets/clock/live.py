"""LiveClock: real time for production, with all timers served by one scheduler per loop.

Reading: ``timestamp_ns()`` is the system's wall clock (``time.time_ns``), clamped so that it
never goes backwards inside a process: if the wall clock is stepped back (NTP, an operator),
the clock holds its last value until the wall clock passes it again, so timestamps plateau
rather than reverse. (Across threads, two overlapping calls may return in either order; each
value is still one the wall clock held during its own call.) Deadlines and durations follow
``time.monotonic_ns`` and are unaffected by wall-clock steps.

Scheduling: exact timers and alerts sit in one heap keyed on (monotonic deadline, set order),
served by a single loop callback re-armed for the earliest deadline; coarse timers sit in their
own store (with their exact deadlines) served by one callback, woken when the earliest deadline
falls due but at most once per wake gap, so a beat is at most that gap late plus the look's
overrun (the loop's wake-up latency and the time to fire the beats before it). By default the gap
is what one tick leaves after the recent peak overrun (``wake_gap_for``): wide on an idle
machine, where each wake-up saved is most of a heartbeat's CPU, half a tick on a busy one.
10,000 timers cost two loop handles, not 10,000 tasks. With the C accelerator the coarse store is
a TimerQueue (a heap plus a FIFO lane per interval, fired in C) and the look is woken by a timerfd
on Linux; the pure twin keeps a hashed timing wheel (``wheel.py``) woken by ``call_later``.
The reads run in C too when it is built (``_impl.py``).
"""

from __future__ import annotations

import asyncio
import heapq
import os
import time
import weakref
from collections.abc import Callable

from . import _impl
from .base import ClockBase
from .events import Call, TimeEvent, Timer
from .loop import VirtualTimeLoop
from .units import NANOS_IN_MILLISECOND, NANOS_IN_SECOND
from .wheel import TimingWheel

_monotonic_ns = time.monotonic_ns
_REAL_MONOTONIC_NS = time.monotonic_ns  # CLOCK_MONOTONIC, the timerfd's clock (tests replace _monotonic_ns)
_OFFSET_SLACK_NS = NANOS_IN_MILLISECOND

# The never-backwards readings: C or pure Python, as _impl decides (re-bound on a switch).
live_timestamp_ns = _impl.timestamp_ns
live_utc_now = _impl.utc_now


class LiveClock(ClockBase):
    """Real time. ``tick_ns`` and ``wheel_slots`` shape the coarse timers' wheel."""

    kind = "live"
    timestamp_ns = staticmethod(live_timestamp_ns)
    utc_now = staticmethod(live_utc_now)
    monotonic_ns = staticmethod(_monotonic_ns)

    def __init__(
        self,
        *,
        tick_ns: int = 10 * NANOS_IN_MILLISECOND,
        wheel_slots: int = 512,
        loop: asyncio.AbstractEventLoop | None = None,
        wake_gap_ns: int | None = None,
    ) -> None:
        super().__init__()
        # Coarse timers: the wheel's tick is their bookkeeping grain and their lateness bound; the
        # wheel is looked at when its earliest deadline falls due, but at most once per wake gap,
        # so a beat is late by up to the gap plus the look's overrun (the loop's wake-up latency,
        # asyncio's whole-millisecond epoll timeout, and the time to fire the beats due before it).
        # Each look costs a loop wake-up (50-100 us of CPU on this 2-core VM, most of a clocked
        # heartbeat's CPU), so the gap should take whatever of the tick the overrun leaves:
        # wake_gap_ns=None (the default) does that from the overruns measured (wake_gap_for);
        # a number fixes the gap (a fixed half tick left half of the lateness budget unused on an
        # idle machine and paid 200 wake-ups a second for it).
        self.adaptive_gap = wake_gap_ns is None
        self.wake_gap_ns = wake_gap_for(tick_ns, 0) if wake_gap_ns is None else wake_gap_ns
        if not 0 <= self.wake_gap_ns <= tick_ns:  # past a tick, "at most one tick late" would not hold
            raise ValueError(f"wake_gap_ns must be between 0 and tick_ns ({tick_ns}), got {wake_gap_ns}")
        self.overrun_ns = 0  # the estimate the gap is given: the decaying second-highest overrun (_on_tick)
        self._overrun_top = 0  # the decaying highest overrun, which the estimate does not follow alone
        self.looks = 0  # how many times the wheel was looked at: one loop wake-up each
        self._tick_planned: int | None = None  # when the pending look should start (not before it was set)
        self._loop = loop
        self._heap: list[tuple[int, int, Timer | Call, int]] = []
        self._wake_handle: asyncio.TimerHandle | None = None
        self._wake_due: int | None = None
        # The coarse timers' store, kept for the clock's life: with the C accelerator a TimerQueue
        # (a heap for first firings plus a FIFO lane per interval, _cclock.c: a heartbeat's firing
        # is a pop and an append), else the hashed timing wheel (its pure twin).
        new_queue = _impl.new_queue
        self._coarse_q = new_queue() if new_queue is not None else None
        self._wheel: TimingWheel[Timer] = TimingWheel(tick_ns, wheel_slots, _monotonic_ns() // tick_ns)
        self._tick_handle: asyncio.TimerHandle | None = None
        self._wake_fd: int | None = None  # the wheel's timerfd, when it is woken by one (_wake_fd_on)
        self._wake_fd_loop: asyncio.AbstractEventLoop | None = None  # the loop it is a reader of
        self._wake_fd_arm: Callable[[int, int | None], None] = _no_fd_arm
        self._offset: int | None = None  # wall minus monotonic, see _to_monotonic
        self._tick_at: int | None = None  # the monotonic instant the pending wheel wake is for
        self._ticking = False
        self.tick_ns = tick_ns

    # --- scheduling plumbing -------------------------------------------------------------
    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed():
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                raise RuntimeError(
                    "LiveClock timers run on an asyncio loop: set them from inside a running loop "
                    "(an async function), or pass loop= to LiveClock"
                ) from None
        return self._loop

    def _to_monotonic(self, wall_ns: int) -> int:
        """A wall-clock instant as a monotonic deadline, through one offset that moves only when
        the wall clock really moved against the monotonic one (by more than 1 ms): the jitter
        between two reads must not put timers due at the same instant out of their set order."""
        offset = live_timestamp_ns() - _monotonic_ns()
        if self._offset is None or abs(offset - self._offset) > _OFFSET_SLACK_NS:
            self._offset = offset
        return wall_ns - self._offset

    def _arm(self, timer: Timer) -> None:
        loop = self._get_loop()
        # Convert the wall-clock schedule to a monotonic deadline once; later firings add the
        # interval to it, so a wall-clock step never bends the schedule.
        timer.due = self._to_monotonic(timer.next_ns)
        self._place(timer, loop)

    def _rearm(self, timer: Timer) -> None:
        self._place(timer, self._get_loop())

    def _place(self, timer: Timer, loop: asyncio.AbstractEventLoop) -> None:
        if timer.coarse:
            if self._coarse_q is not None:
                self._coarse_q.push(timer.due, timer.seq, timer, timer.gen)
            else:
                self._wheel.add(timer, timer.due)
            if not self._ticking and (self._tick_at is None or timer.due < self._tick_at):
                self._schedule_tick(loop, timer.due)
        else:
            heapq.heappush(self._heap, (timer.due, timer.seq, timer, timer.gen))
            self._schedule_wake(loop, timer.due)

    def _disarm(self, timer: Timer) -> None:
        if timer.coarse:
            if self._coarse_q is not None:
                self._coarse_q.discard()  # its entry is skipped through timer.gen (bumped by the cancel)
            else:
                self._wheel.remove(timer)
        # heap entries go stale through timer.gen

    def _call_at(self, time_ns: int, fn: Callable[[], object]) -> Call:
        loop = self._get_loop()
        call = Call(fn)
        due = self._to_monotonic(time_ns)
        heapq.heappush(self._heap, (due, self._next_seq(), call, 0))
        self._schedule_wake(loop, due)
        return call

    def _schedule_wake(self, loop: asyncio.AbstractEventLoop, due: int) -> None:
        if self._wake_due is not None and self._wake_due <= due:
            return
        if self._wake_handle is not None:
            self._wake_handle.cancel()
        self._wake_due = due
        delay = max(0, due - _monotonic_ns()) / NANOS_IN_SECOND
        self._wake_handle = loop.call_later(delay, self._on_wake)

    def _on_wake(self) -> None:
        self._wake_handle = None
        self._wake_due = None
        heap = self._heap
        timers = self._timers
        now = _monotonic_ns()
        while heap and heap[0][0] <= now:
            _, _, item, gen = heapq.heappop(heap)
            if item.__class__ is Call:
                if not item.cancelled:  # type: ignore[union-attr]
                    self._guarded(item.fn)  # type: ignore[union-attr]
                continue
            if gen != item.gen or timers.get(item.name) is not item:  # type: ignore[union-attr]
                continue
            self._deliver(item)  # type: ignore[arg-type]
        if heap:
            self._schedule_wake(self._get_loop(), heap[0][0])

    def _schedule_tick(self, loop: asyncio.AbstractEventLoop, at_ns: int) -> None:
        """Look at the wheel at monotonic ``at_ns`` (an idle wheel costs nothing between its deadlines)."""
        self._tick_at = at_ns
        now = _monotonic_ns()
        self._tick_planned = at_ns if at_ns > now else now
        if self._wake_fd_on(loop):
            self._wake_fd_arm(self._wake_fd, at_ns)
            return
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        self._tick_handle = loop.call_later((at_ns - now) / NANOS_IN_SECOND if at_ns > now else 0, self._on_tick)

    def _wake_fd_on(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether the wheel is woken by its timerfd on ``loop`` (registering it there on first use).

        asyncio's call_later wakes late by up to 2 ms: the selector rounds the epoll timeout up to
        a whole millisecond, in floating point (9 * 1e-3 is 0.009000000000000001 s), and epoll
        rounds that up once more (10 ms). A look woken ~1.3 ms late at the median leaves that much
        less of the tick to the wake gap, so more looks per second for the same lateness bound.
        A timerfd on CLOCK_MONOTONIC wakes the loop at the planned nanosecond. Only with the C
        accelerator on Linux, a selector loop, and real time (not a VirtualTimeLoop, nor a
        monotonic clock replaced by a test); otherwise call_later, as the pure twin does."""
        if self._wake_fd_loop is loop:
            return True
        arm = _impl.wake_fd_arm
        if arm is None or _monotonic_ns is not _REAL_MONOTONIC_NS or isinstance(loop, VirtualTimeLoop):
            return False
        if self._wake_fd is None:
            self._wake_fd = _impl.wake_fd_new()  # type: ignore[misc]
            self._wake_fd_arm = arm  # kept: a later switch of implementation must not strand the fd
            weakref.finalize(self, os.close, self._wake_fd)
        old = self._wake_fd_loop
        try:
            loop.add_reader(self._wake_fd, self._on_tick)
        except NotImplementedError:  # a proactor loop: no readers
            return False
        if old is not None and not old.is_closed():
            old.remove_reader(self._wake_fd)
        self._wake_fd_loop = loop
        if self._tick_handle is not None:  # a wake planned with call_later before: the fd serves now
            self._tick_handle.cancel()
            self._tick_handle = None
        return True

    def _cancel_tick(self) -> None:
        """No look pending: nothing coarse is armed (or all was cancelled)."""
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        loop = self._wake_fd_loop
        if loop is not None:
            # Disarmed (an expired timerfd stays readable) and off the loop: a reader would keep
            # this clock alive as long as the loop, where an idle call_later clock leaves nothing.
            self._wake_fd_arm(self._wake_fd, None)
            if not loop.is_closed():
                loop.remove_reader(self._wake_fd)
            self._wake_fd_loop = None
        self._tick_at = self._tick_planned = None

    def _on_tick(self) -> None:
        planned = self._tick_planned
        self._tick_handle = None
        self._tick_at = self._tick_planned = None
        self._ticking = True  # re-arms during delivery must not schedule wakes of their own
        self.looks += 1
        now = _monotonic_ns()
        nxt: int | None = -1  # -1: not known yet
        queue = self._coarse_q
        try:
            if queue is not None:  # the C loop (_cclock.c: TimerQueue.fire_live) returns the next due
                nxt = queue.fire_live(self, now)
            else:
                nxt = self._fire_coarse(self._wheel, now)
        finally:
            self._ticking = False
            if nxt == -1:
                nxt = queue.next_due(self._timers) if queue is not None else self._wheel.next_due()
            if self.adaptive_gap and planned is not None:
                # The overrun of this look: from when it was planned to the last beat it delivered.
                end = _monotonic_ns()
                self._overrun_top, self.overrun_ns = overrun_peaks(self._overrun_top, self.overrun_ns, end - planned)
                self.wake_gap_ns = wake_gap_for(self.tick_ns, self.overrun_ns)
            else:
                end = now
            if nxt is not None:
                # Coalesce: at most one look per wake gap, however dense the deadlines.
                at = nxt if nxt > now + self.wake_gap_ns else now + self.wake_gap_ns
                if self._wake_fd_loop is not None and self._wake_fd_loop is self._loop:
                    # the timerfd's path of _schedule_tick, inlined: a look's own Python is part of
                    # every heartbeat's CPU (~30 us of cold code per look at load 15)
                    self._tick_at = at
                    self._tick_planned = at if at > end else end
                    self._wake_fd_arm(self._wake_fd, at)
                else:
                    self._schedule_tick(self._get_loop(), at)
            elif self._wake_fd_loop is not None:
                self._cancel_tick()  # an expired timerfd stays readable: disarm it

    def _fire_coarse(self, wheel: TimingWheel[Timer], now: int) -> int | None:
        """The heartbeat hot path: ClockBase._fire inlined for coarse timers (pure-Python twin
        of _cclock.c's TimerQueue.fire_live); returns the next deadline to look at."""
        timers = self._timers
        new_event = tuple.__new__
        for timer in wheel.expire_due(now):
            # Deliver every firing due by now: after a stalled loop, or with an interval shorter
            # than the wake gap, one firing per look would fall further and further behind.
            while timers.get(timer.name) is timer:
                self._event_id += 1
                event = new_event(TimeEvent, (timer.name, self._event_id, timer.next_ns, live_timestamp_ns()))
                interval = timer.interval_ns
                stop = timer.stop_ns
                again = False
                if interval and (stop is None or timer.next_ns + interval <= stop):
                    timer.next_ns += interval
                    timer.due += interval
                    again = wheel.add_new(timer, timer.due)  # already due: a backlog, deliver it now
                else:
                    del timers[timer.name]
                try:
                    timer.callback(event)
                except Exception as exc:  # one failing callback must not stop the others
                    self._report(timer, exc)
                if not again or timer not in wheel:
                    break
                wheel.remove(timer)
        # No look comes sooner than the least gap after this one, so the next deadline is needed
        # only past that horizon: the scan for it stops at the first deadline inside it.
        return wheel.next_due(now + (least_wake_gap(self.tick_ns) if self.adaptive_gap else self.wake_gap_ns))

    def _coarse_len(self) -> int:
        """Coarse timers still to fire (tests: the store must hold exactly what is armed)."""
        return len(self._coarse_q) if self._coarse_q is not None else len(self._wheel)

    def _deliver(self, timer: Timer) -> None:
        try:
            self._fire(timer, live_timestamp_ns())
        except Exception as exc:  # one failing callback must not stop the others
            self._report(timer, exc)

    def _report(self, timer: Timer, exc: Exception) -> None:
        self._get_loop().call_exception_handler(
            {"message": f"LiveClock: callback of timer {timer.name!r} raised", "exception": exc}
        )

    def _guarded(self, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception as exc:
            self._get_loop().call_exception_handler({"message": "LiveClock: callback raised", "exception": exc})

    def cancel_timers(self) -> None:
        super().cancel_timers()
        if self._wake_handle is not None:
            self._wake_handle.cancel()
        self._cancel_tick()
        self._wake_handle = None
        self._wake_due = None
        self._heap = [entry for entry in self._heap if entry[2].__class__ is Call]
        if self._heap:
            heapq.heapify(self._heap)
            self._schedule_wake(self._get_loop(), self._heap[0][0])


def _no_fd_arm(fd: int, at_ns: int | None) -> None:  # pragma: no cover - never called without an fd
    raise RuntimeError("LiveClock: no timerfd to arm")


def wake_gap_for(tick_ns: int, overrun_ns: int) -> int:
    """Pure: the wait between two looks at the wheel that keeps beats within one tick of their
    deadlines. A beat due just after a look waits the gap, then the next look's overrun; so the
    gap gets what the tick leaves after the recent peak overrun and a tenth of the tick kept
    back (the peak is an estimate, not a bound). It never falls below half a tick: on a machine
    whose wake-ups run that late no gap keeps the bound, and waking more often would only add
    CPU (the fixed half-tick gap this replaces)."""
    budget = tick_ns - tick_ns // 10
    return max(least_wake_gap(tick_ns), budget - max(0, overrun_ns))


def overrun_peaks(top_ns: int, second_ns: int, overrun_ns: int) -> tuple[int, int]:
    """Pure: the decaying highest and second-highest look overruns after one more look; the gap
    follows the second. Both decay with a half-life of about 180 looks (1.5-2 s), so the estimate
    follows the machine's recent worst without holding an old stall against it for good (a faster
    decay, 45 looks, widened the gap between the bursts of a busy machine and the next burst landed
    on a wide gap: p99 9.2 ms where a fixed half tick had 7.5). The second peak, not the first: one
    isolated stall (2.5-4 ms in 3 of 8 idle 1.5 s runs of 10,000 heartbeats) narrowed the gap from
    8.7 to 5-6.6 ms for the next two seconds, 113 looks a second became 125-149, and the run's CPU
    rose by up to a third, for no beat's sake: the stall's own beats were already late, and the
    ones after it were not at risk unless stalls recur, which a second one within the decay shows.
    One ignored stall delays the beats of one look (under 1% of them), which a p99 tolerates."""
    top_ns -= top_ns >> 8
    second_ns -= second_ns >> 8
    if overrun_ns > top_ns:
        return overrun_ns, top_ns
    if overrun_ns > second_ns:
        return top_ns, overrun_ns
    return top_ns, second_ns


def least_wake_gap(tick_ns: int) -> int:
    """The floor of the adaptive wake gap: half a tick."""
    return tick_ns // 2


def _rebind() -> None:
    global live_timestamp_ns, live_utc_now
    live_timestamp_ns, live_utc_now = _impl.timestamp_ns, _impl.utc_now
    LiveClock.timestamp_ns = staticmethod(live_timestamp_ns)  # type: ignore[method-assign,assignment]
    LiveClock.utc_now = staticmethod(live_utc_now)  # type: ignore[method-assign,assignment]


_impl.on_switch(_rebind)
