"""A network path with a known delay: a loopback TCP proxy that holds every chunk it relays.

Browser -> proxy -> service. Each chunk read from the client is written upstream ``up`` (+ a
uniform jitter in [0, jitter]) after it arrived, each chunk from the service goes back ``down``
(+ jitter) later. A chunk never overtakes the one before it on the same connection and direction
(a FIFO link), so HTTP and WebSocket bytes stay intact. This is the harness's own stand-in for a
WAN (a veth pair with ``tc netem`` would need root network namespaces); it is honest about what it
does: every chunk's arrival and actual delivery time is recorded, so reports use the delays that
really happened, not the nominal ones. Its loop waits with select() (microsecond timeouts; epoll
would round each hold up to the next millisecond), and as a process (DelayProxyProcess) it runs at
real-time priority where allowed, so a busy machine delays its deliveries little (measured at load
16-27 on 2 cores: 11.3 ms mean for 10 ms + U(0, 2 ms), where the same process with epoll at
normal priority gave 17.7).

Runs its own asyncio loop in a daemon thread, so synchronous code (Playwright's sync API, pytest)
can use it: ``with DelayProxy(host, port, up_ns=10_000_000, down_ns=10_000_000) as p: p.url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
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
            # select() takes its timeout in microseconds; epoll (asyncio's default) rounds every
            # timer up to the next millisecond, which would add up to 1 ms to each held chunk.
            loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
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
        if not ready.wait(60):
            raise RuntimeError("the delay proxy's listener did not come up within 60 s")
        if failure:
            raise failure[0]
        return self

    def self_test(self, timeout_s: float = 10.0) -> None:
        """Proof that it is ready, not a hope: a connection to the listener is accepted, and the
        upstream accepts one too (a proxy in front of nothing would refuse every browser request)."""
        if not self.port:
            raise RuntimeError("the delay proxy has no port: it is not listening")
        with socket.create_connection((self.host, self.port), timeout=timeout_s):
            pass
        try:
            with socket.create_connection(self.upstream, timeout=timeout_s):
                pass
        except OSError as exc:
            raise RuntimeError(f"the service behind the delay proxy ({self.upstream[0]}:{self.upstream[1]}) "
                               f"does not accept connections: {exc}") from None

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


def _set_priority() -> str:
    """Run this process's threads ahead of the machine's other work, as netem's kernel timers are:
    real-time FIFO where allowed (root), else a lower nice value, else as it is. Says which."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        return "SCHED_FIFO 10"
    except (AttributeError, OSError):
        pass
    try:
        os.nice(-10)
        return "nice -10"
    except OSError:
        return "normal (no permission to raise it)"


