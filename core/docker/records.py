"""Plain records of what the checker and the lifecycle did, and the pure logic both builds share:
the healthy/unhealthy tracker, the restart backoff, and the analysis of a soak (checks on time,
detection latency, false reports). Instants are int nanoseconds in the build's own time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.units import NS_PER_MS, NS_PER_S  # noqa: F401 - re-exported for the family



@dataclass(frozen=True, slots=True)
class Check:
    """One health check. ``due_ns`` is the scheduled instant when the build knows it (None for a
    sleep loop, which has no schedule, only a pause between checks)."""

    container: str
    due_ns: int | None
    start_ns: int
    end_ns: int
    answered: bool
    healthy: bool


@dataclass(frozen=True, slots=True)
class Transition:
    """The checker's report that a container turned healthy (True) or unhealthy (False)."""

    container: str
    healthy: bool
    at_ns: int
    via: str = "check"  # "check" (the checker's own probe) or "engine" (the engine's health event)


@dataclass(frozen=True, slots=True)
class EngineEvent:
    container: str
    status: str
    at_ns: int


@dataclass(frozen=True, slots=True)
class StartResult:
    container: str
    started_ns: int  # the engine accepted the start
    ready_ns: int | None  # first 'healthy' seen; None when the readiness deadline passed
    polls: int

    @property
    def ready(self) -> bool:
        return self.ready_ns is not None


@dataclass(frozen=True, slots=True)
class StopResult:
    container: str
    requested_ns: int
    exited_ns: int
    graceful: bool  # exited on SIGTERM before the deadline (False: killed)


@dataclass(frozen=True, slots=True)
class RestartResult:
    container: str
    began_ns: int
    ready_ns: int | None
    attempts: int
    delays_ns: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return self.ready_ns is not None


class HealthTracker:
    """Turns check outcomes into transitions: unhealthy after ``unhealthy_after`` failed checks in a
    row (a check not answered is a failure, as in Docker's own health checks), healthy on the first
    healthy answer. The first outcome of a container is reported as a transition from 'unknown'."""

    def __init__(self, unhealthy_after: int = 1) -> None:
        if not isinstance(unhealthy_after, int) or unhealthy_after < 1:
            raise ValueError(f"unhealthy_after must be an int >= 1, got {unhealthy_after!r}")
        self.unhealthy_after = unhealthy_after
        self._state: dict[str, bool] = {}
        self._failures: dict[str, int] = {}

    def status(self, container: str) -> bool | None:
        return self._state.get(container)

    def forget(self, container: str) -> None:
        self._state.pop(container, None)
        self._failures.pop(container, None)

    def observe(self, container: str, ok: bool, at_ns: int, via: str = "check") -> Transition | None:
        if ok:
            self._failures[container] = 0
            new = True
        else:
            n = self._failures.get(container, 0) + 1
            self._failures[container] = n
            if n < self.unhealthy_after:
                return None  # not unhealthy yet (a container of unknown state stays unknown)
            new = False
        if self._state.get(container) is new:
            return None
        self._state[container] = new
        return Transition(container, new, at_ns, via)


def backoff_ns(attempt: int, base_ns: int, cap_ns: int) -> int:
    """Delay before restart attempt ``attempt + 1`` (attempt 0 is the first retry): base * 2^attempt, capped."""
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    return min(cap_ns, base_ns << min(attempt, 62))


def check_positive_ns(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive int of nanoseconds, got {value!r}")
    return value


# --- analysis of a soak (pure) --------------------------------------------------------------------

@dataclass
class OnTime:
    scheduled: int = 0  # grid slots in the window
    on_time: int = 0  # slots with a check started within tolerance of it, and answered
    late_ns: list[int] = field(default_factory=list)  # each check's start minus its nearest slot

    @property
    def share(self) -> float:
        return self.on_time / self.scheduled if self.scheduled else float("nan")


def on_time(checks: list[Check], origin_ns: int, interval_ns: int, window_end_ns: int,
            tolerance: float = 0.10) -> OnTime:
    """Checks of ONE container against its nominal schedule origin + k*interval (k >= 1, slots up to
    ``window_end_ns``). A check belongs to its nearest slot; a slot is on time when a check started
    within ``tolerance * interval`` of it and answered. The same rule for both builds: a sleep loop's
    drift (the check's duration added every round) moves its checks off the schedule and leaves slots
    with no check, and both count against it."""
    out = OnTime()
    if window_end_ns < origin_ns + interval_ns:
        return out
    last_slot = (window_end_ns - origin_ns) // interval_ns
    out.scheduled = last_slot
    tol = tolerance * interval_ns
    hit: set[int] = set()
    for c in checks:
        k = (c.start_ns - origin_ns + interval_ns // 2) // interval_ns
        if k < 1 or k > last_slot:
            continue
        late = c.start_ns - (origin_ns + k * interval_ns)
        out.late_ns.append(late)
        if abs(late) <= tol and c.answered and k not in hit:
            hit.add(k)
    out.on_time = len(hit)
    return out


@dataclass
class Detection:
    latencies_ns: list[int] = field(default_factory=list)  # fault start -> checker reported unhealthy
    missed: int = 0  # faults never reported before the endpoint came back
    false_unhealthy: int = 0  # unhealthy reports outside every fault (and its grace)
    recovery_ns: list[int] = field(default_factory=list)  # endpoint back -> reported healthy


def detection(transitions: list[Transition], faults: list[tuple[int, int]], grace_ns: int) -> Detection:
    """Transitions of ONE container against its faults [(down_ns, up_ns)], sorted. An unhealthy report
    in [down, up + grace] detects that fault (the first one counts); any other unhealthy report is
    false. ``grace_ns`` covers a check in flight when the endpoint came back."""
    out = Detection()
    detected = [False] * len(faults)
    for t in transitions:
        if t.healthy:
            continue
        for i, (down, up) in enumerate(faults):
            if down <= t.at_ns <= up + grace_ns:
                if not detected[i]:
                    detected[i] = True
                    out.latencies_ns.append(t.at_ns - down)
                break
        else:
            out.false_unhealthy += 1
    out.missed = detected.count(False)
    for down, up in faults:
        back = [t.at_ns for t in transitions if t.healthy and t.at_ns >= up]
        if back:
            out.recovery_ns.append(back[0] - up)
    return out


def seeded_faults(seed: int, start_ns: int, end_ns: int, down_ns: int, count: int) -> list[tuple[int, int]]:
    """``count`` non-overlapping faults of ``down_ns`` at seeded instants in [start, end - down],
    each followed by at least ``down_ns`` of health (so every fault is a separate transition)."""
    import random

    span = end_ns - start_ns
    slot = span // max(count, 1)
    if slot < 2 * down_ns:
        raise ValueError(f"{count} faults of {down_ns} ns do not fit in {span} ns")
    rng = random.Random(seed)
    out = []
    for i in range(count):
        lo = start_ns + i * slot
        down = lo + rng.randrange(0, slot - 2 * down_ns + 1)
        out.append((down, down + down_ns))
    return out
