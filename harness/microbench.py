"""Read pytest-benchmark JSON into clocked/baseline pairs (pure data, no I/O beyond the file).

Convention for benchmarks in ``tests/benchmarks``: ``benchmark.group`` names the pair and
``benchmark.extra_info["build"]`` says which side a measurement is: ``"clocked"``, ``"baseline"``
or ``"reference"`` (a third party such as NautilusTrader). ``extra_info["ops"]`` (operations
per round) turns a round's time into a rate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measurement:
    group: str
    name: str
    build: str
    median_ns: int
    iqr_ns: int
    rounds: int
    ops: int
    extra: dict

    @property
    def per_op_ns(self) -> float:
        return self.median_ns / self.ops

    @property
    def ops_per_s(self) -> float:
        return self.ops * 1e9 / self.median_ns if self.median_ns else float("inf")


@dataclass(frozen=True)
class Pair:
    group: str
    baseline: Measurement | None
    clocked: Measurement | None
    references: tuple[Measurement, ...]

    @property
    def ratio(self) -> float | None:
        """clocked time / baseline time per operation: below 1 means the clocked build is faster."""
        if self.baseline is None or self.clocked is None:
            return None
        return self.clocked.per_op_ns / self.baseline.per_op_ns


def load(path: Path) -> list[Measurement]:
    data = json.loads(Path(path).read_text())
    out = []
    for b in data.get("benchmarks", []):
        extra = b.get("extra_info", {})
        stats = b["stats"]
        out.append(
            Measurement(
                group=b.get("group") or b["name"],
                name=b["name"],
                build=extra.get("build", "clocked"),
                median_ns=round(stats["median"] * 1e9),
                iqr_ns=round(stats["iqr"] * 1e9),
                rounds=stats["rounds"],
                ops=int(extra.get("ops", 1)),
                extra=extra,
            )
        )
    return out


def pairs(measurements: list[Measurement]) -> list[Pair]:
    groups: dict[str, list[Measurement]] = {}
    for m in measurements:
        groups.setdefault(m.group, []).append(m)
    result = []
    for group, ms in groups.items():
        base = next((m for m in ms if m.build == "baseline"), None)
        clocked = next((m for m in ms if m.build == "clocked"), None)
        refs = tuple(m for m in ms if m.build not in {"baseline", "clocked"})
        result.append(Pair(group, base, clocked, refs))
    return result


def _fmt_ns(ns: float) -> str:
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def _ref_label(r: Measurement) -> str:
    """A reference's own build label when it has one (e.g. ``aiolimiter``), else its test's name."""
    return r.build if r.build != "reference" else r.name.split("[")[0].removeprefix("test_")


def table(ps: list[Pair]) -> str:
    """A plain-text table: per-operation median of each side and the clocked/baseline ratio."""
    rows = []
    for p in ps:
        refs = ", ".join(f"{_ref_label(r)}={_fmt_ns(r.per_op_ns)}" for r in p.references)
        rows.append({
            "pair": p.group,
            "baseline /op": _fmt_ns(p.baseline.per_op_ns) if p.baseline else "-",
            "clocked /op": _fmt_ns(p.clocked.per_op_ns) if p.clocked else "-",
            "clocked/baseline": f"{p.ratio:.2f}x" if p.ratio is not None else "-",
            "references": refs or "-",
        })
    return text_table(rows)


# --- a paired run (harness/measure/pairing.py): every build against the baseline, with intervals ---


def _label(r) -> str:  # type: ignore[no-untyped-def]
    """A record's build as a reader names it: a reference by its test (``timestamp_ns_nautilus``)."""
    name = str(r.extra.get("name", ""))
    return f"reference ({name.removeprefix('test_')})" if r.build == "reference" and name else r.build


def _by_pair(r) -> dict[int, float]:  # type: ignore[no-untyped-def]
    return dict(zip(r.extra.get("pairs") or range(r.n), map(float, r.values)))


def _ratio(a: dict[int, float], b: dict[int, float]) -> str:
    """Geometric mean of the per-pair ratios a/b over the pairs both have, with its 95% interval."""
    from harness import stats

    common = sorted(set(a) & set(b))
    try:
        iv = stats.paired_log_ratio([a[p] for p in common], [b[p] for p in common])
    except (stats.TooFew, ValueError):
        return f"- ({len(common)} pair(s))"
    return f"{iv.estimate:.2f}x [{iv.low:.2f}, {iv.high:.2f}]"


def paired_rows(records: list) -> list[dict[str, str]]:  # type: ignore[type-arg]
    """One row per build of each paired microbenchmark (records of ``pairing.records_from_json``):
    its median ns per operation over the pairs, its ratio to the baseline, and the clocked build's
    ratio to it, each the geometric mean of per-pair ratios with a 95% interval (a ratio only from
    items of one pair, so the machine's drift between pairs cancels). A build that ran once (a
    reference not marked every_pair) gets its figure and no interval."""
    import statistics

    metrics: dict[str, dict[str, object]] = {}
    for r in records:
        if r.valid and r.values and r.kind == "rounds" and not r.extra.get("pooled"):
            metrics.setdefault(r.metric, {})[r.build] = r
    order = {"baseline": 0, "clocked": 1}
    rows = []
    for metric, builds in metrics.items():
        base, clocked = builds.get("baseline"), builds.get("clocked")
        for b in sorted(builds, key=lambda b: (order.get(b, 2), b)):
            r = builds[b]
            mine = _by_pair(r)
            rows.append({
                "benchmark": metric.removeprefix("bench."), "build": _label(r), "pairs": str(len(mine)),
                "median /op": _fmt_ns(statistics.median(mine.values())),
                "x baseline [95% CI]": _ratio(mine, _by_pair(base)) if base is not None and b != "baseline" else "-",
                "clocked / this [95% CI]": (_ratio(_by_pair(clocked), mine)
                                            if clocked is not None and b not in ("clocked", "baseline") else "-"),
            })
    return rows


def text_table(rows: list[dict[str, str]]) -> str:
    """Rows of equal keys as aligned plain text."""
    if not rows:
        return "(no paired measurement)"
    cols = list(rows[0])
    widths = [max(len(c), *(len(r[c]) for r in rows)) for c in cols]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip()]
    lines += ["  ".join(r[c].ljust(w) for c, w in zip(cols, widths)).rstrip() for r in rows]
    return "\n".join(lines)