def main(argv: list[str] | None = None) -> int:
    """The proxy process: ``python -m harness.measure.delay_proxy HOST PORT UP DOWN JITTER SEED``.

    Speaks JSON lines: its first stdout line is ``{"ready": port, ...}``, written only once the
    listener is bound and a connection to it from this process was accepted (and the upstream took
    one too), so a caller that reads it can connect at once. Then one answer per command line
    read from stdin: ``{"cmd": "set"|"records"|"clear"|"stop", ...}``; end of input stops it."""
    args = sys.argv[1:] if argv is None else argv
    host, port, up, down, jitter, seed = args[0], int(args[1]), *(int(a) for a in args[2:6])
    priority = _set_priority()  # before the relay's thread starts: threads inherit the policy
    proxy = DelayProxy(host, port, up_ns=up, down_ns=down, jitter_ns=jitter, seed=seed).start()
    out = sys.stdout

    def say(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    try:
        proxy.self_test()
        say({"ready": proxy.port, "pid": os.getpid(), "priority": priority})
        for line in sys.stdin:
            msg = json.loads(line)
            cmd = msg.get("cmd")
            if cmd == "set":
                proxy.set_delays(up_ns=msg["up_ns"], down_ns=msg["down_ns"], jitter_ns=msg["jitter_ns"])
                say({"ok": True})
            elif cmd == "records":
                say({"records": [[c.direction, c.conn, c.arrived_ns, c.delivered_ns, c.nbytes, c.head.decode("latin-1")]
                                 for c in proxy.records()]})  # fmt: skip
            elif cmd == "clear":
                proxy.clear_records()
                say({"ok": True})
            else:
                break
    except Exception as exc:  # noqa: BLE001 - the parent reads this line (or the stderr tail) as the reason
        with contextlib.suppress(Exception):
            say({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    finally:
        proxy.stop()
    return 0


class DelayProxyProcess:
    """The same proxy in a process of its own (``python -m harness.measure.delay_proxy``), at a
    raised scheduling priority, so its timers wait on neither the caller's GIL (Playwright's
    client, the test) nor the machine's other work, and the delays it applies stay close to the
    nominal ones. It is a plain subprocess, not multiprocessing: nothing depends on how the
    caller's main module imports. ``start()`` returns only once the proxy accepts connections."""

    def __init__(self, upstream_host: str, upstream_port: int, *, up_ns: int = 0, down_ns: int = 0,
                 jitter_ns: int = 0, seed: int = 1, start_timeout_s: float = 60.0) -> None:
        DelayProxy(upstream_host, upstream_port, up_ns=up_ns, down_ns=down_ns, jitter_ns=jitter_ns)  # checks the arguments
        self.upstream = (upstream_host, upstream_port)
        self._argv = [upstream_host, str(upstream_port), str(up_ns), str(down_ns), str(jitter_ns), str(seed)]
        self.host = "127.0.0.1"
        self.port = 0
        self.priority = ""
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[str] | None = None  # kept after stop() for describe()
        self._stopped = False
        self._stderr: Any = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def alive(self) -> bool:
        return self._proc is not None and not self._stopped and self._proc.poll() is None

    def describe(self) -> str:
        """One line on the proxy's state, for an error message (is it still running? what did it say?)."""
        if self._proc is None:
            return "the delay proxy is not started"
        state = "running" if self._proc.poll() is None else f"exited with code {self._proc.returncode}"
        tail = self._stderr_tail()
        return f"delay proxy pid {self._proc.pid} on port {self.port} {state}" + (f"; its stderr: {tail}" if tail else "")

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        with contextlib.suppress(Exception):
            self._stderr.seek(0)
            return " | ".join(self._stderr.read().decode(errors="replace").strip().splitlines()[-5:])
        return ""

    def _read(self, timeout_s: float) -> dict[str, Any]:
        """The proxy's next line, or a RuntimeError saying why there is none (it died, it is silent)."""
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        with selectors.DefaultSelector() as sel:
            sel.register(self._proc.stdout, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"the delay proxy did not answer within {timeout_s:.0f} s ({self.describe()})")
                if sel.select(min(left, 0.2)):
                    line = self._proc.stdout.readline()
                    if not line:
                        self._proc.wait(5)
                        raise RuntimeError(f"the delay proxy process ended ({self.describe()})")
                    msg = json.loads(line)
                    if "error" in msg:
                        raise RuntimeError(f"the delay proxy failed: {msg['error']}")
                    return msg
                if self._proc.poll() is not None:
                    raise RuntimeError(f"the delay proxy process ended ({self.describe()})")

    def _ask(self, **cmd: Any) -> dict[str, Any]:
        if not self.alive():
            raise RuntimeError(f"the delay proxy is not running ({self.describe()})")
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(cmd) + "\n")
        self._proc.stdin.flush()
        return self._read(60.0)

    def start(self) -> DelayProxyProcess:
        if self._proc is not None:
            raise RuntimeError("this delay proxy was started already")
        self._stderr = tempfile.TemporaryFile()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self._proc = subprocess.Popen([sys.executable, "-m", "harness.measure.delay_proxy", *self._argv],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
                                      cwd=ROOT, env=env)  # fmt: skip
        try:
            ready = self._read(self.start_timeout_s)
            self.port = int(ready["ready"])
            self.priority = str(ready.get("priority", ""))
            # The handshake, seen from this side too: the listener takes our connection.
            with socket.create_connection((self.host, self.port), timeout=10):
                pass
        except BaseException:
            self.stop()
            raise
        return self

    def set_delays(self, *, up_ns: int, down_ns: int, jitter_ns: int = 0) -> None:
        self._ask(cmd="set", up_ns=up_ns, down_ns=down_ns, jitter_ns=jitter_ns)

    def clear_records(self) -> None:
        self._ask(cmd="clear")

    def records(self) -> list[Chunk]:
        return [Chunk(d, c, a, dl, n, h.encode("latin-1")) for d, c, a, dl, n, h in self._ask(cmd="records")["records"]]

    def stop(self) -> None:
        proc = self._proc
        if proc is None or self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({"cmd": "stop"}) + "\n")
            proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        with contextlib.suppress(Exception):
            assert proc.stdout is not None
            proc.stdout.close()

    def __enter__(self) -> DelayProxyProcess:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


if __name__ == "__main__":
    raise SystemExit(main())
