"""The common metric record every producer writes and every judge reads.

One ``MetricRecord`` is one measured quantity for one build: its samples (or per-round values)
as ``int`` in a named unit, whether the measurement is valid (and why not), and where it came
from. Producers (microbenchmarks, load tests, capacity searches, simulations) write lists of
records into a run directory as ``metrics.json``; the report, ``compare`` and ``gate`` read them.

Conventions
-----------
* ``metric`` is a dotted id naming what was measured, independent of the build, e.g.
  ``bench.orders.pipeline`` (a pytest-benchmark group), ``load.orders.p99``,
  ``capacity.orders.users``, ``sim.heartbeats.lateness``. Baseline and clocked records of the same
  quantity share the id and differ in ``build``.
* ``build`` is ``"clocked"``, ``"baseline"``, ``"reference"`` (a third party or a ceiling such as
  pgbench), or ``"aa"`` (a second run of the same build, for the noise floor), or a free label.
* ``values`` are ints. Units say how to read them: ``ns`` (a duration or latency), ``ns/op``
  (time per operation), ``ops/s``, ``users``, ``count``, ``ppm`` (a share, parts per million:
  1_000_000 = 100%), ``bytes``. Non-integral quantities are scaled into one of these by the producer.
* ``kind`` says what one value is: ``"samples"`` (independent observations: per-request latencies,
  per-round times of a benchmark) or ``"rounds"`` (one aggregate per round of an interleaved A/B run,
  paired by position with the other build's rounds).
* ``lower_is_better`` tells judges which way is an improvement.
* ``definition`` is the version of the metric's definition (as asv versions each benchmark): a
  short hash of the code that defines what is measured (the benchmark function, the producer),
  so it changes whenever what the metric measures changes. ``compare`` and ``gate`` refuse to
  compare a metric across two definitions. Empty: recorded before definitions were versioned.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

SCHEMA_VERSION = 1
METRICS_FILE = "metrics.json"
UNITS = {"ns", "ns/op", "ops/s", "users", "count", "ppm", "bytes"}
KINDS = {"samples", "rounds"}
# extra[INDEPENDENT]: how many independent outcomes a samples record's values hold when fewer than
# its values (the browser's clock readings repeat one sync estimate until the next exchange); a
# share over them is judged over these units (harness/report/verdict.py: share_counts).
INDEPENDENT = "independent_units"
# extra[REPEATS]: how many values each repeat of the measurement gave, in the order the repeats ran,
# the values being those repeats' values one after the other. Two builds' records that carry it ran
# their repeats alternating (A B, B A, A B ...) and are paired repeat by repeat: a tail statistic is
# then judged per repeat (harness/report/verdict.py), so the spread of the tail from one repeat to
# the next is in its interval, which pooling the values as if independent left out.
REPEATS = "repeat_sizes"


class RecordError(ValueError):
    """A metric record (or file of records) that does not follow the format; the message says why."""


@dataclass
class MetricRecord:
    metric: str
    build: str
    unit: str
    values: list[int]
    kind: str = "samples"
    lower_is_better: bool = True
    valid: bool = True
    reason: str = ""
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    definition: str = ""

    def __post_init__(self) -> None:
        check(self)

    @property
    def n(self) -> int:
        return len(self.values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MetricRecord":
        known = {"metric", "build", "unit", "values", "kind", "lower_is_better", "valid", "reason", "source", "extra",
                 "definition"}
        unknown = set(d) - known
        if unknown:
            raise RecordError(f"metric record has unknown field(s): {', '.join(sorted(unknown))}")
        for req in ("metric", "build", "unit", "values"):
            if req not in d:
                raise RecordError(f"metric record is missing field {req!r}")
        return cls(**d)


def invalid(metric: str, build: str, unit: str, reason: str, source: str = "", **extra: Any) -> MetricRecord:
    """A record saying the measurement was attempted and cannot be trusted (or failed), and why."""
    return MetricRecord(metric, build, unit, [], valid=False, reason=reason, source=source, extra=dict(extra))


def check(r: MetricRecord) -> None:
    """Raise RecordError naming the field when a record breaks the format."""
    if not isinstance(r.metric, str) or not r.metric:
        raise RecordError("metric record: 'metric' must be a non-empty string")
    if not isinstance(r.build, str) or not r.build:
        raise RecordError(f"metric record {r.metric}: 'build' must be a non-empty string")
    if r.unit not in UNITS:
        raise RecordError(f"metric record {r.metric}: unit {r.unit!r} is not one of {sorted(UNITS)}")
    if r.kind not in KINDS:
        raise RecordError(f"metric record {r.metric}: kind {r.kind!r} is not one of {sorted(KINDS)}")
    if not isinstance(r.values, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in r.values):
        raise RecordError(f"metric record {r.metric} ({r.build}): 'values' must be a list of ints")
    if r.valid and not r.values:
        raise RecordError(f"metric record {r.metric} ({r.build}): a valid record needs at least one value")
    if not r.valid and not r.reason:
        raise RecordError(f"metric record {r.metric} ({r.build}): an invalid record needs a reason")
    sizes = r.extra.get(REPEATS) if isinstance(r.extra, dict) else None
    if sizes is not None and r.valid and (
            not isinstance(sizes, list) or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in sizes)
            or sum(sizes) != len(r.values)):
        raise RecordError(f"metric record {r.metric} ({r.build}): extra[{REPEATS!r}] must list each repeat's number of "
                          f"values (ints >= 0) adding up to its {len(r.values)} values, not {sizes!r}")


def repeat_groups(r: MetricRecord) -> list[list[int]] | None:
    """The record's values split into its repeats (``extra[REPEATS]``), in the order they ran; None
    when the record does not carry its repeats."""
    sizes = r.extra.get(REPEATS)
    if not isinstance(sizes, list):
        return None
    out, at = [], 0
    for k in sizes:
        out.append(r.values[at:at + k])
        at += k
    return out


def carries_repeats(r: MetricRecord) -> bool:
    """Whether ``r`` is a samples record that carries its repeats: verdicts, ``compare`` and ``gate``
    then take its statistic per repeat rather than over its values pooled."""
    return r.kind == "samples" and repeat_groups(r) is not None


def grouped(groups: list[list[int]]) -> tuple[list[int], dict[str, Any]]:
    """(values, extra) of a record whose values come in repeats: the repeats' values one after the
    other, and ``{REPEATS: [values of each repeat]}`` to merge into its ``extra``."""
    return [v for g in groups for v in g], {REPEATS: [len(g) for g in groups]}


def definition_hash(*parts: str) -> str:
    """A short, stable version of a metric's definition from the texts that define it."""
    import hashlib

    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:12]


