"""What both builds' collectors share: argument checks, the bounded records of collections and
scrapes, one guarded read of the figures, and the ``/metrics`` body.

The builds differ only in *whose* time they read (``_now``: the Clock, or the system clock) and in
*what* a scrape serves (``collect_families``: stamped collections, or the latest snapshot), so those
two are left to each build's ``PrometheusCollector``. Nothing here reads time itself.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence

from prometheus_client import generate_latest
from prometheus_client.core import Metric

from .figures import Figure, FigureSource
from .protocols import ScrapeListener

HISTORY = 10_000  # bounded records, so a long-running service does not grow: the recent history is what tests read


class CollectorBase:
    """The state and exposition both collectors keep; subclasses give ``_now`` and ``collect_families``."""

    def __init__(self, source: FigureSource, interval_ns: int, keep: int, name: str) -> None:
        if interval_ns <= 0:
            raise ValueError(f"interval_ns must be > 0, got {interval_ns}")
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.source = source
        self.interval_ns = interval_ns
        self.name = name
        self.collections: deque[int] = deque(maxlen=HISTORY)  # when each collection read the figures
        self.scheduled: deque[int] = deque(maxlen=HISTORY)  # when each was due (a sleep loop: when it woke)
        self.scrapes: deque[int] = deque(maxlen=HISTORY)  # the build's time at each scrape's arrival
        self.scrape_listener: ScrapeListener | None = None
        self.errors: deque[str] = deque(maxlen=100)  # the latest failures (bounded)

    def _now(self) -> int:
        raise NotImplementedError

    def collect_families(self) -> Iterator[Metric]:
        raise NotImplementedError

    def read_figures(self, due_ns: int | None) -> tuple[int, Sequence[Figure] | None]:
        """Read the figures once at the build's time: (that instant, the figures), or (instant, None)
        when the source failed (recorded in ``errors``; a failing source must not stop the schedule)."""
        taken = self._now()
        try:
            figures = tuple(self.source())
        except Exception as exc:  # noqa: BLE001 - recorded; the caller keeps serving what it has
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return taken, None
        self.collections.append(taken)
        self.scheduled.append(taken if due_ns is None else due_ns)
        return taken, figures

    def expose(self) -> bytes:
        """The /metrics body; notes the scrape's arrival for the sync."""
        at = self._now()
        self.scrapes.append(at)
        if self.scrape_listener is not None:
            self.scrape_listener(at)
        return generate_latest(_Families(self))


class _Families:
    """Adapter: prometheus_client's generate_latest wants an object with ``collect()``."""

    def __init__(self, owner: CollectorBase) -> None:
        self._owner = owner

    def collect(self) -> Iterator[Metric]:
        return self._owner.collect_families()
