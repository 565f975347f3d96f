"""Long work in slices that give the event loop back (issue 11: bounded work could still hold a worker's
loop for seconds, so every other request, health check and heartbeat on it waited).

A slice runs until ``SLICE_S`` of real time has passed, then yields with ``asyncio.sleep(0)``. The
budget is read from ``perf_counter``: it is a scheduling guard of the harness (like the request-read
deadline), never a timestamp of the system under test, and it does not change what is computed: a
TestClock moved in slices fires exactly the events, in the same order, as one ``advance_time``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from starlette.responses import Response

SLICE_S = 0.002  # the longest stretch of work between two yields (one item may run past it)
_JSON_ITEMS = 256  # items serialized between two budget checks


async def advance_in_slices(clock: Any, target_ns: int, slice_s: float = SLICE_S) -> list[Any]:
    """Move a TestClock to ``target_ns`` one due instant at a time, yielding to the loop whenever a slice's
    budget is spent. Every instant's timers fire inside one ``advance_time`` call, so ties keep their
    order, and what a callback sets for "now" is fired at that instant, as in a single call."""
    fired: list[Any] = []
    perf = time.perf_counter
    until = perf() + slice_s
    while True:
        due = clock.next_deadline_ns()
        if due is None or due > target_ns:
            fired += clock.advance_time(target_ns)
            return fired
        fired += clock.advance_time(due)
        if perf() >= until:
            await asyncio.sleep(0)
            until = perf() + slice_s


async def json_in_slices(head: dict[str, Any], key: str, items: Sequence[Any] | Iterable[Any],
                         slice_s: float = SLICE_S) -> bytes:  # fmt: skip
    """``json.dumps({**head, key: items})`` built a few hundred items at a time, yielding between slices:
    a response of tens of thousands of items (a day's events, an algo's slices) never holds the loop."""
    perf = time.perf_counter
    until = perf() + slice_s
    dumps = json.dumps
    prefix = dumps(head)
    parts = [prefix[:-1] + (", " if head else "") + dumps(key) + ": ["]
    batch: list[str] = []
    first = True
    for n, item in enumerate(items, 1):
        batch.append(dumps(item))
        if n % _JSON_ITEMS == 0:
            parts.append(("" if first else ", ") + ", ".join(batch))
            first, batch = False, []
            if perf() >= until:
                await asyncio.sleep(0)
                until = perf() + slice_s
    if batch:
        parts.append(("" if first else ", ") + ", ".join(batch))
    parts.append("]}")
    return "".join(parts).encode()


def json_response(body: bytes, status_code: int = 200) -> Response:
    return Response(body, status_code=status_code, media_type="application/json")
