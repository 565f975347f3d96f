"""Market WebSocket profile: subscribers receiving quotes and heartbeats.

Latency here is a message's age on arrival: the client's receive time, moved onto the server's
clock by the offset measured through ``POST /api/v1/clock/sync`` (NTP style: the best of a few
exchanges, by round-trip), minus the server's timestamp in the message. Each arrival is reported
through Locust's request event as ``WS quote age`` / ``WS heartbeat age``.

The peer's view of heartbeats, as ``clockbench run`` measures it (core/websocket/peer_view.py):
each heartbeat after the first is also reported as ``WS heartbeat lateness``, its arrival minus the
``next_heartbeat`` the previous one promised, and, when it came after the client's timeout (the
promise plus half an interval), as ``WS heartbeat beyond timeout`` too: the stream counts give
the share of heartbeats on time. Every heartbeat is acknowledged (``heartbeat_ack``), as the
service's connection controller expects of a live peer; a connection the server closes is a
failed ``WS disconnected`` request (a false disconnect: this user was alive), and the user
reconnects after the shared capped exponential backoff (core/websocket/connection_controller.py).
"""

from __future__ import annotations

import json
import time

import websocket  # websocket-client: plain sockets, so gevent's patching makes it cooperative
from locust import task

import random

from core.websocket.connection_controller import HEARTBEAT_ACK, backoff_ns
from loadtests.common import ClockbenchUser

SYNC_EXCHANGES = 5
RECONNECT_BASE_NS, RECONNECT_CAP_NS = 100_000_000, 5_000_000_000  # backoff before each reconnect


def offset_from(t0: int, t1: int, t2: int, t3: int) -> tuple[int, int]:
    """(server - client offset, round-trip delay) of one NTP-style exchange, in ns."""
    return ((t1 - t0) + (t2 - t3)) // 2, (t3 - t0) - (t2 - t1)


class MarketWsUser(ClockbenchUser):
    think_s = (0.0, 0.0)
    open_mode_ok = False

    def setup(self) -> None:
        self.offset_ns = self.sync_clock()
        self.connect()

    def connect(self) -> None:
        url = self.host.replace("http://", "ws://").replace("https://", "wss://").rstrip("/") + "/ws/market"
        self.ws = websocket.create_connection(url, timeout=10)
        self.ws.send(json.dumps({"type": "subscribe", "instruments": self.instruments}))
        self.promised_ns: int | None = None  # the last heartbeat's next_heartbeat (server clock)
        self.grace_ns = 0

    def sync_clock(self) -> int:
        best: tuple[int, int] | None = None
        for _ in range(SYNC_EXCHANGES):
            t0 = time.time_ns()
            status, body = self.send("POST", "/api/v1/clock/sync", name="POST /api/v1/clock/sync", json_body={"t0": t0})
            t3 = time.time_ns()
            if status != 200 or not isinstance(body, dict) or "t1" not in body or "t2" not in body:
                continue
            off, delay = offset_from(t0, int(body["t1"]), int(body["t2"]), t3)
            if best is None or delay < best[1]:
                best = (off, delay)
        return best[0] if best else 0

    def on_stop(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            try:
                ws.close()
            except OSError:
                pass

    @task
    def receive(self) -> None:
        try:
            raw = self.ws.recv()
        except websocket.WebSocketTimeoutException:
            return
        except (websocket.WebSocketConnectionClosedException, OSError) as exc:
            self.environment.events.request.fire(
                request_type="WS", name="WS disconnected", response_time=0, response_length=0, response=None,
                context={}, exception=exc, start_time=time.time(),
            )  # fmt: skip
            self.reconnects = getattr(self, "reconnects", 0) + 1
            rng = getattr(self, "rng", None) or random.Random(id(self))
            self.rng = rng
            time.sleep(backoff_ns(self.reconnects, RECONNECT_BASE_NS, RECONNECT_CAP_NS, rng) / 1e9)  # gevent-patched
            self.connect()
            return
        arrived = time.time_ns()
        try:
            msg = json.loads(raw)
        except (TypeError, ValueError):
            return
        kind = msg.get("type") if isinstance(msg, dict) else None
        ts = msg.get("timestamp") if isinstance(msg, dict) else None
        if kind == "welcome" and isinstance(msg.get("heartbeat_interval_ns"), int):
            self.grace_ns = msg["heartbeat_interval_ns"] // 2
        if kind in ("quote", "heartbeat") and isinstance(ts, int):
            self.stream_event(f"{kind} age", arrived + self.offset_ns - ts, len(raw))
        if kind == "heartbeat":
            self.reconnects = 0  # alive again: the next drop starts the backoff afresh
            self.ws.send(HEARTBEAT_ACK)
            if self.promised_ns is not None:
                late = arrived + self.offset_ns - self.promised_ns
                self.stream_event("heartbeat lateness", late, len(raw))
                if late > self.grace_ns:
                    self.stream_event("heartbeat beyond timeout", late, len(raw))
            nxt = msg.get("next_heartbeat")
            self.promised_ns = nxt if isinstance(nxt, int) else None
