"""Market quotes for /ws/market subscribers, from a seeded generator, published on a schedule.

Clocked (``websocket=clocked``): a clock timer every ``interval_ns`` (exact and reproducible under a
TestClock). Baseline: an ``asyncio.sleep`` loop stamping quotes with ``time.time_ns()``.
Each publication also goes to ``on_quotes`` (the order service's venue), so the book moves and
resting orders fill.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from targets.clock import Clock, TimeEvent

Sink = Callable[[dict], object]


def quote_message(quote: Any, ts_ns: int) -> dict:
    """A venue Quote as the JSON message /ws/market sends: best levels, volume, server timestamp."""
    bid = quote.bids[0] if quote.bids else (None, 0)
    ask = quote.asks[0] if quote.asks else (None, 0)
    return {
        "type": "quote", "instrument": quote.instrument,
        "bid": None if bid[0] is None else str(bid[0]), "bid_size": bid[1],
        "ask": None if ask[0] is None else str(ask[0]), "ask_size": ask[1],
        "volume": quote.volume, "timestamp": ts_ns,
    }  # fmt: skip


class QuoteSource:
    """The order-management venue's seeded quote generator (same seed, same quotes)."""

    def __init__(self, seed: int) -> None:
        from core.order_management.domain import default_instruments
        from core.order_management.venue import QuoteGenerator

        self.instruments_map = default_instruments()
        self.instruments = tuple(sorted(self.instruments_map))
        self._gen = QuoteGenerator(self.instruments_map, seed)

    def step(self, ts_ns: int) -> list[Any]:
        return self._gen.next_quotes()


class MarketFeed:
    def __init__(self, source: QuoteSource, interval_ns: int, clock: Clock | None) -> None:
        self.source = source
        self.interval_ns = interval_ns
        self.clock = clock  # None: the baseline loop on system time
        self.subscribers: dict[object, tuple[Sink, set[str]]] = {}
        self.on_quotes: list[Callable[[list[dict], int], object]] = []
        self.published = 0
        self._task: asyncio.Task[None] | None = None
        self._timer = "market-feed"

    def start(self) -> None:
        if self.clock is not None:
            self.clock.set_timer(self._timer, self.interval_ns, self._on_timer)
        else:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    def stop(self) -> None:
        if self.clock is not None:
            if self.clock.has_timer(self._timer):
                self.clock.cancel_timer(self._timer)
        elif self._task is not None:
            self._task.cancel()

    def subscribe(self, conn_id: object, sink: Sink, instruments: Sequence[str]) -> list[str]:
        unknown = [i for i in instruments if i not in self.source.instruments]
        if unknown:
            raise ValueError(f"unknown instrument(s): {', '.join(map(str, unknown))}; known: {', '.join(self.source.instruments)}")
        entry = self.subscribers.setdefault(conn_id, (sink, set()))
        entry[1].update(instruments)
        return sorted(entry[1])

    def unsubscribe(self, conn_id: object, instruments: Sequence[str] | None = None) -> list[str]:
        entry = self.subscribers.get(conn_id)
        if entry is None:
            return []
        if instruments is None:
            del self.subscribers[conn_id]
            return []
        entry[1].difference_update(instruments)
        return sorted(entry[1])

    def publish(self, ts_ns: int) -> list[dict]:
        quotes = self.source.step(ts_ns)
        self.published += 1
        for fn in self.on_quotes:
            fn(quotes, ts_ns)
        if self.subscribers:
            messages = [quote_message(q, ts_ns) for q in quotes]
            for sink, wanted in list(self.subscribers.values()):
                for m in messages:
                    if m["instrument"] in wanted:
                        sink(m)
        return quotes

    def _on_timer(self, event: TimeEvent) -> None:
        self.publish(event.ts_event)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_ns / 1e9)
            self.publish(time.time_ns())
