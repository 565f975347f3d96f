"""The narrow interfaces on a real engine (build-neutral I/O, no time reads).

``SdkEngine`` (ContainerEngine) and ``EngineHealthProbe`` (the engine's own health status, read
with ``container.reload()``) go through the docker SDK, whose calls block: they run in a thread.
``HttpHealthProbe`` asks the container's health endpoint itself (containers share the host's
network, so a container is reached at 127.0.0.1:its port), with plain asyncio streams: no thread,
so a thousand checks cost a thousand small requests, not a thousand thread hops.
``pump_health_events`` forwards the engine's ``health_status`` events into the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from typing import Any


def _health_of(attrs: dict[str, Any]) -> str:
    state = attrs.get("State") or {}
    if not state.get("Running"):
        return "exited"
    health = state.get("Health") or {}
    return str(health.get("Status") or "none")


class SdkEngine:
    """ContainerEngine on the docker SDK (``client`` is a ``docker.DockerClient``)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _get(self, cid: str) -> Any:
        return self.client.containers.get(cid)

    async def start(self, container_id: str) -> None:
        await asyncio.to_thread(lambda: self._get(container_id).start())

    async def health(self, container_id: str) -> str:
        return await asyncio.to_thread(lambda: _health_of(self._get(container_id).attrs))

    async def signal(self, container_id: str, signal: str) -> None:
        await asyncio.to_thread(self._signal, container_id, signal)

    def _signal(self, cid: str, sig: str) -> None:
        import docker

        try:
            self._get(cid).kill(signal=sig)
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: not running, nothing to stop
                raise

    async def kill(self, container_id: str) -> None:
        await asyncio.to_thread(self._signal, container_id, "SIGKILL")

    async def wait_exit(self, container_id: str) -> int:
        result = await asyncio.to_thread(lambda: self._get(container_id).wait())
        return int(result.get("StatusCode", -1))


class EngineHealthProbe:
    """HealthProbe that reads the engine's health status (``container.reload()``): healthy iff 'healthy'."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._containers: dict[str, Any] = {}

    def _status(self, cid: str) -> str:
        c = self._containers.get(cid)
        if c is None:
            c = self._containers[cid] = self.client.containers.get(cid)
        else:
            c.reload()
        return _health_of(c.attrs)

    async def check(self, container_id: str) -> bool:
        return await asyncio.to_thread(self._status, container_id) == "healthy"


class HttpHealthProbe:
    """HealthProbe that GETs ``http://host:port/path`` of the container: healthy iff status 200.

    ``ports`` maps a container id to its port (a Mapping, so the caller may add containers later).
    A refused connection or a broken answer raises: the check was not answered.
    """

    def __init__(self, ports: Mapping[str, int], path: str = "/health", host: str = "127.0.0.1") -> None:
        self.ports = ports
        self.path = path
        self.host = host

    async def check(self, container_id: str) -> bool:
        port = self.ports[container_id]
        reader, writer = await asyncio.open_connection(self.host, port)
        try:
            writer.write(f"GET {self.path} HTTP/1.0\r\nHost: {self.host}\r\n\r\n".encode())
            await writer.drain()
            line = await reader.readline()
            parts = line.split()
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
                raise ConnectionError(f"not an HTTP answer: {line[:60]!r}")
            return parts[1] == b"200"
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass


def parse_health_event(event: dict[str, Any]) -> tuple[str, str] | None:
    """(container id, status) from an engine event, or None if it is not a health status event."""
    action = str(event.get("Action") or event.get("status") or "")
    if not action.startswith("health_status"):
        return None
    status = action.split(":", 1)[1].strip() if ":" in action else ""
    cid = str(event.get("id") or (event.get("Actor") or {}).get("ID") or "")
    return (cid, status) if cid and status else None


def pump_health_events(
    client: Any, deliver: Callable[[str, str], object], loop: asyncio.AbstractEventLoop
) -> Callable[[], None]:
    """Read the engine's events in a thread and call ``deliver(cid, status)`` in ``loop`` for each
    health status. Returns a function that stops the pump."""
    stream = client.events(decode=True, filters={"type": "container"})
    done = threading.Event()

    def run() -> None:
        try:
            for event in stream:
                if done.is_set():
                    break
                parsed = parse_health_event(event)
                if parsed is not None and not loop.is_closed():
                    loop.call_soon_threadsafe(deliver, *parsed)
        except Exception:  # noqa: BLE001 - the stream ends with an error when it is closed
            pass

    thread = threading.Thread(target=run, name="docker-health-events", daemon=True)
    thread.start()

    def stop() -> None:
        done.set()
        try:
            stream.close()
        except Exception:  # noqa: BLE001
            pass
        thread.join(timeout=5)

    return stop
