"""The worker's guards without a server: the loop-stall probe and the body-size limit (pure ASGI)."""

from __future__ import annotations

import asyncio
import json
import time

from harness.app.guards import BodyLimit, LoopLagProbe


def test_the_probe_sees_a_held_loop_without_waking_it():
    """A callback that holds the loop 60 ms shows as a stall of at least 60 ms; a loop that only waits
    shows none, and the probe wakes nothing of its own (its samples are the loop's own polls)."""

    async def main() -> tuple[float, int, float, int, dict]:
        probe = LoopLagProbe()
        probe.start()
        await asyncio.sleep(0.2)  # an idle loop: a poll or two, no wake-ups of the probe's own
        idle_max, idle_samples = probe.max_s, probe.samples
        asyncio.get_running_loop().call_soon(time.sleep, 0.06)  # holds the loop
        await asyncio.sleep(0.05)
        held, over = probe.max_s, probe.over_10ms
        view = probe.reset()
        await probe.stop()
        assert "select" not in vars(asyncio.get_running_loop()._selector)  # type: ignore[attr-defined]
        return idle_max, idle_samples, held, over, view

    idle_max, idle_samples, held, over, view = asyncio.run(main())
    assert idle_max < 0.010 and idle_samples < 10
    assert held >= 0.06 and over == 1
    assert view["measure"] == "select" and view["max_lag_s"] == held


def test_the_probe_falls_back_to_a_timer_without_a_selector():
    class NoSelector:
        def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
            self._loop = loop

        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            if name == "_selector":
                raise AttributeError(name)
            return getattr(self._loop, name)

    async def main() -> dict:
        probe = LoopLagProbe()
        real = asyncio.get_running_loop()
        asyncio.events._set_running_loop(NoSelector(real))  # type: ignore[arg-type]
        try:
            probe.start()
        finally:
            asyncio.events._set_running_loop(real)
        await asyncio.sleep(0.05)
        real.call_soon(time.sleep, 0.03)
        await asyncio.sleep(0.03)
        out = probe.view()
        await probe.stop()
        return out

    view = asyncio.run(main())
    assert view["measure"] == "timer" and view["samples"] >= 3 and view["max_lag_s"] >= 0.02


async def _call(app, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, bytes, int]:  # type: ignore[no-untyped-def]
    """Run ``BodyLimit(app)`` on one request; (status, body, bytes the app read)."""
    pending = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict] = []

    async def receive() -> dict:
        return pending.pop(0)

    async def send(message: dict) -> None:
        sent.append(message)

    await BodyLimit(app, max_bytes=10)({"type": "http", "headers": headers}, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"), read[0]


read = [0]


async def _echo(scope, receive, send):  # type: ignore[no-untyped-def]
    read[0] = 0
    more = True
    while more:
        m = await receive()
        read[0] += len(m.get("body", b""))
        more = m.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_the_body_limit_by_length_and_by_chunks():
    run = asyncio.run
    assert run(_call(_echo, [(b"content-length", b"5")], [b"12345"])) == (200, b"ok", 5)  # within: passed through
    status, body, _ = run(_call(_echo, [(b"content-length", b"11")], [b"x" * 11]))  # refused by its length
    assert status == 413 and json.loads(body)["errors"][0]["field"] == "body"
    status, _, got = run(_call(_echo, [], [b"123456", b"789012"]))  # no length: counted, cut past the limit
    assert status == 413 and got == 6
    assert run(_call(_echo, [(b"content-length", b"x")], [b"1234"]))[0] == 200  # not a length: counted, within
