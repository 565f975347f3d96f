"""harness/app/state_writer.py without a database: when the write-behind writes a batch of its own.

Run on a virtual-time loop (``run_virtual``): its ``asyncio.sleep`` follows a TestClock, so the linger
and the inserts' spacing are exact whatever the machine's load."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from harness.app.state_writer import StateWriter
from targets.clock import run_virtual


@dataclass
class _State:
    value: str


@dataclass
class _Order:
    order_id: str
    state: _State
    filled_qty: int = 0


def _writer(linger_s: float) -> tuple[StateWriter, list[list[Any]]]:
    written: list[list[Any]] = []

    async def write_batch(updates: list[Any]) -> list[Any]:
        written.append(updates)
        return []

    persisted: dict[str, tuple[str, int]] = {}
    return StateWriter(write_batch, persisted, lambda m: None, linger_s=linger_s), written


def test_a_marked_order_nobody_carries_is_written_alone_after_the_linger():
    async def go() -> tuple[list[list[Any]], int]:
        w, written = _writer(0.01)
        o = _Order("A", _State("NEW"))
        w.persisted["A"] = ("NEW", 0)
        o.state = _State("ACCEPTED")
        w.mark(o)
        await asyncio.sleep(0.05)
        await w.close()
        return written, w.batches

    written, batches = run_virtual(go())
    assert written == [[("A", "ACCEPTED", 0)]] and batches == 1


def test_while_inserts_carry_the_queue_no_batch_of_its_own_is_written():
    """An insert every 4 ms takes what is marked; the 10 ms linger sees them carry it and writes nothing
    alone until they stop, then writes what the last one left."""

    async def go() -> tuple[list[list[Any]], list[str], StateWriter]:
        w, written = _writer(0.01)
        carried: list[str] = []
        for i in range(30):
            o = _Order(f"O{i}", _State("NEW"))
            w.persisted[o.order_id] = ("NEW", 0)
            sent = w.take()  # the insert of order i carries what is marked
            carried += list(sent)
            w.landed(sent)
            o.state = _State("ACCEPTED")  # routed
            w.mark(o)
            await asyncio.sleep(0.004)
        await asyncio.sleep(0.05)
        await w.drain()
        await w.close()
        return written, carried, w

    written, carried, w = run_virtual(go())
    assert carried == [f"O{i}" for i in range(29)]
    assert written == [[("O29", "ACCEPTED", 0)]] and w.batches == 1
    assert w.persisted["O29"] == ("ACCEPTED", 0) and w.persisted["O0"] == ("ACCEPTED", 0)
