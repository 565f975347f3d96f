"""Connection hygiene of a real worker (uvicorn, no nginx in front), both builds: a client that
sends its request slowly is cut off, an oversized body is a JSON 413 read no further, a 503 has a
JSON body and Retry-After when PostgreSQL is unreachable is covered in test_reliability.py."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest

from harness.builds import BUILDS
from harness.stack import running
from tests.stack.conftest import isolation_args

READ_TIMEOUT_S = 1.0


@pytest.fixture(scope="module", params=BUILDS)
def worker(request, postgres_url, redis_url):
    schema, args = isolation_args()
    with running(build=request.param, workers=1, nginx=False, postgres_url=postgres_url, redis_url=redis_url,
                 service_args=[*args, "--request-read-timeout", str(READ_TIMEOUT_S)], write_pointer=False) as s:
        u = urlsplit(s.url)
        yield (u.hostname, u.port)
    from tests.stack.conftest import _drop

    _drop(postgres_url, schema)


def _closed_after(sock: socket.socket, drip: bytes, every_s: float, limit_s: float) -> float | None:
    """Send ``drip`` a byte every ``every_s``; seconds until the server closed, None if it never did."""
    t0 = time.monotonic()
    sock.settimeout(every_s)
    i = 0
    while time.monotonic() - t0 < limit_s:
        try:
            sock.send(drip[i % len(drip):i % len(drip) + 1])
            i += 1
            if sock.recv(4096) == b"":
                return time.monotonic() - t0
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - t0
    return None


def test_slow_headers_are_cut_off(worker):
    with socket.create_connection(worker) as s:
        took = _closed_after(s, b"GET /hello HTTP/1.1\r\nX-Slow: " + b"a" * 1000, every_s=0.2, limit_s=15)
    assert took is not None, "a slowloris connection stayed open"
    # the first request's deadline runs from the connection's opening, a moment before this test's clock starts
    assert READ_TIMEOUT_S - 0.2 <= took < READ_TIMEOUT_S + 5


def test_slow_body_is_cut_off_and_a_prompt_request_still_works(worker):
    with socket.create_connection(worker) as s:
        s.sendall(b"POST /api/v1/clock/sync HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n")  # fmt: skip
        took = _closed_after(s, b" ", every_s=0.2, limit_s=15)
    assert took is not None and took < READ_TIMEOUT_S + 5
    with socket.create_connection(worker) as s:  # keep-alive: two prompt requests, well past the timeout apart
        for _ in range(2):
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(5)
            got = b""
            while b'"world"}' not in got:
                chunk = s.recv(4096)
                assert chunk, f"closed after {got!r}"
                got += chunk
            assert got.startswith(b"HTTP/1.1 200")
            time.sleep(READ_TIMEOUT_S * 1.5)


def test_oversized_body_is_a_json_413_without_reading_it(worker):
    with socket.create_connection(worker) as s:
        s.sendall(b"POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 52000000\r\n\r\n{")  # fmt: skip
        s.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:  # the head and the body may come in separate segments
            data += s.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(body) < length:
            body += s.recv(65536)
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["errors"][0]["field"] == "body"


def test_a_connection_that_sends_nothing_is_closed_at_the_read_deadline(worker):
    with socket.create_connection(worker) as s:
        s.settimeout(READ_TIMEOUT_S + 10)
        t0 = time.monotonic()
        try:
            got = s.recv(4096)
        except OSError:
            got = b""
        took = time.monotonic() - t0
    assert got == b"" and took < READ_TIMEOUT_S + 5, f"still open after {took:.1f} s"


def _answer(sock: socket.socket) -> tuple[bytes, bytes]:
    sock.settimeout(10)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def test_past_the_concurrency_limit_the_refusal_is_a_json_503_with_retry_after(postgres_url, redis_url):
    schema, args = isolation_args()
    with running(build="clocked", workers=1, nginx=False, postgres_url=postgres_url, redis_url=redis_url,
                 service_args=[*args, "--limit-concurrency", "3"], write_pointer=False) as s:  # fmt: skip
        u = urlsplit(s.url)
        held = [socket.create_connection((u.hostname, u.port)) for _ in range(3)]  # the limit, held open
        try:
            time.sleep(0.3)
            with socket.create_connection((u.hostname, u.port)) as extra:
                extra.sendall(b"GET /api/v1/clock/server-time HTTP/1.1\r\nHost: x\r\n\r\n")
                head, body = _answer(extra)
        finally:
            for h in held:
                h.close()
        assert head.startswith(b"HTTP/1.1 503"), head
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in head.split(b"\r\n")[1:])}
        assert headers[b"content-type"] == b"application/json" and int(headers[b"retry-after"]) >= 1
        assert json.loads(body)["errors"][0]["field"] == "connection"
        time.sleep(0.3)
        import httpx

        assert httpx.get(s.url + "/api/v1/clock/server-time", timeout=10).status_code == 200  # served again
    from tests.stack.conftest import _drop

    _drop(postgres_url, schema)


def test_running_out_of_files_does_not_flood_the_log(postgres_url, redis_url, tmp_path):
    """At the file limit every accept fails (EMFILE); asyncio logged each with a traceback, about a
    megabyte a second. The same message now passes once per 10 s."""
    import resource
    import subprocess
    import sys

    from harness.backends.discovery import port_open
    from harness.ports import free_port

    schema, args = isolation_args()
    port = free_port("127.0.0.1")
    log = tmp_path / "worker.log"

    def few_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (120, 120))

    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "harness.app", "--port", str(port), "--postgres-url", postgres_url,
                                 "--redis-url", redis_url, *args], stdout=out, stderr=out, preexec_fn=few_files)  # fmt: skip
    socks = []
    try:
        for _ in range(200):
            if port_open("127.0.0.1", port):
                break
            time.sleep(0.1)
        time.sleep(1.0)  # past the lifespan startup
        for _ in range(300):  # well past 120 files: accepts fail from here on
            socks.append(socket.create_connection(("127.0.0.1", port)))
        time.sleep(6)
    finally:
        for s in socks:
            s.close()
        proc.terminate()
        proc.wait(timeout=30)
        from tests.stack.conftest import _drop

        _drop(postgres_url, schema)
    text = log.read_bytes()
    refused = text.count(b"out of system resource")
    assert 1 <= refused <= 2, f"{refused} accept errors logged"
    assert len(text) < 50_000, f"{len(text)} bytes of log in 6 s"
