"""The Prometheus collector as teams write it before the plan (the plan's prometheus_clock_collector.py).

A background task: ``collect(); await asyncio.sleep(interval)`` in a loop, keeping the latest figures;
``/metrics`` serves them without timestamps, so Prometheus stamps each sample with its scrape time.
Idiomatic prometheus_client use (a custom collector over the latest snapshot). Its costs: the loop
drifts by each wake-up's lateness, and a value read up to one interval before the scrape is stored
as if read at the scrape.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterator, Sequence

from prometheus_client import generate_latest
from prometheus_client.core import Metric

from core.monitoring.figures import Figure, FigureSource, families
from core.monitoring.protocols import ScrapeListener

HISTORY = 10_000


class PrometheusCollector:
    def __init__(self, source: FigureSource, interval_ns: int, *, phase_ns: int = 0, keep: int = 4,
                 name: str = "monitoring.collect", serve_all: bool = False) -> None:
        """The clocked twin's arguments; ``phase_ns``, ``keep`` and ``serve_all`` have no use in a
        snapshot collector (it serves its latest figures only) beyond the same validation."""
        if interval_ns <= 0:
            raise ValueError(f"interval_ns must be > 0, got {interval_ns}")
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.source = source
        self.interval_ns = interval_ns
        self.name = name
        self.collections: deque[int] = deque(maxlen=HISTORY)
        self.scheduled: deque[int] = deque(maxlen=HISTORY)  # the loop has no schedule: the instant it woke
        self.scrapes: deque[int] = deque(maxlen=HISTORY)
        self.scrape_listener: ScrapeListener | None = None
        self.errors: deque[str] = deque(maxlen=100)  # the latest failures (bounded)
        self._latest: Sequence[Figure] = ()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.name)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def realign(self, phase_ns: int) -> None:
        """A sleep loop has no phase to move."""

    async def _loop(self) -> None:
        interval_s = self.interval_ns / 1e9
        while True:
            self.collect()
            await asyncio.sleep(interval_s)

    def collect(self, due_ns: int | None = None) -> int:
        taken = time.time_ns()
        try:
            self._latest = tuple(self.source())
        except Exception as exc:  # noqa: BLE001 - keep serving the last figures
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return taken
        self.collections.append(taken)
        self.scheduled.append(taken if due_ns is None else due_ns)
        return taken

    def collect_families(self) -> Iterator[Metric]:
        return iter(families(self._latest))

    def expose(self) -> bytes:
        at = time.time_ns()
        self.scrapes.append(at)
        if self.scrape_listener is not None:
            self.scrape_listener(at)
        return generate_latest(_Families(self))


class _Families:
    def __init__(self, owner: PrometheusCollector) -> None:
        self._owner = owner

    def collect(self) -> Iterator[Metric]:
        return self._owner.collect_families()
