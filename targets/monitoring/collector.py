"""The Prometheus collector on the Clock (the plan's monitoring/prometheus_clock_collector.py).

Collections run on one clock timer at absolute instants (phase + k * interval): a slow collection or
a busy event loop delays that one collection, never the schedule. Each collection reads the figures
once and stamps every sample with the clock's reading at that moment, so the store keeps *when the
value was taken*, not when it happened to be scraped (Prometheus keeps explicit timestamps with
``honor_timestamps: true``). A scrape serves every collection no scrape has served yet (up to the
last ``keep``), or the newest again when there is none: a scrape that arrives just before a
collection completes loses nothing, the next one carries both (Prometheus ignores a sample it holds).
One scraper per collector is assumed: with two (an HA pair), the second would see only what the
first left, so give each its own collector or raise ``keep`` and serve them all (``serve_all``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence

from prometheus_client.core import Metric

from core.monitoring.exposition import CollectorBase
from core.monitoring.figures import Figure, FigureSource, merge_history
from core.monitoring.schedule import next_at_phase
from targets.clock import Clock, TimeEvent


class PrometheusCollector(CollectorBase):
    """Collects ``source()`` every ``interval_ns`` on ``clock``; ``expose()`` is the /metrics body."""

    def __init__(self, source: FigureSource, interval_ns: int, *, clock: Clock, phase_ns: int = 0,
                 keep: int = 4, name: str = "monitoring.collect", serve_all: bool = False) -> None:
        super().__init__(source, interval_ns, keep, name)
        self.phase_ns = phase_ns % interval_ns
        self.clock = clock
        self._history: deque[tuple[int, Sequence[Figure]]] = deque(maxlen=keep)
        self._served_upto: int | None = None  # the newest collection a scrape has served
        self.serve_all = serve_all

    def _now(self) -> int:
        return self.clock.timestamp_ns()

    # --- schedule -----------------------------------------------------------------------------
    def start(self) -> None:
        first = next_at_phase(self.clock.timestamp_ns(), self.interval_ns, self.phase_ns)
        self.clock.set_timer(self.name, self.interval_ns, self._on_timer, start_time_ns=first - self.interval_ns)

    def stop(self) -> None:
        if self.clock.has_timer(self.name):
            self.clock.cancel_timer(self.name)

    def realign(self, phase_ns: int) -> None:
        """Move the schedule to a new phase (the sync calls it once it knows when scrapes come)."""
        self.phase_ns = phase_ns % self.interval_ns
        if self.clock.has_timer(self.name):
            self.clock.cancel_timer(self.name)
            self.start()

    def _on_timer(self, event: TimeEvent) -> None:
        self.collect(event.ts_event)

    def collect(self, due_ns: int | None = None) -> int:
        """One collection now: read the figures, stamp them with the clock's time; returns it."""
        taken, figures = self.read_figures(due_ns)
        if figures is not None:
            self._history.append((taken, figures))
        return taken

    # --- exposition ---------------------------------------------------------------------------
    def collect_families(self) -> Iterator[Metric]:
        """The collections this scrape serves (see the module docstring); marks them served."""
        history = list(self._history)
        if not history:
            return iter(())
        if self.serve_all or self._served_upto is None:
            pending = history
        else:
            pending = [h for h in history if h[0] > self._served_upto] or history[-1:]
        self._served_upto = history[-1][0]
        return merge_history(pending)
