"""The order flow behind the HTTP routes: OMS/EMS/PMS/settlement/order timing per the build map,
each accepted order committed to PostgreSQL before it is routed and before its 201 (cached in Redis
with its state after routing).

Thin glue. Requests are parsed and validated by the order-management domain; rejected input never
reaches the OMS nor the database. The parts come from the switchboard (``harness.builds.order_stack``,
wired once by ``core.order_management.stack``), so a build map that mixes clocked and baseline parts
is just a different constructor per part.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from operator import attrgetter
from typing import Any

from core.database.errors import CacheWriteError, DuplicateRecord, RecordNotFound
from core.database.schema import generation_base
from core.api_gateway.protocols import commit_within_budget, within_budget
from core.order_management import domain as d
from core.order_management.domain import Position
from core.order_management.algos import AlgoKind, AlgoRequest
from core.order_management.fill_view import PositionBook, fill_view
from core.order_management.stage_timing import TRANSITIONS
from harness import builds
from targets.clock import Clock

from .chunks import json_in_slices
from .config import ServiceConfig
from .state_writer import StateWriter

PERSIST_RETRY_S = 1.0  # a failed background write of an order's state is tried again after this long
FILL_LINGER_S = 0.02  # fills wait this long to be written together
# A fill older than this is in PostgreSQL already, whichever worker made it (a worker writes its fills
# within FILL_LINGER_S; one written later still, after an outage, is caught by the book's count check)
POSITIONS_STABLE_NS = 1_000_000_000
FLUSH_WAIT_S = 5.0  # flush waits this long for algo / child-order writes (longer only in an outage)


_STATE = attrgetter("state")


class OrderManagementUnavailable(RuntimeError):
    """The order-management components could not be built (answered 503 with the reason)."""


def position_view(p: Any) -> dict[str, Any]:
    return {
        "instrument": p.instrument,
        "quantity": p.quantity,
        "avg_price": str(p.avg_price),
        "realized_pnl": str(p.realized_pnl),
        "commissions": str(p.commissions),
        "net_realized_pnl": str(p.net_realized_pnl),
        "mark_price": None if p.mark_price is None else str(p.mark_price),
        "settled_quantity": p.settled_quantity,
        "fills": p.fills,
        "last_update_ns": p.last_update_ns,
    }


def row_view(row: Any) -> dict[str, Any]:
    """An order known only from PostgreSQL/Redis (accepted by another worker)."""
    return {
        "order_id": row.order_id, "client_order_id": row.client_order_id, "instrument": row.instrument,
        "side": row.side, "order_type": row.order_type, "quantity": int(row.quantity),
        "limit_price": None if row.price is None else str(row.price), "state": row.state,
        "filled_qty": int(row.filled_quantity), "receive_time_ns": row.ts_received_ns,
        "last_update_ns": row.ts_updated_ns, "sequence": None, "source": "database",
    }  # fmt: skip


class _Row:
    """A database record read by attribute, as ``row_view`` expects."""

    def __init__(self, rec: Any) -> None:
        self._rec = rec

    def __getattr__(self, name: str) -> Any:
        return self._rec[name]


def _enum(field: str, cls: Any, raw: object) -> Any:
    try:
        return cls(raw)  # exact values only, as the OpenAPI enum states
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise d.OrderValidationError(field, f"must be one of {allowed}, got {raw!r}") from None


_decimal = d.parse_decimal


def algo_request(body: dict[str, Any]) -> AlgoRequest:
    return AlgoRequest(
        instrument=body["instrument"],
        side=_enum("side", d.Side, body["side"]),
        quantity=body["quantity"],
        kind=_enum("kind", AlgoKind, body["kind"]),
        duration_ns=body["duration_ns"],
        slices=body.get("slices") or 0,
        profile=tuple(_decimal("profile", w) for w in body.get("profile") or ()),
        participation_rate=None if body.get("participation_rate") is None else _decimal("participation_rate", body["participation_rate"]),
        interval_ns=body.get("interval_ns") or 0,
        client_algo_id=body.get("client_algo_id"),
    )  # fmt: skip


class OrderService:
    def __init__(self, config: ServiceConfig, clock: Clock, store: Any, metrics: Any) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self.metrics = metrics
        # Ids and sequence numbers unique across workers and restarts on one schema: W<n> (nginx routes
        # by it) and numbers from this start's generation, taken from PostgreSQL once (no round trip per
        # order): sequence numbers (and so order ids) are generation << 32 + 1, + 2, ...
        self.instruments = d.default_instruments()
        self.generation = store.generation
        self.parts = builds.order_stack(config.build_map, clock, instruments=self.instruments,
                                        id_prefix=f"W{config.worker_id}-")  # fmt: skip
        self.oms = self.parts.oms
        base = generation_base(self.generation)
        self.oms.number_after(base)  # order ids W<n>-O<sequence>
        self.parts.ems.number_after(base)  # algo ids W<n>-A<generation << 32 + k>
        self.parts.venue.fill_prefix = f"W{config.worker_id}-G{self.generation}-"  # fill ids W<n>-G<gen>-F<k>
        self._persisted: dict[str, tuple[str, int]] = {}  # order id -> (state, filled) last written
        self._pending: set[asyncio.Task[Any]] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._seen = {t: 0 for t in TRANSITIONS}
        self.persist_errors: list[str] = []
        # follow-up state writes, coalesced (one statement per batch), retried through an outage
        self.writer = StateWriter(store.write_states, self._persisted, self._persist_error,
                                  retry_s=PERSIST_RETRY_S)  # fmt: skip
        # Every change after routing reaches the writer as it happens (a fill, a final state), so no
        # scan of every order per quote (that scan grew with the resting orders: O(orders) per tick).
        self.oms.store.fill_listeners.append(self._on_fill)
        self.oms.store.final_listeners.append(self.writer.mark)
        # An algo's child orders are written as orders linked to it (in the background, retried until
        # they land: a slice fires from a timer, not from a request that could wait for the write).
        self.oms.store.create_listeners.append(self._on_created)
        self._algo_versions: dict[str, int] = {}
        self._algo_dirty: dict[str, bool] = {}  # algo id -> changed since its writer took its copy
        self._fills: list[Any] = []  # fills not yet written to PostgreSQL
        self._fill_task: asyncio.Task[None] | None = None
        # every worker's positions, folded from PostgreSQL's fills as they come (see PositionBook)
        self._book = PositionBook(self.instruments, self.parts.settlement.calendar)
        self._book_lock = asyncio.Lock()

    async def start(self) -> None:
        await self.parts.start()

    async def close(self) -> None:
        await self.flush()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*list(self._background), return_exceptions=True)
        await self.writer.close()
        await self.parts.stop()

    # --- orders ----------------------------------------------------------------------------
    async def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        """Durable before routed: the order is validated and sequenced, its PostgreSQL row committed,
        and only then sent to the venue. A failed write withdraws it: nothing traded, no trace in
        memory, and the client hears 503/4xx. Its state after routing is written behind (riding the
        next insert, or after 20 ms alone), and that write caches it in Redis: one cache write per
        order. A committed row whose riding updates' Redis write failed is durable (PostgreSQL is
        the record), so it is routed."""
        req = d.parse_order_request(body, strict=True)

        async def accept_write_route() -> Any:
            order = self.oms.accept(req)  # raises the domain's validation / duplicate errors
            riding = self.writer.take()  # earlier orders' new states ride in this insert's statement
            try:
                await self.store.write_order_to_route(order, self.writer.updates(riding))
            except CacheWriteError:
                self.writer.landed(riding)  # the row is committed: durable
            except BaseException:
                self.writer.put_back(riding)
                self.oms.withdraw(order)
                self._compensate(order.order_id)
                raise
            else:
                self.writer.landed(riding)
            self._persisted[order.order_id] = (order.state.value, 0)
            self.oms.route(order)
            self._persist_one_later(order)  # its state after the venue's answer (ACCEPTED/FILLED/CANCELED...)
            return order

        # The gateway's commit: started only with the route's reserve of budget left (else 504 before the
        # OMS sees the order), and never cut once started, so no order is written but unacknowledged.
        return (await commit_within_budget(accept_write_route)).as_dict()

    def _compensate(self, order_id: str) -> None:
        """A write that failed may still have committed (a timeout after COMMIT): mark such a row
        REJECTED in the background, so the database never shows it live. Absent rows are fine."""
        self._spawn(self._retrying(lambda: self.store.write_state(order_id, d.OrderState.REJECTED.value, 0)))

    def _repair(self, order: Any) -> None:
        """A state write that failed may still have committed: write the order's true state again."""
        self._persisted[order.order_id] = ("?", -1)

        async def write() -> None:
            key = (order.state.value, order.filled_qty)
            await self.store.update_order(order)
            self._persisted[order.order_id] = key

        self._spawn(self._retrying(write))

    async def _retrying(self, write: Any, attempts: int = 20, pause_s: float = 0.5) -> None:
        """Retry a repair write through an outage (harness glue, so a real-time pause between tries)."""
        for _ in range(attempts):
            try:
                await write()
                return
            except RecordNotFound:
                return
            except Exception:  # noqa: BLE001 - the outage goes on: try again
                await asyncio.sleep(pause_s)
        self.persist_errors.append("a repair write failed 20 times; the database may disagree with memory")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _spawn_background(self, coro: Any) -> None:
        """A write retried until it lands (flush waits for it a while, close cancels what is left)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _persist_one_later(self, order: Any) -> None:
        self.writer.mark(order)

    def get_local(self, order_id: str) -> Any:
        return self.oms.get(order_id)

    async def get(self, order_id: str) -> dict[str, Any]:
        try:
            return self.oms.get(order_id).as_dict()
        except d.UnknownOrderError:
            row = await within_budget(self.store.read_order(order_id))
            if row is None:
                raise
            return row_view(row)

    async def list(self, **filters: Any) -> list[dict[str, Any]]:
        """Orders from PostgreSQL (all workers'); an order this worker holds is shown as it is in memory."""
        out = []
        for row in await self.store.list_orders(**filters):
            local = self.oms.store.orders.get(row["order_id"])
            out.append(local.as_dict() if local is not None else row_view(_Row(row)))
        return out

    async def cancel(self, order_id: str) -> dict[str, Any]:
        """Durable before applied: the CANCELED state is written first, then the OMS cancels. If the
        write fails the order is untouched (503); if it filled meanwhile, its true state is rewritten
        and the answer is 409."""

        async def write_then_cancel() -> Any:
            order = self.oms.get(order_id)
            if order.is_final:
                raise d.OrderAlreadyFinalError(order_id, order.state)
            filled = order.filled_qty
            try:
                await self.store.write_state(order_id, d.OrderState.CANCELED.value, filled)
            except CacheWriteError:
                pass
            except BaseException:
                self._repair(order)  # it may have committed: put the true (live) state back
                raise
            self._persisted[order_id] = (d.OrderState.CANCELED.value, filled)
            try:
                order = self.oms.cancel(order_id)
            finally:
                self._persist_one_later(order)
            return order

        return (await commit_within_budget(write_then_cancel)).as_dict()

    def _persist_later(self) -> None:
        """Mark every order whose state differs from what was written (a safety net run by flush;
        changes reach the writer as they happen through the OMS's listeners)."""
        for o in self.oms.orders():
            if o.order_id in self._persisted:
                self.writer.mark(o)  # a no-op unless its state differs from what was written

    def _persist_error(self, message: str) -> None:
        """Kept and shown in /health, never silent; retried every second through an outage, so only
        the latest are kept."""
        self.persist_errors.append(message)
        del self.persist_errors[:-50]

    async def flush(self) -> None:
        """Wait for background writes (after /clock/advance, so a scenario's answers are complete)."""
        self._persist_later()
        if self._background:  # algo and child-order writes: done unless an outage holds them
            await asyncio.wait(list(self._background), timeout=FLUSH_WAIT_S)
        if self._fill_task is not None and not self._fill_task.done():
            await asyncio.wait([self._fill_task], timeout=FLUSH_WAIT_S)
        await self.writer.drain()
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def on_quotes(self, quotes: list[Any], ts_ns: int) -> None:
        for q in quotes:
            self.oms.on_quote(q)  # fills and expiries reach the writer through the OMS's listeners

    def _on_fill(self, fill: Any) -> None:
        order = self.oms.store.orders.get(fill.order_id)
        if order is not None:
            self.writer.mark(order)
        self._fills.append(fill)
        if self._fill_task is None or self._fill_task.done():
            self._fill_task = asyncio.get_running_loop().create_task(self._write_fills())

    async def _write_fills(self) -> None:
        """Fills to PostgreSQL in batches (a child order's fill may wait for its order's row: retried),
        so every worker reads the same fills, positions and settlements."""
        await asyncio.sleep(FILL_LINGER_S)
        while self._fills:
            batch, self._fills = self._fills[:500], self._fills[500:]
            try:
                await self.store.write_fills(batch)
            except Exception as exc:  # noqa: BLE001 - an outage (or the order's row not there yet): again
                self._persist_error(f"{len(batch)} fill(s): {type(exc).__name__}: {exc}")
                self._fills[:0] = batch
                await asyncio.sleep(PERSIST_RETRY_S)

    async def _fills_written(self) -> None:
        """Wait until this worker's fills so far are in PostgreSQL (bounded: an outage answers 503)."""
        if self._fill_task is not None and not self._fill_task.done():
            await within_budget(asyncio.shield(self._fill_task))

    async def fills(self, order_id: str) -> dict[str, Any]:
        """An order's fills with their settlement dates, from PostgreSQL (404 for an unknown order).
        Any worker answers (``/api/v1/fills?order_id=``, not a sub-path of the order: a canceled order
        keeps its fills); this worker's own fills are waited for, another worker's are there within
        its write-behind's linger (~20 ms) of the trade."""
        if order_id not in self.oms.store.orders and await within_budget(self.store.read_order(order_id)) is None:
            raise d.UnknownOrderError(order_id)
        await self._fills_written()
        now = self.clock.timestamp_ns()
        cal = self.parts.settlement.calendar
        rows = await within_budget(self.store.read_fills(order_id))
        return {"order_id": order_id, "fills": [fill_view(f, self.instruments, cal, now) for f in rows]}

    def state_counts(self) -> dict[str, int]:
        """Orders held, by state. Counted in C (``map``/``attrgetter``): the monitoring collector reads it
        every second over every order the worker holds (tens of thousands after a benchmark)."""
        return {state.value: n for state, n in Counter(map(_STATE, self.oms.store.orders.values())).items()}

    def observe_stages(self) -> None:
        for t in TRANSITIONS:
            lat = self.parts.timing.latencies(t)
            for v in lat[self._seen[t]:]:
                self.metrics.observe_stage(t, v)
            self._seen[t] = len(lat)

    # --- positions and algos ---------------------------------------------------------------
    async def positions(self) -> dict[str, Any]:
        """Every worker's positions, rebuilt from the fills in PostgreSQL, so any worker nginx picks
        answers the same (see ``core.order_management.fill_view``). Why not each worker's PMS: it
        holds only that worker's trades; why not account-affine routing: there is one account, and
        sending every order to one worker would leave the others idle. A fill is there within the
        write-behind's linger (~20 ms) of its trade; this worker's own are waited for first."""
        await self._fills_written()
        async with self._book_lock:  # one reader folds at a time: the book is shared
            now = self.clock.timestamp_ns()
            book = self._book
            newer, behind = await within_budget(self.store.read_fills_after(book.horizon))
            if behind != book.count:  # a fill was written behind the book (late, e.g. after an outage)
                book.reset()
                newer, _ = await within_budget(self.store.read_fills_after(None))
            stable = now - POSITIONS_STABLE_NS
            taken = 0
            for f in newer:  # fills no worker can still write one before go into the book
                if f.ts_ns >= stable:
                    break
                book.fold(f)
                taken += 1
            positions, cash, settled, unsettled = book.view(newer[taken:], now)
        return {
            "positions": [position_view(p) for _, p in sorted(positions.items())],
            "cash": str(cash),
            "settled_cash": str(settled),
            "pending_settlements": unsettled,
            "timestamp": now,
            "source": "database",
            "answered_by": self.config.worker_id,  # any worker answers the same; this one did
        }

    async def position(self, instrument: str) -> dict[str, Any]:
        if instrument not in self.instruments:
            raise d.OrderValidationError("instrument", f"unknown instrument {instrument!r}")
        for p in (await self.positions())["positions"]:
            if p["instrument"] == instrument:
                return p
        return position_view(Position(instrument))

    async def start_algo(self, body: dict[str, Any]) -> Any:
        """Durable before started: the algo is validated and numbered, written to PostgreSQL, and only
        then started (its first slice may fire at once). A failed write withdraws it: nothing sent."""
        request = algo_request(body)  # bad input is refused before anything starts
        ems = self.parts.ems

        async def write_start_flush() -> Any:
            algo = ems.prepare(request)
            try:
                await self._write_algo_now(algo)
            except DuplicateRecord:  # another worker's algo has this client_algo_id
                ems.withdraw(algo)
                raise d.InvalidOrderRequest([d.OrderValidationError(
                    "client_algo_id", f"{request.client_algo_id!r} is already used")]) from None  # fmt: skip
            except BaseException:
                ems.withdraw(algo)
                raise
            ems.launch(algo)
            self._algo_changed(algo)  # its state after the first slice, if that fired at once
            await self.flush()
            return algo

        return await commit_within_budget(write_start_flush)  # never cut once started

    def _next_version(self, algo_id: str) -> int:
        v = self._algo_versions.get(algo_id, 0) + 1
        self._algo_versions[algo_id] = v
        return v

    def _algo_changed(self, algo: Any) -> None:
        """Write the algo as it is now, in the background, retried until it lands. One writer per algo:
        changes made while it writes are written together next (a 10,000-step POV changes at every
        step; a whole document per step made a day's advance O(steps^2) and held the loop for 100 ms)."""
        pending = algo.algo_id in self._algo_dirty
        self._algo_dirty[algo.algo_id] = True
        if not pending:
            self._spawn_background(self._algo_writer(algo))

    async def _algo_writer(self, algo: Any) -> None:
        try:
            while self._algo_dirty.get(algo.algo_id):
                self._algo_dirty[algo.algo_id] = False  # a change from here on is written by the next pass
                await self._until_landed(lambda: self._write_algo_now(algo))
        finally:
            self._algo_dirty.pop(algo.algo_id, None)

    async def _write_algo_now(self, algo: Any) -> None:
        """The algo's document as it is now, built in slices that yield to the loop, then written."""
        version = self._next_version(algo.algo_id)
        head = algo.head_dict()
        doc = await json_in_slices(head, "slices", (sl.as_dict() for sl in algo.slices))
        await self.store.write_algo(head, doc, version)

    def _on_created(self, order: Any) -> None:
        if order.parent_algo_id is None:
            return  # the service's own submit writes it before routing

        async def write() -> None:
            state = order.state.value  # routed already (a slice is sent and answered at once)
            await self.store.write_child(order, order.parent_algo_id)
            self._persisted.setdefault(order.order_id, (state, 0))
            self.writer.mark(order)  # its fills, if any
            self._algo_changed(self.parts.ems.get(order.parent_algo_id))

        self._spawn_background(self._until_landed(write))

    async def _until_landed(self, write: Any) -> None:
        """Retry a background write every PERSIST_RETRY_S through an outage until it lands (real time:
        harness glue); failures are shown in /health."""
        while True:
            try:
                await write()
                return
            except Exception as exc:  # noqa: BLE001 - kept and shown, then tried again
                self._persist_error(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(PERSIST_RETRY_S)

    async def get_algo(self, algo_id: str) -> Any:
        """The Algo from memory when this worker runs it; else its document from PostgreSQL (a
        restarted worker's, say)."""
        try:
            return self.oms.get_algo(algo_id)
        except d.UnknownAlgoError:
            doc = await within_budget(self.store.read_algo(algo_id))
            if doc is None:
                raise
            return {**doc, "source": "database"}

    def algo_extras(self, algo: Any) -> dict[str, Any]:
        """What an in-memory algo's answer adds to its own fields: its child orders as they are now."""
        orders = self.oms.store.orders
        children = (orders.get(s.child_order_id) for s in algo.slices if s.child_order_id is not None)
        return {"child_orders": [{"order_id": o.order_id, "state": o.state.value, "quantity": o.quantity,
                                  "filled_qty": o.filled_qty} for o in children if o is not None],
                "source": "memory"}

    def algo_action(self, algo_id: str, action: str) -> Any:
        """pause, resume or cancel (404 unknown, 409 when the state does not allow it)."""
        ems = self.parts.ems
        ems.get(algo_id)
        algo = getattr(ems, action)(algo_id)
        self._algo_changed(algo)
        return algo
