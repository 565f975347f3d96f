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
    rows = [("pair", "baseline /op", "clocked /op", "clocked/baseline", "references")]
    for p in ps:
        refs = ", ".join(f"{_ref_label(r)}={_fmt_ns(r.per_op_ns)}" for r in p.references)
        rows.append(
            (
                p.group,
                _fmt_ns(p.baseline.per_op_ns) if p.baseline else "-",
                _fmt_ns(p.clocked.per_op_ns) if p.clocked else "-",
                f"{p.ratio:.2f}x" if p.ratio is not None else "-",
                refs or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
