"""The plan's claims as data: load and check reports/criteria.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CRITERIA_FILE = ROOT / "reports" / "criteria.toml"

COMPARES = {"improvement", "difference", "absolute"}
DIRECTIONS = {">=", "<="}
SIMPLE_STATS = {"median", "mean", "p50", "p90", "p99", "max", "sum", "iqr_rel", "rounds"}


class CriteriaError(ValueError):
    """criteria.toml is malformed; the message names the criterion and the field."""


@dataclass(frozen=True)
class Criterion:
    id: str
    phase: int
    component: str
    section: str
    statement: str
    metrics: tuple[str, ...] = ()
    statistic: str = "median"
    compare: str = "improvement"
    direction: str = ">="
    threshold: float = 0.0
    definition: str = ""
    requires: tuple[str, ...] = ()
    not_measurable: bool = False
    reason: str = ""
    # Where the figure comes from when it is not the real part the plan names (an in-process model,
    # a simulation): shown in the criterion's row, so no reader takes it for the real thing.
    measured_on: str = ""
    # Outside tools without which the criterion cannot be measured (e.g. "nginx"); a run that lacks
    # one judges it NOT MEASURED, with the command that fixes it.
    needs: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)

    def missing_components(self, root: Path = ROOT) -> list[str]:
        """Required paths that do not exist yet in the repository."""
        return [p for p in self.requires if not (root / p).exists()]


def valid_statistic(stat: str) -> bool:
    if stat in SIMPLE_STATS:
        return True
    if stat.startswith("share_le:"):
        try:
            float(stat.split(":", 1)[1])
            return True
        except ValueError:
            return False
    return False


def parse(data: dict) -> list[Criterion]:
    items = data.get("criterion")
    if not isinstance(items, list) or not items:
        raise CriteriaError("criteria file has no [[criterion]] entries")
    out: list[Criterion] = []
    seen: set[str] = set()
    for i, d in enumerate(items):
        cid = d.get("id") or f"#{i + 1}"
        for req in ("id", "phase", "component", "section", "statement"):
            if req not in d:
                raise CriteriaError(f"criterion {cid}: missing field {req!r}")
        if cid in seen:
            raise CriteriaError(f"criterion {cid}: duplicate id")
        seen.add(cid)
        if d["phase"] not in (0, 1, 2, 3):
            raise CriteriaError(f"criterion {cid}: phase must be 0 (whole system), 1, 2 or 3, not {d['phase']!r}")
        known = set(Criterion.__dataclass_fields__) - {"extra"}
        extra = {k: v for k, v in d.items() if k not in known}
        if extra:
            raise CriteriaError(f"criterion {cid}: unknown field(s) {', '.join(sorted(extra))}")
        if d.get("not_measurable"):
            if not d.get("reason"):
                raise CriteriaError(f"criterion {cid}: not_measurable needs a reason")
        else:
            if not d.get("metrics"):
                raise CriteriaError(f"criterion {cid}: needs metrics (or not_measurable = true with a reason)")
            if d.get("compare", "improvement") not in COMPARES:
                raise CriteriaError(f"criterion {cid}: compare must be one of {sorted(COMPARES)}")
            if d.get("direction", ">=") not in DIRECTIONS:
                raise CriteriaError(f"criterion {cid}: direction must be one of {sorted(DIRECTIONS)}")
            if not valid_statistic(d.get("statistic", "median")):
                raise CriteriaError(f"criterion {cid}: unknown statistic {d.get('statistic')!r}")
            if "threshold" not in d:
                raise CriteriaError(f"criterion {cid}: missing threshold")
        fields = dict(d)
        fields["metrics"] = tuple(d.get("metrics", ()))
        fields["requires"] = tuple(d.get("requires", ()))
        fields["needs"] = tuple(d.get("needs", ()))
        if "threshold" in fields:
            fields["threshold"] = float(fields["threshold"])
        out.append(Criterion(**fields))
    return out


def load(path: Path = CRITERIA_FILE) -> list[Criterion]:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise CriteriaError(f"no criteria file at {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CriteriaError(f"{path}: {exc}") from None
    return parse(data)


def select(criteria: list[Criterion], phase: str) -> list[Criterion]:
    """``phase`` is "1", "2", "3" or "all" (all includes the whole-system criteria, phase 0)."""
    if phase == "all":
        return list(criteria)
    if phase not in {"1", "2", "3"}:
        raise CriteriaError(f"phase must be 1, 2, 3 or all, not {phase!r}")
    return [c for c in criteria if c.phase == int(phase)]
