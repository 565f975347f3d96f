"""The service clock: NTP-style sync, its time, and (TestClock only) moving it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from core.api_gateway.protocols import commit_within_budget
from core.order_management.limits import MAX_ADVANCE_NS

from ..chunks import advance_in_slices, json_in_slices, json_response
from ..errors import problem
from ..schemas import ClockAdvance, ClockSync, responses
from . import API, current

router = APIRouter()


SYNC_PATH = f"{API}/clock/sync"


@router.post(SYNC_PATH, summary="NTP-style exchange: t1 (receive) and t2 (send) in server ns")
async def clock_sync(body: ClockSync, request: Request) -> dict[str, Any]:
    c = current(request)
    # t1 as the request reached the service (app.ReceiptStamp), not after the layers and parsing above this route
    received = request.scope.get("state", {}).get("received_ns")
    t1 = received if received is not None else c.clock.timestamp_ns()
    return {"t0": body.t0, "t1": t1, "t2": c.clock.timestamp_ns(), "clock": c.clock.kind}


@router.get(f"{API}/clock/server-time", summary="The service clock's time")
async def server_time(request: Request) -> dict[str, Any]:
    c = current(request)
    ns = c.clock.timestamp_ns()
    return {"timestamp_ns": ns, "iso": c.clock.utc_now().isoformat(), "clock": c.clock.kind}


@router.post(f"{API}/clock/advance", summary="TestClock only: move time, returning the events fired",
             responses=responses(404, 422, 503))
async def clock_advance(body: ClockAdvance, request: Request) -> Any:
    c = current(request)
    if c.clock.kind != "test":
        return problem(404, "clock", "the clock is live; /clock/advance exists only under --clock test")
    if (body.by_ns is None) == (body.to_ns is None):
        return problem(422, "by_ns", "give exactly one of by_ns or to_ns")
    if body.by_ns is not None and body.by_ns < 0:
        return problem(422, "by_ns", f"must be >= 0, got {body.by_ns}")
    # One advance at a time: time moves in slices that yield to the loop, and a second advance started in
    # between would read a "now" the first is still moving past.
    async with c.advance_lock:
        now = c.clock.timestamp_ns()
        target = now + body.by_ns if body.by_ns is not None else body.to_ns
        if target < now:
            return problem(422, "to_ns", f"{target} is before now ({now}): time does not go back")
        if target - now > MAX_ADVANCE_NS:
            return problem(422, "to_ns" if body.to_ns is not None else "by_ns",
                           f"one call moves time at most {MAX_ADVANCE_NS} ns (the limit, one day); call again")  # fmt: skip

        async def advance_and_flush() -> Any:
            fired = await advance_in_slices(c.clock, target)  # a day of timers never holds the loop
            if c.orders is not None:
                await c.orders.flush()
            return fired

        # The gateway's commit: moving a TestClock past this very request's deadline fires that deadline inside
        # advance_time; as a commit, time moves and the answer goes out rather than a 504 after the fact.
        events = await commit_within_budget(advance_and_flush)
    body_bytes = await json_in_slices(
        {"from_ns": now, "to_ns": target}, "events",
        ({"name": e.name, "event_id": e.event_id, "ts_event": e.ts_event, "ts_init": e.ts_init} for e in events))
    return json_response(body_bytes)
