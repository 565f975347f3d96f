"""uvicorn's h11 HTTP protocol with its keep-alive timeout handed to the service's connection tracker.

uvicorn normally arms a ``loop.call_later`` per response to close an idle keep-alive socket; here
that deadline belongs to the tracker of the build map (clocked: a coarse clock timer; baseline: a
polling sweep on time.time()), so the plan's "connection management" component is the one that
actually closes nginx's idle upstream connections.
"""

from __future__ import annotations

import asyncio
from typing import Any

import json

import h11
from uvicorn.protocols.http import h11_impl
from uvicorn.protocols.http.h11_impl import H11Protocol

from core.load_balancing.protocols import ConnectionTracker

TRACKER: ConnectionTracker | None = None  # set by the app's lifespan, one per worker process
# A request (headers and body) must arrive whole within this many seconds of its first byte (the first
# request: of the connection's opening), else the connection is closed: a slowloris client (headers a byte at a time) cannot hold a socket forever.
# uvicorn has only timeout_keep_alive (between requests). Real time: a guard, not a measured figure.
REQUEST_READ_TIMEOUT_S = 10.0


_REFUSED = json.dumps({
    "error": "the worker serves its limit of connections and requests (--limit-concurrency); try again",
    "errors": [{"field": "connection", "reason": "the worker's concurrency limit is reached"}],
}).encode()


async def refuse_over_limit(scope: Any, receive: Any, send: Any) -> None:
    """The answer past ``--limit-concurrency``: a JSON 503 with Retry-After, like every other refusal of the
    service (uvicorn's own is a plain-text "Service Unavailable")."""
    from .errors import RETRY_AFTER_S

    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(_REFUSED)).encode()),
                            (b"retry-after", str(RETRY_AFTER_S).encode()), (b"connection", b"close")]})  # fmt: skip
    await send({"type": "http.response.body", "body": _REFUSED, "more_body": False})


# uvicorn's h11 protocol answers past the limit with the ASGI app named by this module global (read at each
# request): the one place to hook its refusal without copying its handle_events.
h11_impl.service_unavailable = refuse_over_limit


def install(tracker: ConnectionTracker | None) -> None:
    global TRACKER
    TRACKER = tracker


class TrackedH11Protocol(H11Protocol):
    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._tracked = TRACKER
        if self._tracked is not None:
            self._tracked.register(self, self._close_if_idle, "http")
            # Not idle until its first answer: the first request's deadline is the real-time read deadline,
            # armed now. (Under --clock test a connection opened while /clock/advance moved time in slices
            # had its idle deadline pass before its request was read, and was reset.)
            self._tracked.busy(self)
        self._watch_request_read()

    def data_received(self, data: bytes) -> None:
        if self._tracked is not None:
            self._tracked.busy(self)
        super().data_received(data)
        self._watch_request_read()

    def _watch_request_read(self) -> None:
        """Arm the read deadline at a request's first byte; disarm it once h11 has the whole request."""
        timer = getattr(self, "_read_timer", None)
        if getattr(self, "_upgraded", False) or self.conn.their_state is h11.DONE or self.transport.is_closing():
            if timer is not None:
                timer.cancel()
                self._read_timer = None
        elif timer is None:
            self._read_timer = asyncio.get_running_loop().call_later(REQUEST_READ_TIMEOUT_S, self._read_too_slow)

    def _read_too_slow(self) -> None:
        self._read_timer = None
        if self.conn.their_state is not h11.DONE and not self.transport.is_closing():
            self.transport.close()

    def on_response_complete(self) -> None:
        timer = getattr(self, "_read_timer", None)
        if timer is not None:
            timer.cancel()
            self._read_timer = None
        super().on_response_complete()
        # The tracker owns the idle deadline: drop uvicorn's own timer.
        self._unset_keepalive_if_required()
        if self._tracked is not None and not self.transport.is_closing():
            if self.cycle is None or self.cycle.response_complete:
                self._tracked.idle(self)

    def handle_websocket_upgrade(self, event: Any) -> None:
        # The socket now belongs to the WebSocket handler, which tracks it as a "ws" connection; the
        # request-read deadline is HTTP's (h11 never reaches DONE on an upgrade: left armed, it closed
        # every WebSocket 10 s after its handshake).
        self._upgraded = True  # data_received re-checks the deadline after this: it must not re-arm it
        timer = getattr(self, "_read_timer", None)
        if timer is not None:
            timer.cancel()
            self._read_timer = None
        if self._tracked is not None:
            self._tracked.unregister(self)
            self._tracked = None
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        timer = getattr(self, "_read_timer", None)
        if timer is not None:
            timer.cancel()
        if self._tracked is not None:
            self._tracked.unregister(self)
        super().connection_lost(exc)

    def _close_if_idle(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.timeout_keep_alive_handler()