def stamp(records: Iterable[MetricRecord], definition: str) -> list[MetricRecord]:
    """Give every record without a definition version this one (a producer-wide version)."""
    out = list(records)
    for r in out:
        if not r.definition:
            r.definition = definition
    return out


# --- files ----------------------------------------------------------------------------------


def save(records: Iterable[MetricRecord], path: Path) -> Path:
    """Write records as ``{"schema": 1, "records": [...]}``; a directory gets ``metrics.json``."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"schema": SCHEMA_VERSION, "records": [r.to_dict() for r in records]}
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(path)
    return path


def load(path: Path) -> list[MetricRecord]:
    """Read records from a file or a run directory (its ``metrics.json``)."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.exists():
        raise RecordError(f"no metrics file at {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or "records" not in data:
        raise RecordError(f"{path} has no 'records' list (not a clockbench metrics file)")
    if data.get("schema") != SCHEMA_VERSION:
        raise RecordError(f"{path}: schema {data.get('schema')!r}, expected {SCHEMA_VERSION}")
    return [MetricRecord.from_dict(d) for d in data["records"]]


def merge(*groups: Iterable[MetricRecord]) -> list[MetricRecord]:
    """Concatenate record lists; a later (metric, build) replaces an earlier one."""
    out: dict[tuple[str, str], MetricRecord] = {}
    for g in groups:
        for r in g:
            out[(r.metric, r.build)] = r
    return list(out.values())


def index(records: Iterable[MetricRecord]) -> dict[str, dict[str, MetricRecord]]:
    """``{metric: {build: record}}`` for lookups by judges."""
    out: dict[str, dict[str, MetricRecord]] = {}
    for r in records:
        out.setdefault(r.metric, {})[r.build] = r
    return out


# --- adapters: pytest-benchmark JSON ----------------------------------------------------------


def from_pytest_benchmark(path: Path, prefix: str = "bench") -> list[MetricRecord]:
    """Records from a pytest-benchmark JSON file (``--benchmark-json``), one per benchmark.

    The metric id is ``<prefix>.<group>``; ``build`` comes from ``extra_info["build"]`` (see
    harness/microbench.py). Values are the per-round times per operation in ns (the raw data
    pytest-benchmark writes into its JSON, divided by ``extra_info["ops"]``); where a file has no
    raw data, the record is invalid with that reason rather than inventing samples from a median.
    """
    from harness import microbench

    path = Path(path)
    measurements = microbench.load(path)
    raw = {b["name"]: b for b in json.loads(path.read_text()).get("benchmarks", [])}
    records = []
    seen: set[tuple[str, str]] = set()
    for m in measurements:
        metric = f"{prefix}.{m.group}"
        if (metric, m.build) in seen:  # two benchmarks of one build in a group: keep both, by name
            metric = f"{metric}.{m.name}"
        seen.add((metric, m.build))
        data = raw.get(m.name, {}).get("stats", {}).get("data")
        extra = {"name": m.name, "ops": m.ops, "median_ns": m.median_ns, "rounds": m.rounds}
        extra.update({k: v for k, v in m.extra.items() if k not in {"build", "ops"} and _jsonable(v)})
        if not data:
            records.append(invalid(metric, m.build, "ns/op", "pytest-benchmark JSON has no per-round data", str(path), **extra))
            continue
        values = [max(1, round(x * 1e9 / m.ops)) for x in data]
        records.append(MetricRecord(metric, m.build, "ns/op", values, source=str(path), extra=extra))
    return records


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False
