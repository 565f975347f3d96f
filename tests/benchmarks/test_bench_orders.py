"""Order-management microbenchmarks: the clocked build (on a LiveClock) and the baseline, same run.

Pairs (``benchmark.group``):
- ``orders.pipeline``: submit a MARKET order -> venue fill -> PMS position update -> settlement
  booking, in process, ``PIPELINE_ORDERS`` orders a round. The plan's in-process order latency.
- ``orders.oms.submit_cancel``: a LIMIT order that rests, then its cancel (OMS + venue, no fills).
- ``orders.ems.slices``: TWAP slices all due at once, worked by each build on a real asyncio loop
  (the clocked EMS arms one clock alert per slice; the baseline task skips ``asyncio.sleep``
  when a slice is already due), child order included; one op is one slice. It measures the
  per-slice overhead of the machinery, not timing precision.
- ``orders.pms.apply_fill``: PMS position/P&L/cash update and settlement booking per fill.

Per-order latencies are measured inside the round with ``time.perf_counter_ns`` around each
order and stored in ``extra_info`` (p50/p99 ns) with the derived orders/s; the two
``perf_counter_ns`` calls per order are included in the round time of both builds alike.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from core.order_management.algos import AlgoKind, AlgoRequest, AlgoState
from core.order_management.domain import Fill, OrderRequest, OrderType, Side, TimeInForce, default_instruments
from core.order_management.venue import Quote, SimulatedVenue
from harness.builds import BUILDS, make, needs_clock, order_stack
from targets.clock import LiveClock

PIPELINE_ORDERS = 2000
OMS_ORDERS = 2000
PMS_FILLS = 5000
ALGOS, SLICES = 20, 10
INSTRUMENTS = default_instruments()
SYMBOLS = ("AAPL", "MSFT", "ES", "BUND")
DEEP = 10**12


def deep_quote(symbol: str) -> Quote:
    tick = INSTRUMENTS[symbol].tick_size
    mid = Decimal(100)
    bids = tuple((mid - tick * (i + 1), DEEP) for i in range(5))
    asks = tuple((mid + tick * (i + 1), DEEP) for i in range(5))
    return Quote(symbol, bids, asks, 0)


def market_requests(n: int, tag: str) -> list[OrderRequest]:
    return [OrderRequest(f"{tag}{i}", SYMBOLS[i % 4], Side.BUY if i % 3 else Side.SELL, 100 + i % 7)
            for i in range(n)]  # fmt: skip


def percentiles(samples: list[int]) -> tuple[int, int]:
    s = sorted(samples)
    return s[len(s) // 2], s[min(len(s) - 1, (len(s) * 99) // 100)]


def label(benchmark, build: str, group: str, ops: int) -> None:  # type: ignore[no-untyped-def]
    """Name the pair before the run (pytest-benchmark reads the group when it starts)."""
    benchmark.group = group
    benchmark.extra_info["build"] = build
    benchmark.extra_info["ops"] = ops


def record(benchmark, ops: int, samples: list[int] | None = None) -> None:  # type: ignore[no-untyped-def]
    """After the run: per-order p50/p99 from the samples, and orders/s from the median round."""
    if samples:
        p50, p99 = percentiles(samples)
        benchmark.extra_info["p50_ns"] = p50
        benchmark.extra_info["p99_ns"] = p99
        benchmark.extra_info["samples"] = len(samples)
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None and stats.stats.median:
        benchmark.extra_info["orders_per_s"] = round(ops / stats.stats.median)


def new_stack(build: str):  # type: ignore[no-untyped-def]
    # The clocked build's LiveClock is bound to a loop that is never run: settlement alerts are
    # armed (the real cost) but never fire during the round.
    stack = order_stack(build, _idle_clock(build), instruments=INSTRUMENTS)
    for sym in SYMBOLS:
        stack.oms.on_quote(deep_quote(sym))
    return stack


def _idle_clock(build: str):  # type: ignore[no-untyped-def]
    """For the clocked build, a LiveClock on a loop of its own that never runs; None for the baseline."""
    return LiveClock(loop=asyncio.new_event_loop()) if needs_clock(build) else None


def _close_clock(clock) -> None:  # type: ignore[no-untyped-def]
    if clock is not None:
        clock.cancel_timers()
        clock._loop.close()


def close_stack(build: str, stack) -> None:  # type: ignore[no-untyped-def]
    _close_clock(stack.clock)


@pytest.mark.parametrize("build", BUILDS)
def test_bench_orders_pipeline(benchmark, build):
    samples: list[int] = []
    reqs = market_requests(PIPELINE_ORDERS, "p")
    stacks = []

    def setup():  # type: ignore[no-untyped-def]
        stack = new_stack(build)
        stacks.append(stack)
        return (stack.oms.submit,), {}

    def run(submit) -> None:  # type: ignore[no-untyped-def]
        clock = time.perf_counter_ns
        out = samples
        for req in reqs:
            t0 = clock()
            submit(req)
            out.append(clock() - t0)

    label(benchmark, build, "orders.pipeline", PIPELINE_ORDERS)
    benchmark.pedantic(run, setup=setup, rounds=5, iterations=1, warmup_rounds=1)
    last = stacks[-1]
    orders = last.oms.orders()
    assert len(orders) == PIPELINE_ORDERS and all(o.state.value == "FILLED" for o in orders)
    assert sum(abs(p.quantity) for p in last.pms.positions()) > 0
    assert last.settlement.pending() + len(last.settlement.settled()) == sum(p.fills for p in last.pms.positions())
    for s in stacks:
        close_stack(build, s)
    record(benchmark, PIPELINE_ORDERS, samples)


@pytest.mark.parametrize("build", BUILDS)
def test_bench_oms_submit_cancel(benchmark, build):
    samples: list[int] = []
    reqs = [OrderRequest(f"l{i}", SYMBOLS[i % 4], Side.BUY if i % 2 else Side.SELL, 100, OrderType.LIMIT,
                         Decimal(90) if i % 2 else Decimal(110), TimeInForce.GTC) for i in range(OMS_ORDERS)]  # fmt: skip
    oms_list = []

    def setup():  # type: ignore[no-untyped-def]
        venue = SimulatedVenue(INSTRUMENTS)
        oms = make("oms", build, clock=_idle_clock(build), venue=venue, instruments=INSTRUMENTS)
        for sym in SYMBOLS:
            oms.on_quote(deep_quote(sym))
        oms_list.append(oms)
        return (oms,), {}

    def run(oms) -> None:  # type: ignore[no-untyped-def]
        clock = time.perf_counter_ns
        submit, cancel = oms.submit, oms.cancel
        out = samples
        for req in reqs:
            t0 = clock()
            cancel(submit(req).order_id)
            out.append(clock() - t0)

    label(benchmark, build, "orders.oms.submit_cancel", OMS_ORDERS)
    benchmark.pedantic(run, setup=setup, rounds=5, iterations=1, warmup_rounds=1)
    assert all(o.state.value == "CANCELED" and o.filled_qty == 0 for o in oms_list[-1].orders())
    for oms in oms_list:
        clock = getattr(oms, "clock", None)
        if clock is not None:
            clock._loop.close()
    record(benchmark, OMS_ORDERS, samples)


@pytest.mark.parametrize("build", BUILDS)
def test_bench_pms_apply_fill(benchmark, build):
    fills = [Fill(f"F{i}", f"O{i}", SYMBOLS[i % 4], Side.BUY if i % 3 else Side.SELL, 100 + i % 5,
                  Decimal("100.00") + Decimal(i % 11) / 100, Decimal("0.50"), 1_756_128_600_000_000_000 + i)
             for i in range(PMS_FILLS)]  # fmt: skip
    made = []

    def setup():  # type: ignore[no-untyped-def]
        clock = _idle_clock(build)
        pms = make("pms", build, clock=clock, instruments=INSTRUMENTS, settlement=make("settlement", build, clock=clock))
        made.append((clock, pms))
        return (pms.apply_fill,), {}

    def run(apply_fill) -> None:  # type: ignore[no-untyped-def]
        for f in fills:
            apply_fill(f)

    label(benchmark, build, "orders.pms.apply_fill", PMS_FILLS)
    benchmark.pedantic(run, setup=setup, rounds=5, iterations=1, warmup_rounds=1)
    pms = made[-1][1]
    assert sum(p.fills for p in pms.positions()) == PMS_FILLS
    for clock, _ in made:
        _close_clock(clock)
    record(benchmark, PMS_FILLS)


@pytest.mark.parametrize("build", BUILDS)
def test_bench_ems_slices(benchmark, build):
    loop = asyncio.new_event_loop()
    reqs = [AlgoRequest(SYMBOLS[i % 4], Side.BUY, 100 * SLICES, AlgoKind.TWAP, SLICES, slices=SLICES)
            for i in range(ALGOS)]  # fmt: skip
    finished = []

    async def work() -> None:
        stack = order_stack(build, LiveClock() if needs_clock(build) else None, instruments=INSTRUMENTS)
        for sym in SYMBOLS:
            stack.oms.on_quote(deep_quote(sym))
        algos = [stack.ems.start(r) for r in reqs]
        while any(a.state is not AlgoState.COMPLETED for a in algos):
            await asyncio.sleep(0)
        finished.append(algos)
        await stack.stop()

    def run() -> None:
        loop.run_until_complete(work())

    label(benchmark, build, "orders.ems.slices", ALGOS * SLICES)
    try:
        benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    finally:
        loop.close()
    algos = finished[-1]
    assert all(sl.fired_ns is not None and sl.fired_ns >= sl.scheduled_ns for a in algos for sl in a.slices)
    assert sum(a.filled_qty for a in algos) == ALGOS * 100 * SLICES
    record(benchmark, ALGOS * SLICES)
