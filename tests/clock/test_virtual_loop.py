"""VirtualTimeLoop / run_virtual: asyncio itself follows a TestClock, with autojump and hang detection."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from targets.clock import (
    NANOS_IN_DAY,
    NANOS_IN_HOUR,
    NANOS_IN_MILLISECOND,
    NANOS_IN_SECOND,
    ClockDeadlockError,
    TestClock,
    TimeEvent,
    VirtualTimeLoop,
    run_virtual,
)

S = NANOS_IN_SECOND
MS = NANOS_IN_MILLISECOND
T0 = 1_700_000_000 * S


def test_asyncio_sleep_follows_virtual_time() -> None:
    clock = TestClock(T0)

    async def main() -> list[int]:
        marks = [clock.timestamp_ns()]
        await asyncio.sleep(10)
        marks.append(clock.timestamp_ns())
        await asyncio.sleep(0.25)
        marks.append(clock.timestamp_ns())
        return marks

    assert run_virtual(main(), clock) == [T0, T0 + 10 * S, T0 + 10 * S + 250 * MS]


def test_asyncio_timeout_and_wait_for_follow_virtual_time() -> None:
    clock = TestClock(T0)

    async def main() -> list[int]:
        marks = []
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(5):
                await asyncio.sleep(3600)
        marks.append(clock.timestamp_ns())
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.sleep(3600), 3)
        marks.append(clock.timestamp_ns())
        assert await asyncio.wait_for(asyncio.sleep(1, result="in time"), 2) == "in time"
        marks.append(clock.timestamp_ns())
        return marks

    assert run_virtual(main(), clock) == [T0 + 5 * S, T0 + 8 * S, T0 + 9 * S]


def test_clock_sleep_timers_and_asyncio_sleep_interleave_in_time_order() -> None:
    clock = TestClock(T0)
    log: list[tuple[str, int]] = []

    async def sleeper(name: str, use_clock: bool, seconds: int) -> None:
        if use_clock:
            await clock.sleep(seconds * S)
        else:
            await asyncio.sleep(seconds)
        log.append((name, (clock.timestamp_ns() - T0) // S))

    async def main() -> None:
        clock.set_timer("tick", 2 * S, lambda e: log.append(("tick", (e.ts_event - T0) // S)),
                        stop_time_ns=T0 + 6 * S)
        await asyncio.gather(sleeper("clock-5", True, 5), sleeper("asyncio-3", False, 3),
                             sleeper("clock-1", True, 1))
        async with clock.timeout(S):
            await asyncio.sleep(0.5)

    run_virtual(main(), clock)
    assert log == [("clock-1", 1), ("tick", 2), ("asyncio-3", 3), ("tick", 4), ("clock-5", 5)]
    assert clock.timestamp_ns() == T0 + 5 * S + 500 * MS  # the program ended before the tick at 6


def test_autojump_runs_a_virtual_day_at_full_speed() -> None:
    clock = TestClock(T0)
    hourly: list[TimeEvent] = []

    async def worker(step_s: int) -> int:
        n = 0
        while clock.timestamp_ns() < T0 + NANOS_IN_DAY:
            await asyncio.sleep(step_s)
            n += 1
        return n

    async def main() -> tuple[int, int]:
        clock.set_timer("hourly", NANOS_IN_HOUR, hourly.append)
        counts = await asyncio.gather(worker(60), worker(90))
        await clock.sleep_until(T0 + NANOS_IN_DAY)
        clock.cancel_timer("hourly")
        return counts

    assert run_virtual(main(), clock) == [1440, 960]
    assert clock.timestamp_ns() == T0 + NANOS_IN_DAY
    assert [e.ts_event for e in hourly] == [T0 + k * NANOS_IN_HOUR for k in range(1, 25)]


def test_a_program_that_can_never_wake_raises_clock_deadlock_error() -> None:
    async def main() -> None:
        await asyncio.Event().wait()

    with pytest.raises(ClockDeadlockError, match="deadlock"):
        run_virtual(main(), TestClock(0), hang_timeout_ns=50 * MS)


def test_without_autojump_virtual_waits_nobody_advances_are_reported() -> None:
    async def main() -> None:
        await asyncio.sleep(1)

    with pytest.raises(ClockDeadlockError, match="autojump"):
        run_virtual(main(), TestClock(0), autojump=False, hang_timeout_ns=50 * MS)


def test_without_autojump_the_program_can_drive_its_own_clock() -> None:
    clock = TestClock(0)

    async def main() -> int:
        async def napper() -> int:
            await asyncio.sleep(30)
            return clock.timestamp_ns()

        task = asyncio.create_task(napper())
        for _ in range(3):
            await asyncio.sleep(0)
            clock.advance_by(10 * S)
        return await task

    assert run_virtual(main(), clock, autojump=False, hang_timeout_ns=2 * S) == 30 * S


def test_loop_time_is_the_clock_time() -> None:
    clock = TestClock(T0)
    loop = VirtualTimeLoop(clock)
    try:
        assert loop.time() == 0.0
        clock.advance_by(1_500 * MS)
        assert loop.time() == 1.5
    finally:
        loop.close()


# --- real I/O under autojump ------------------------------------------------------------------
class SlowEchoServer:
    """A loopback TCP echo server on a plain thread, answering after a real delay."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = conn.recv(1024)
                time.sleep(self.delay_s)  # real time, on its own thread: the virtual loop is not involved
                conn.sendall(data)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def slow_echo():
    server = SlowEchoServer(delay_s=0.08)
    yield server
    server.close()


