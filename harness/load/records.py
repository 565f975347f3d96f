"""Load results as harness/results.py metric records (the common format the report reads).

Metric ids: ``load.<profile>.<stat>`` with stat ``p50 p90 p99 p999`` (ns, uncorrected),
``p50_corrected ...`` (ns, open mode only), ``throughput`` (ops/s, higher is better),
``errors`` (ppm of completed requests). One value per run (kind ``rounds``: a single run is one
round; ``clockbench ab`` gives one value per round, paired by position across builds).
``capacity.<profile>.users``: one value per trial (kind ``rounds`` when both builds were searched in
each trial, paired by trial; ``samples`` otherwise).
"""

from __future__ import annotations

from harness.results import MetricRecord, invalid

LATENCY = ("p50", "p90", "p99", "p999")


def round_values(summary: dict) -> dict[str, int]:
    """The per-run figures a record holds, as ints in the record's unit."""
    a = summary["aggregate"]
    out: dict[str, int] = {}
    for k in LATENCY:
        if a["latency_ns"]:
            out[k] = int(a["latency_ns"][k])
        if a.get("latency_corrected_ns"):
            out[f"{k}_corrected"] = int(a["latency_corrected_ns"][k])
    out["throughput"] = int(round(a["throughput_rps"]))
    out["errors"] = int(round(a["error_rate"] * 1_000_000))
    return out


UNIT = {"throughput": "ops/s", "errors": "ppm"}


def records_for_rounds(profile: str, build: str, summaries: list[dict], source: str) -> list[MetricRecord]:
    """One record per stat for one build over its rounds; invalid rounds make the record invalid."""
    bad = [s for s in summaries if not s["validity"]["valid"]]
    per = [round_values(s) for s in summaries]
    stats = sorted({k for p in per for k in p})
    out = []
    for stat in stats:
        metric = f"load.{profile}.{stat}"
        unit = UNIT.get(stat, "ns")
        lib = stat != "throughput"
        extra = {"rounds": len(summaries)}
        if bad:
            reason = "; ".join(sorted({r for s in bad for r in s["validity"]["reasons"]}))
            out.append(invalid(metric, build, unit, f"{len(bad)} of {len(summaries)} runs invalid: {reason}", source, **extra))
            continue
        vals = [p[stat] for p in per if stat in p]
        if stat == "errors":  # the exact counts behind the rounded ppm: "no failed request" is then a count
            extra["failed"] = [int(s["aggregate"].get("failed", 0)) for s in summaries]
            extra["requests"] = [int(s["aggregate"].get("answered", 0)) + int(s["aggregate"].get("failed", 0))
                                 for s in summaries]
        out.append(MetricRecord(metric, build, unit, vals, kind="rounds", lower_is_better=lib, source=source, extra=extra))
    return out


def capacity_record(profile: str, build: str, result: dict, slo: str, source: str, paired: bool = False) -> MetricRecord:
    """One value per trial. ``paired``: every trial searched both builds back to back (which went
    first alternating), so trial i of one build and trial i of the other saw the same stretch of the
    machine: kind ``rounds``, judged by the per-trial clocked/baseline ratio (it needs
    stats.MIN_PAIRS trials). Unpaired trials are independent samples (kind ``samples``)."""
    metric = f"capacity.{profile}.users"
    extra = {"slo": slo, "median": result["median"], "min": result["min"], "max": result["max"]}
    if paired:
        extra.update(paired=True, order="per trial both builds, which goes first alternating")
    if not result["valid"]:
        return invalid(metric, build, "users", result["reason"], source, **extra)
    return MetricRecord(metric, build, "users", list(result["capacities"]), kind="rounds" if paired else "samples",
                        lower_is_better=False, source=source, extra=extra)
