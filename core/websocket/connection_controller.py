"""The WebSocket connection controller's interface and pure logic, shared by both builds.

The plan's ``backend/websocket/connection_clock_controller.py``. A server keeps two deadlines per
connection: the peer must show life (any frame, e.g. its heartbeat acknowledgement) within
``peer_timeout_ns`` or it is closed as dead, and a connection without an application message for
``idle_timeout_ns`` is closed as idle. A client that loses its connection reconnects after a
capped exponential backoff with jitter, so ten thousand clients dropped together do not all come
back in the same instant. Everything here is pure (no clock, no I/O): the builds differ only in
how they wait for a deadline.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass

PEER_TIMEOUT = "peer_timeout"  # the peer showed no life within its timeout (stopped reading, vanished)
IDLE = "idle"  # no application message within the idle timeout
CLOSE_REASONS = (PEER_TIMEOUT, IDLE)

# WebSocket close codes the service sends for each reason (4000-4999 are the application's own).
CLOSE_CODES = {PEER_TIMEOUT: 4008, IDLE: 1001}

# The client's acknowledgement of a heartbeat, as the load generator sends it (compact JSON).
HEARTBEAT_ACK = '{"type":"heartbeat_ack"}'


def is_ack(text: str) -> bool:
    """Whether a client frame is a heartbeat acknowledgement in any JSON spelling (pure)."""
    if "heartbeat_ack" not in text:
        return False
    try:
        msg = json.loads(text)
    except ValueError:
        return False
    return isinstance(msg, dict) and msg.get("type") == "heartbeat_ack"


CloseCallback = Callable[[str], object]  # called once with the reason (PEER_TIMEOUT or IDLE)
# (the Protocols both builds satisfy are in core/websocket/protocols.py)


def check_positive_ns(name: str, value: object) -> int:
    """A duration argument: a positive int of nanoseconds, or a ValueError naming it."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive int of nanoseconds, got {value!r}")
    return value


@dataclass(frozen=True)
class Due:
    """When a connection falls due, and why, from its last signs of life (pure)."""

    deadline_ns: int
    reason: str


def due(last_seen_ns: int, last_active_ns: int, peer_timeout_ns: int, idle_timeout_ns: int) -> Due:
    """The earlier of the two deadlines; on a tie the peer timeout wins (a dead peer is the graver news)."""
    peer = last_seen_ns + peer_timeout_ns
    idle = last_active_ns + idle_timeout_ns
    return Due(peer, PEER_TIMEOUT) if peer <= idle else Due(idle, IDLE)


# --- client side: reconnect backoff ---------------------------------------------------------------


def backoff_ns(attempt: int, base_ns: int, cap_ns: int, rng: random.Random) -> int:
    """Delay before reconnect ``attempt`` (1, 2, ...): "equal jitter" exponential backoff.

    Half of min(cap, base * 2**(attempt-1)) is fixed and the other half uniformly random, so
    delays grow, stay bounded, never fall to zero, and clients dropped together spread out.
    """
    if not isinstance(attempt, int) or attempt < 1:
        raise ValueError(f"attempt must be an int >= 1, got {attempt!r}")
    check_positive_ns("base_ns", base_ns)
    check_positive_ns("cap_ns", cap_ns)
    if cap_ns < base_ns:
        raise ValueError(f"cap_ns ({cap_ns}) must be >= base_ns ({base_ns})")
    ceiling = cap_ns if attempt > 62 else min(cap_ns, base_ns << (attempt - 1))
    half = ceiling // 2
    return ceiling - half + rng.randint(0, half)


class BackoffState:
    """What both builds' ``Reconnector`` share: the attempt count, the seeded jitter and the delays
    drawn; each build adds only how it waits (``asyncio.sleep`` or the clock)."""

    def __init__(self, base_ns: int, cap_ns: int, *, seed: int | None = None) -> None:
        backoff_ns(1, base_ns, cap_ns, random.Random(0))  # validates the arguments
        self.base_ns = base_ns
        self.cap_ns = cap_ns
        self.attempts = 0
        self.delays_ns: list[int] = []
        self._rng = random.Random(seed)

    def next_delay_ns(self) -> int:
        """Count one more attempt and draw its delay."""
        self.attempts += 1
        delay = backoff_ns(self.attempts, self.base_ns, self.cap_ns, self._rng)
        self.delays_ns.append(delay)
        return delay

    def reset(self) -> None:
        self.attempts = 0