async def _echo(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping")
    await writer.drain()
    data = await reader.read(4)
    writer.close()
    await writer.wait_closed()
    return data


def test_real_io_within_the_grace_is_not_a_false_timeout(slow_echo: SlowEchoServer) -> None:
    clock = TestClock(T0)

    async def main() -> bytes:
        async with asyncio.timeout(1):  # one VIRTUAL second
            return await _echo(slow_echo.port)

    assert run_virtual(main(), clock, io_grace_ns=500 * MS) == b"ping"
    assert clock.timestamp_ns() < T0 + S  # time did not jump to the deadline


def test_real_io_slower_than_the_grace_is_jumped_over(slow_echo: SlowEchoServer) -> None:
    # The counterpart: with a grace far below the server's delay, autojump does move to the deadline.
    async def main() -> bytes:
        async with asyncio.timeout(1):
            return await _echo(slow_echo.port)

    with pytest.raises(TimeoutError):
        run_virtual(main(), TestClock(T0), io_grace_ns=1 * MS)


def test_executor_work_gets_the_io_grace_too() -> None:
    clock = TestClock(T0)

    async def main() -> str:
        async with asyncio.timeout(1):
            await asyncio.to_thread(time.sleep, 0.05)  # real work on a thread
            await asyncio.get_running_loop().getaddrinfo("localhost", 5432)
        return "ok"

    assert run_virtual(main(), clock, io_grace_ns=2 * S) == "ok"
    assert clock.timestamp_ns() < T0 + S


def test_postgres_query_under_run_virtual_with_a_timeout(postgres_url: str) -> None:
    asyncpg = pytest.importorskip("asyncpg")
    clock = TestClock(T0)
    parts = urlsplit(postgres_url)
    # once as given, once through "localhost" so the connect goes through a DNS lookup (executor)
    host_port = f"localhost:{parts.port or 5432}"
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    via_localhost = urlunsplit(parts._replace(netloc=userinfo + host_port))

    async def main() -> list[int]:
        results = []
        for url in (postgres_url, via_localhost):
            async with asyncio.timeout(5):  # virtual seconds
                conn = await asyncpg.connect(url)
                try:
                    results.append(await conn.fetchval("SELECT 41 + 1 FROM pg_sleep(0.05)"))
                finally:
                    await conn.close()
        await asyncio.sleep(60)  # and virtual time still jumps afterwards
        return results

    assert run_virtual(main(), clock, io_grace_ns=3 * S) == [42, 42]
    assert clock.timestamp_ns() >= T0 + 60 * S
