"""The stack's figures as Prometheus metric families, with or without explicit sample timestamps.

A *figure* is one number the stack reports (orders by state, a latency quantile, a position, the
heartbeats sent, open connections), named and labelled as a Prometheus series. A *source* is a
callable returning the current figures; a collector calls it at each collection. Build-neutral:
both collectors turn figures into the same families, the clocked one adding the collection instant
as each sample's timestamp (kept by Prometheus with ``honor_timestamps: true``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

KINDS = ("gauge", "counter")


class Figure(NamedTuple):
    """One series' value: ``name{labels} value``. ``kind`` is gauge or counter (counters end in _total)."""

    name: str
    help: str
    labels: tuple[tuple[str, str], ...]
    value: float
    kind: str = "gauge"


FigureSource = Callable[[], Sequence[Figure]]


def exposition_timestamp(ns: int) -> float:
    """Seconds for prometheus_client's ``timestamp=`` so the exposed millisecond is exactly ns // 1e6.

    The text format carries whole milliseconds, written as ``int(float(ts) * 1000)``; a float of the
    exact millisecond can land a hair below it and lose one. Half a millisecond above never does.
    """
    return (ns // NS_PER_MS + 0.5) / 1000


def families(figures: Iterable[Figure], timestamp_ns: int | None = None) -> list[Metric]:
    """Group figures into metric families (one per name, first help wins), each sample stamped
    ``timestamp_ns`` when given. Order follows first appearance, so output is deterministic."""
    by_name: dict[str, Metric] = {}
    stamp = None if timestamp_ns is None else exposition_timestamp(timestamp_ns)
    for f in figures:
        fam = by_name.get(f.name)
        names = [k for k, _ in f.labels]
        if fam is None:
            if f.kind == "counter":
                base = f.name[: -len("_total")] if f.name.endswith("_total") else f.name
                fam = CounterMetricFamily(base, f.help, labels=names)
            elif f.kind == "gauge":
                fam = GaugeMetricFamily(f.name, f.help, labels=names)
            else:
                raise ValueError(f"figure {f.name!r}: kind must be one of {KINDS}, got {f.kind!r}")
            by_name[f.name] = fam
        fam.add_metric([v for _, v in f.labels], f.value, timestamp=stamp)
    return list(by_name.values())


def merge_history(history: Sequence[tuple[int, Sequence[Figure]]]) -> Iterator[Metric]:
    """Families carrying several collections, oldest first per series, each stamped with its instant.

    Exposing the last few collections lets a scrape that arrives just before a collection finishes
    still deliver it on the next scrape (Prometheus ignores a sample it already holds)."""
    merged: dict[str, Metric] = {}
    for ts, figs in history:
        for fam in families(figs, ts):
            have = merged.get(fam.name)
            if have is None:
                merged[fam.name] = fam
            else:
                have.samples.extend(fam.samples)
    for fam in merged.values():
        # per series, ascending time (the text format wants a series' samples in time order)
        fam.samples.sort(key=lambda s: (s.name, tuple(sorted(s.labels.items())), float(s.timestamp or 0)))
        yield fam
