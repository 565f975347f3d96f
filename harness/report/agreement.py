"""How far two runs' verdicts agree: the issue's stability test ("two ``run --quick`` of the same
commit agree on at least 90% of their non-degenerate verdicts"), read from two report.json files.

Pure: two report dicts in, one summary out. A criterion counts toward the agreement share when
both runs judged it from a real interval (PASS, FAIL or INCONCLUSIVE with a finite interval of
positive width): an exact count (a point), a verdict without an interval (INCONCLUSIVE for too few
values, INVALID, NOT MEASURED) or a criterion only one run has is listed but not counted, since a
run that could not judge a criterion says nothing about whether its verdicts hold still.
"""

from __future__ import annotations

import math

JUDGED = ("PASS", "FAIL", "INCONCLUSIVE")


def non_degenerate(c: dict) -> bool:
    """A verdict taken from an interval of positive, finite width."""
    lo, hi = c.get("ci_low"), c.get("ci_high")
    if c.get("verdict") not in JUDGED or lo is None or hi is None:
        return False
    try:
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        return False
    return math.isfinite(lo) and math.isfinite(hi) and hi > lo


def _row(cid: str, a: dict | None, b: dict | None) -> dict:
    va, vb = (a or {}).get("verdict"), (b or {}).get("verdict")
    counted = a is not None and b is not None and non_degenerate(a) and non_degenerate(b)
    if a is None or b is None:
        why = f"only in run {'A' if b is None else 'B'}"
    elif counted:
        why = ""
    elif not non_degenerate(a) and not non_degenerate(b):
        why = "no interval in either run"
    else:
        why = f"no interval in run {'A' if not non_degenerate(a) else 'B'}"
    return {"id": cid, "a": va, "b": vb, "agree": va == vb, "counted": counted, "not_counted": why,
            "change_a": (a or {}).get("change"), "change_b": (b or {}).get("change"),
            "ci_a": [(a or {}).get("ci_low"), (a or {}).get("ci_high")],
            "ci_b": [(b or {}).get("ci_low"), (b or {}).get("ci_high")]}


def agreement(report_a: dict, report_b: dict) -> dict:
    """Per criterion the two verdicts, and the share of agreeing verdicts over the criteria both
    runs judged from a non-degenerate interval (``share`` is None when there is none)."""
    ca = {c["id"]: c for c in report_a.get("criteria", []) if "id" in c}
    cb = {c["id"]: c for c in report_b.get("criteria", []) if "id" in c}
    rows = [_row(cid, ca.get(cid), cb.get(cid)) for cid in sorted(set(ca) | set(cb))]
    counted = [r for r in rows if r["counted"]]
    agree = sum(1 for r in counted if r["agree"])
    return {"criteria": rows, "counted": len(counted), "agree": agree,
            "share": agree / len(counted) if counted else None,
            "disagree": [r["id"] for r in counted if not r["agree"]],
            "changed_not_counted": [r["id"] for r in rows if not r["counted"] and not r["agree"]]}


def summary(res: dict) -> str:
    """The verdict section of ``compare``'s text output."""
    if not res["criteria"]:
        return "verdicts: neither report has criteria"
    lines = []
    if res["share"] is None:
        lines.append("verdicts: no criterion was judged from a non-degenerate interval in both runs")
    else:
        lines.append(f"verdicts: {res['agree']} of {res['counted']} agree ({100 * res['share']:.0f}%) among the criteria "
                     "both runs judged from a non-degenerate interval")
    w = max(len(r["id"]) for r in res["criteria"])
    for r in res["criteria"]:
        mark = ("same" if r["agree"] else "DIFFERS") if r["counted"] else f"not counted: {r['not_counted']}"
        if not r["counted"] and not r["agree"]:
            mark += ", verdict changed"
        lines.append(f"  {r['id']:<{w}}  {str(r['a'] or '-'):<13} {str(r['b'] or '-'):<13} {mark}")
    return "\n".join(lines)
