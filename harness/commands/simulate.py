"""``clockbench simulate orders``: replay the whole order flow on a TestClock and print its digest."""

from __future__ import annotations

import argparse

from harness.errors import UsageError

WHY_NOT_BASELINE = (
    "The baseline build cannot replay: it stamps orders with time.time_ns() and waits with "
    "asyncio.sleep (one task per expiring order, per algo, and a settlement polling loop), so its "
    "timestamps, slice firing times and the interleaving of its tasks differ on every run, and it "
    "would need real days to reach T+N settlement and DAY expiries."
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="replay a seeded scenario deterministically on a TestClock",
        description="Runs a seeded scenario through the clocked build on a TestClock and prints "
        "the number of events and the sha256 digest of its canonical event log.",
    )
    what = p.add_subparsers(dest="scenario", metavar="SCENARIO")
    o = what.add_parser(
        "orders",
        help="OMS, venue, EMS algos, PMS and settlement from a seeded order generator",
        description="Same --seed and --orders: same digest, in every run and process.",
    )
    o.add_argument("--seed", required=True, help="integer seed of the order and quote generators")
    o.add_argument("--orders", default="1000", help="number of order submissions (default 1000)")
    o.add_argument("--timing", action="store_true", help="also print the per-stage latency summary")
    o.set_defaults(func=run_orders)
    p.set_defaults(func=_no_scenario)


def _no_scenario(args: argparse.Namespace) -> int:
    raise UsageError("say what to simulate: `clockbench simulate orders --seed S --orders N`")


def _int(name: str, raw: str, minimum: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"--{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise UsageError(f"--{name} must be >= {minimum}, got {value}")
    return value


def run_orders(args: argparse.Namespace) -> int:
    from targets.order_management.simulation import run_simulation

    seed = _int("seed", args.seed)
    orders = _int("orders", args.orders, 1)
    if orders > 10_000_000:
        raise UsageError(f"--orders {orders} is more than this command will hold in memory (max 10,000,000)")
    result = run_simulation(seed, orders)
    print(f"seed {result.seed}, {result.orders} orders on a TestClock")
    print(f"events  {result.events}")
    print(f"digest  sha256:{result.digest}")
    print("counts  " + ", ".join(f"{k}={v}" for k, v in result.counts.items()))
    if args.timing:
        for name, s in result.timing.items():
            print(f"stage   {name:<24} n={s['count']:<7} p50={s['p50_ns']} ns  p99={s['p99_ns']} ns")
    print(f"build   clocked only. {WHY_NOT_BASELINE}")
    return 0
