"""Write-behind of orders' states after they are routed: coalesced into one statement per batch.

Why: an order is written (committed) before it is routed, so its state after routing (ACCEPTED,
FILLED, ...) needs a second write. One UPDATE and one Redis SET per order, each its own task, cost
POST /api/v1/orders about a fifth of its throughput. Here the changes wait in a queue; the next new
order's insert takes them (``take``) and writes them in its own statement (an UPDATE over unnest
arrays in a CTE beside the INSERT, one Redis pipeline for all rows), so under load the follow-up
costs no round trip of its own. When no order comes within ``linger_s``, the queue is written by
itself (one ``update_orders`` per batch). Accepted still means durable: the order's first write is
synchronous; this is only its follow-up.

Kept from the per-order writes: each order's latest (state, filled) is what gets written (read when
its batch is taken, so an order that changed twice is written once); a batch that fails (an outage)
is tried again after ``retry_s`` until it lands; what was last written is recorded per order in
``persisted`` (shared with the service's synchronous writes), and an order that changed while its
batch was in flight is written again. Harness glue: the pause between tries is real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from core.database.errors import CacheWriteError

Update = tuple[str, str, Decimal | None]
MAX_BATCH = 256  # orders per statement: bounds one statement's size and the loop time spent building it
LINGER_S = 0.02  # a batch waits this long: under load the next new order's insert carries the changes


def state_key(order: Any) -> tuple[str, int]:
    return (order.state.value, order.filled_qty)


class StateWriter:
    def __init__(self, write_batch: Callable[[list[Update]], Awaitable[list[Any]]],
                 persisted: dict[str, tuple[str, int]], on_error: Callable[[str], None], *,
                 retry_s: float = 1.0, max_batch: int = MAX_BATCH, linger_s: float = LINGER_S) -> None:  # fmt: skip
        self._write_batch = write_batch
        self.persisted = persisted
        self._on_error = on_error
        self.retry_s = retry_s
        self.max_batch = max_batch
        self.linger_s = linger_s
        self._dirty: dict[str, Any] = {}  # order id -> the order (its state read when the batch is taken)
        self._inflight: dict[str, tuple[str, int]] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # statements of their own (the rest rode on inserts); a test reads batches < orders
        self.carried = 0  # takes by inserts (``take``) that found something to carry
        self.written = 0

    def mark(self, order: Any) -> None:
        """The order's state may differ from what PostgreSQL holds: write it in the next batch. An
        order not written yet (its first, synchronous write is under way) is left to that write."""
        oid = order.order_id
        written = self.persisted.get(oid)
        if written is None:
            return
        key = state_key(order)
        if written == key or self._inflight.get(oid) == key:
            return
        self._dirty[oid] = order
        self._idle.clear()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            # Linger while inserts carry the queue: a batch of its own (a statement and a cache write
            # more) is written only after ``linger_s`` in which no insert took anything. Under load the
            # lone batches took a seventh of the follow-ups, each a round trip the next insert saves.
            while self.linger_s:
                carried = self.carried
                await asyncio.sleep(self.linger_s)
                if self.carried == carried or not self._dirty:
                    break
            self._wake.clear()
            while self._dirty:
                await self._one_batch()
            self._settled()

    def take(self, limit: int | None = None) -> dict[str, tuple[Any, tuple[str, int]]]:
        """Take up to ``limit`` marked orders for one write: order id -> (order, the state written).
        The caller writes them (``updates``) and then calls ``landed`` or ``put_back``."""
        sent = self._take(limit)
        if sent:
            self.carried += 1
        return sent

    def _take(self, limit: int | None = None) -> dict[str, tuple[Any, tuple[str, int]]]:
        if not self._dirty:
            return {}
        take = list(self._dirty.items())[: self.max_batch if limit is None else limit]
        sent: dict[str, tuple[Any, tuple[str, int]]] = {}
        for oid, order in take:
            del self._dirty[oid]
            key = state_key(order)
            if self.persisted.get(oid) != key:
                sent[oid] = (order, key)
        self._inflight.update({oid: key for oid, (_, key) in sent.items()})
        return sent

    @staticmethod
    def updates(sent: dict[str, tuple[Any, tuple[str, int]]]) -> list[Update]:
        return [(oid, key[0], Decimal(key[1])) for oid, (_, key) in sent.items()]

    def landed(self, sent: dict[str, tuple[Any, tuple[str, int]]], *, alone: bool = False) -> None:
        """The write of ``sent`` committed (``alone``: in a statement of its own, not carried by an insert)."""
        for oid in sent:
            self._inflight.pop(oid, None)
        if alone:
            self.batches += 1
        self.written += len(sent)
        for oid, (order, key) in sent.items():
            # A row not updated was stamped later by a synchronous write (a cancel): marking the order
            # again below writes its true state once more if it differs.
            if self.persisted.get(oid) is not None:
                self.persisted[oid] = key
            if state_key(order) != key:  # it changed while the write was in flight
                self.mark(order)
        self._settled()

    def put_back(self, sent: dict[str, tuple[Any, tuple[str, int]]]) -> None:
        """The write that carried ``sent`` failed for its own reason (its new order was refused):
        the updates go back to the queue, written by the next batch."""
        for oid, (order, _) in sent.items():
            self._inflight.pop(oid, None)
            self.mark(order)
        self._settled()

    def _settled(self) -> None:
        if not self._dirty and not self._inflight:
            self._idle.set()

    async def _one_batch(self) -> None:
        sent = self._take()
        if not sent:
            return
        try:
            try:
                await self._write_batch(self.updates(sent))
            except CacheWriteError:
                pass  # the rows are committed: PostgreSQL is the record
        except Exception as exc:  # noqa: BLE001 - an outage: every order of the batch is tried again
            for oid in sent:
                self._inflight.pop(oid, None)
            self._on_error(f"{len(sent)} order state(s): {type(exc).__name__}: {exc}")
            orders = [order for order, _ in sent.values()]
            asyncio.get_running_loop().call_later(self.retry_s, self._retry, orders)
            return
        self.landed(sent, alone=True)

    def _retry(self, orders: list[Any]) -> None:
        for order in orders:
            self.mark(order)

    async def drain(self) -> None:
        """Wait until every marked order's batch has been tried (one waiting for its retry is not)."""
        while not self._idle.is_set():
            await self._idle.wait()

    async def close(self) -> None:
        await self.drain()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
