"""The run's verdicts as a terminal summary: one aligned line per criterion (id, verdict, change and
its 95% CI against the threshold), in a stable order, cut to the terminal's width. The reasons are
in the report; the terminal says where it is."""

from __future__ import annotations

import shutil

from harness.report import criteria as crit
from harness.report.verdict import VERDICTS, Judgement, fmt

_ORDER = {v: i for i, v in enumerate(VERDICTS)}


def _criterion(j: Judgement) -> crit.Criterion:
    return crit.Criterion(j.id, j.phase, j.component, j.section, j.statement, statistic=j.statistic,
                          compare=j.compare, direction=j.direction, threshold=j.threshold or 0.0)


def ordered(js: list[Judgement]) -> list[Judgement]:
    """Phase 1, 2, 3, then the whole system (0); in each, PASS, FAIL, INCONCLUSIVE, INVALID, NOT MEASURED;
    then by id: the same order in every run, so two runs' summaries line up."""
    return sorted(js, key=lambda j: (j.phase == 0, j.phase, _ORDER[j.verdict], j.id))


def line(j: Judgement, id_width: int = 26) -> str:
    c = _criterion(j)
    if j.change is not None and j.ci_low is not None:
        figure = f"{fmt(j.change, c, j.unit):>10}  [{fmt(j.ci_low, c, j.unit)}, {fmt(j.ci_high, c, j.unit)}]"
        figure += f"  goal {j.direction} {fmt(j.threshold, c, j.unit)}" if j.threshold is not None else ""
    else:  # INVALID / NOT MEASURED: the reason, cut to the line (the report has it whole)
        figure = j.reason
    return f"  {j.verdict:<12} {j.id:<{id_width}} {figure}"


def counts(js: list[Judgement]) -> str:
    n = {v: 0 for v in VERDICTS}
    for j in js:
        n[j.verdict] += 1
    return ", ".join(f"{k} {v}" for v, k in n.items() if k)


def summary(js: list[Judgement], width: int | None = None) -> list[str]:
    """The lines to print, each at most ``width`` characters (default: the terminal's)."""
    width = width or shutil.get_terminal_size((120, 24)).columns
    id_width = max((len(j.id) for j in js), default=10)
    out = []
    phase = None
    for j in ordered(js):
        if j.phase != phase:
            phase = j.phase
            out.append(f"phase {phase}:" if phase else "whole system:")
        text = line(j, id_width)
        out.append(text if len(text) <= width else text[: max(width - 1, 20)] + "…")
    out.append(counts(js))
    return out
