"""A synthetic HTTP service whose capacity is known by construction, for testing the load tools.

A plain asyncio HTTP/1.1 server (keep-alive) with ``slots`` concurrent slots: each request holds
a slot for ``service_ms`` and then gets its answer. With ``--mode queue`` a request that finds
every slot taken waits in FIFO order; with ``--mode shed`` it is answered ``503`` at once.
So closed-loop users with no think time are served in ``service_ms`` while there are at most
``slots`` of them. Beyond that, in queue mode, every request takes ``users * service_ms / slots``
in steady state (Little's law: the slots' throughput is fixed); in shed mode the extra users
collect 503s at once, so the capacity under an error SLO is exactly ``slots`` users.

It speaks enough of the stack's API for the profiles (orders, positions, clock sync, health) to
run against it. Run: ``python tests/loadtests/synthetic.py --slots 4 --service-ms 40``; it prints
``PORT <n>`` on its first line once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time


class Synthetic:
    def __init__(self, slots: int, service_ms: float, mode: str, refuse_ms: float = 0.0) -> None:
        self.slots = asyncio.Semaphore(slots)
        self.service_s = service_ms / 1000.0
        self.mode = mode
        self.refuse_s = refuse_ms / 1000.0
        self.next_id = 0
        self.served = 0
        self.refused = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in lines[1:] if ":" in h)}
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                t1 = time.time_ns()
                status, payload = await self.route(method, target.split("?")[0], body, t1)
                data = json.dumps(payload).encode()
                reason = {200: "OK", 201: "Created", 404: "Not Found", 503: "Service Unavailable"}.get(status, "OK")
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(data)}\r\nConnection: keep-alive\r\n\r\n".encode() + data
                )
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def route(self, method: str, path: str, body: bytes, t1: int) -> tuple[int, dict]:
        if path == "/health":
            return 200, {"status": "ok", "served": self.served, "refused": self.refused}
        if path == "/api/v1/clock/sync":
            t0 = json.loads(body or b"{}").get("t0", 0)
            return 200, {"t0": t0, "t1": t1, "t2": time.time_ns(), "kind": "live"}
        if self.mode == "shed" and self.slots.locked():
            self.refused += 1
            if self.refuse_s:  # a refusal that takes a moment, so retrying clients do not spin
                await asyncio.sleep(self.refuse_s)
            return 503, {"detail": "all slots busy"}
        async with self.slots:
            await asyncio.sleep(self.service_s)  # the slot is held: this is the service time by construction
            self.served += 1
        if method == "POST" and path == "/api/v1/orders":
            self.next_id += 1
            return 201, {"order_id": str(self.next_id), "state": "accepted", "received_ns": t1}
        if path.startswith("/api/v1/orders/"):
            return 200, {"order_id": path.rsplit("/", 1)[-1], "state": "cancelled" if method == "DELETE" else "accepted"}
        return 200, {"path": path, "ok": True}


async def main(port: int, slots: int, service_ms: float, mode: str, refuse_ms: float) -> None:
    app = Synthetic(slots, service_ms, mode, refuse_ms)
    server = await asyncio.start_server(app.handle, "127.0.0.1", port, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--slots", type=int, default=4)
    p.add_argument("--service-ms", type=float, default=40.0)
    p.add_argument("--mode", choices=("queue", "shed"), default="queue")
    p.add_argument("--refuse-ms", type=float, default=0.0, help="shed mode: how long a 503 takes")
    a = p.parse_args()
    try:
        asyncio.run(main(a.port, a.slots, a.service_ms, a.mode, a.refuse_ms))
    except KeyboardInterrupt:
        pass
