"""A network path with a known delay: a loopback TCP proxy that holds every chunk it relays.

Browser -> proxy -> service. Each chunk read from the client is written upstream ``up`` (+ a
uniform jitter in [0, jitter]) after it arrived, each chunk from the service goes back ``down``
(+ jitter) later. A chunk never overtakes the one before it on the same connection and direction
(a FIFO link), so HTTP and WebSocket bytes stay intact. This is the harness's own stand-in for a
WAN (a veth pair with ``tc netem`` would need root network namespaces); it is honest about what it
does: every chunk's arrival and actual delivery time is recorded, so reports use the delays that
really happened (the event loop wakes up to ~1 ms late, on both legs alike), not the nominal ones.

Runs its own asyncio loop in a daemon thread, so synchronous code (Playwright's sync API, pytest)
can use it: ``with DelayProxy(host, port, up_ns=10*NS_PER_MS, down_ns=10*NS_PER_MS) as p: p.url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from core.units import NS_PER_MS
MAX_RECORDS = 200_000


@dataclass(frozen=True)
class Chunk:
    """One relayed chunk: ``direction`` "up" (client -> service) or "down"; wall-clock ns."""

    direction: str
    conn: int
    arrived_ns: int
    delivered_ns: int
    nbytes: int
    head: bytes  # the first bytes, to find a request again (e.g. its path or an order id)

    @property
    def delay_ns(self) -> int:
        return self.delivered_ns - self.arrived_ns


class DelayProxy:
    def __init__(self, upstream_host: str, upstream_port: int, *, up_ns: int = 0, down_ns: int = 0,
                 jitter_ns: int = 0, seed: int = 1, host: str = "127.0.0.1", port: int = 0) -> None:
        for name, v in (("up_ns", up_ns), ("down_ns", down_ns), ("jitter_ns", jitter_ns)):
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be an int >= 0 of nanoseconds, got {v!r}")
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.port = port
        self._delays = (up_ns, down_ns, jitter_ns)
        self._rng = random.Random(seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._conns = 0
        self._lock = threading.Lock()
        self.chunks: list[Chunk] = []

    # --- control (any thread) ---------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def set_delays(self, *, up_ns: int, down_ns: int, jitter_ns: int = 0) -> None:
        """New delays for chunks arriving from now on (a chunk in flight keeps its own)."""
        with self._lock:
            self._delays = (up_ns, down_ns, jitter_ns)

    def clear_records(self) -> None:
        with self._lock:
            self.chunks = []

    def records(self) -> list[Chunk]:
        with self._lock:
            return list(self.chunks)

    def start(self) -> DelayProxy:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(asyncio.start_server(self._client, self.host, self.port))
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="delay-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None or not loop.is_running():
            return

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> DelayProxy:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # --- the relay (the proxy's loop) -------------------------------------------------------
    async def _client(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        self._conns += 1
        conn = self._conns
        try:
            ureader, uwriter = await asyncio.open_connection(*self.upstream)
        except OSError:
            cwriter.close()
            return
        with contextlib.suppress(asyncio.CancelledError):  # stop() cancels every connection
            await asyncio.gather(self._pipe(creader, uwriter, "up", conn), self._pipe(ureader, cwriter, "down", conn),
                                 return_exceptions=True)  # fmt: skip

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direction: str, conn: int) -> None:
        queue: asyncio.Queue[tuple[int, int, bytes] | None] = asyncio.Queue()
        sender = asyncio.create_task(self._send(queue, writer, direction, conn))
        last_due = 0
        try:
            while True:
                data = await reader.read(65536)
                arrived = time.time_ns()
                if not data:
                    break
                with self._lock:
                    up, down, jitter = self._delays
                    extra = self._rng.randint(0, jitter) if jitter else 0
                due = max(last_due, arrived + (up if direction == "up" else down) + extra)
                last_due = due
                queue.put_nowait((arrived, due, data))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            queue.put_nowait(None)
            with contextlib.suppress(BaseException):
                await sender

    async def _send(self, queue: asyncio.Queue, writer: asyncio.StreamWriter, direction: str, conn: int) -> None:
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                arrived, due, data = item
                wait = due - time.time_ns()
                if wait > 0:
                    await asyncio.sleep(wait / 1e9)
                writer.write(data)
                delivered = time.time_ns()
                with self._lock:
                    if len(self.chunks) < MAX_RECORDS:
                        self.chunks.append(Chunk(direction, conn, arrived, delivered, len(data), data[:512]))
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


def _serve(conn: Any, upstream: tuple[str, int], delays: tuple[int, int, int], seed: int) -> None:
    """The proxy process: a DelayProxy, driven by commands on a pipe until "stop"."""
    proxy = DelayProxy(*upstream, up_ns=delays[0], down_ns=delays[1], jitter_ns=delays[2], seed=seed).start()
    conn.send(("port", proxy.port))
    try:
        while True:
            cmd, *args = conn.recv()
            if cmd == "set":
                proxy.set_delays(up_ns=args[0], down_ns=args[1], jitter_ns=args[2])
                conn.send(("ok",))
            elif cmd == "records":
                conn.send(("records", [tuple(vars(c).values()) for c in proxy.records()]))
            elif cmd == "clear":
                proxy.clear_records()
                conn.send(("ok",))
            else:
                break
    except EOFError:
        pass
    finally:
        proxy.stop()


class DelayProxyProcess:
    """The same proxy in a process of its own, so its timers do not wait on the caller's GIL
    (Playwright's client, the test) and the delays it applies stay close to the nominal ones."""

    def __init__(self, upstream_host: str, upstream_port: int, *, up_ns: int = 0, down_ns: int = 0,
                 jitter_ns: int = 0, seed: int = 1) -> None:
        DelayProxy(upstream_host, upstream_port, up_ns=up_ns, down_ns=down_ns, jitter_ns=jitter_ns)  # checks the arguments
        self._args = ((upstream_host, upstream_port), (up_ns, down_ns, jitter_ns), seed)
        self.host = "127.0.0.1"
        self.port = 0
        self._proc: Any = None
        self._conn: Any = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _ask(self, *cmd: Any) -> Any:
        self._conn.send(cmd)
        if not self._conn.poll(30):
            raise RuntimeError("the delay proxy process did not answer within 30 s")
        return self._conn.recv()

    def start(self) -> DelayProxyProcess:
        import multiprocessing

        mp = multiprocessing.get_context("spawn")
        self._conn, child = mp.Pipe()
        self._proc = mp.Process(target=_serve, args=(child, *self._args), name="delay-proxy", daemon=True)
        self._proc.start()
        if not self._conn.poll(30):
            self._proc.kill()
            raise RuntimeError("the delay proxy process did not start within 30 s")
        self.port = self._conn.recv()[1]
        return self

    def set_delays(self, *, up_ns: int, down_ns: int, jitter_ns: int = 0) -> None:
        self._ask("set", up_ns, down_ns, jitter_ns)

    def clear_records(self) -> None:
        self._ask("clear")

    def records(self) -> list[Chunk]:
        return [Chunk(*t) for t in self._ask("records")[1]]

    def stop(self) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(Exception):
            self._conn.send(("stop",))
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)
        self._proc = None

    def __enter__(self) -> DelayProxyProcess:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
