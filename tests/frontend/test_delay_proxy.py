"""The delay proxy on loopback against a real echo server: the delays it adds, per direction."""

from __future__ import annotations

import socket
import socketserver
import threading
import time

import pytest

from harness.measure.delay_proxy import DelayProxy, DelayProxyProcess

MS = 1_000_000


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture()
def echo():
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def roundtrip(port: int, payloads: list[bytes]) -> list[float]:
    times = []
    with socket.create_connection(("127.0.0.1", port)) as s:
        for p in payloads:
            t = time.monotonic()
            s.sendall(p)
            got = b""
            while len(got) < len(p):
                got += s.recv(65536)
            assert got == p
            times.append(time.monotonic() - t)
    return times


@pytest.mark.parametrize("kind", [DelayProxy, DelayProxyProcess])
def test_delays_are_added_per_direction_and_recorded(echo: int, kind: type) -> None:
    with kind("127.0.0.1", echo, up_ns=30 * MS, down_ns=10 * MS) as proxy:
        rtts = roundtrip(proxy.port, [b"hello", b"x" * 1000, b"bye"])
        # Never faster than the added delay (slower only by how late this machine wakes up).
        assert min(rtts) >= 0.040, rtts
        chunks = proxy.records()
        up = [c for c in chunks if c.direction == "up"]
        down = [c for c in chunks if c.direction == "down"]
        assert up and down
        assert all(c.delay_ns >= 30 * MS for c in up)
        assert all(10 * MS <= c.delay_ns for c in down)
        assert min(c.delay_ns for c in up) < min(c.delay_ns for c in down) + 30 * MS
        assert any(c.head.startswith(b"hello") for c in up)
        proxy.set_delays(up_ns=0, down_ns=0)
        assert min(roundtrip(proxy.port, [b"fast"])) < 0.040


def test_bytes_stay_in_order_with_jitter(echo: int) -> None:
    payloads = [f"{i:04d}".encode() * 10 for i in range(50)]
    with DelayProxy("127.0.0.1", echo, up_ns=2 * MS, down_ns=2 * MS, jitter_ns=3 * MS, seed=3) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port)) as s:
            for p in payloads:
                s.sendall(p)
            want = b"".join(payloads)
            got = b""
            while len(got) < len(want):
                got += s.recv(65536)
        assert got == want


def test_bad_delays_are_refused() -> None:
    with pytest.raises(ValueError, match="up_ns"):
        DelayProxy("127.0.0.1", 1, up_ns=-1)
    with pytest.raises(ValueError, match="jitter_ns"):
        DelayProxyProcess("127.0.0.1", 1, jitter_ns=1.5)  # type: ignore[arg-type]


def test_process_will_not_say_ready_in_front_of_nothing() -> None:
    """A proxy whose service does not listen would refuse every browser request later: it fails at start, saying so."""
    from harness.ports import free_port

    port = free_port()  # nothing listens there
    t = time.monotonic()
    with pytest.raises(RuntimeError, match=f"127.0.0.1:{port}.*does not accept connections"):
        DelayProxyProcess("127.0.0.1", port, up_ns=MS).start()
    assert time.monotonic() - t < 30


def test_process_is_ready_when_start_returns_and_its_death_is_named(echo: int) -> None:
    proxy = DelayProxyProcess("127.0.0.1", echo, up_ns=MS, down_ns=MS).start()
    try:
        assert proxy.priority  # how it is scheduled is said, whichever it got
        assert roundtrip(proxy.port, [b"at once"])  # no wait, no retry: start() returned, so it listens
        assert proxy.alive()
        proxy._proc.kill()  # the process this test started
        proxy._proc.wait(10)
        t = time.monotonic()
        with pytest.raises(RuntimeError, match="not running.*exited"):
            proxy.records()
        assert time.monotonic() - t < 5
    finally:
        proxy.stop()
