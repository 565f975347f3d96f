"""Interleaved A/B analysis: per metric, clocked/baseline over paired rounds with a bootstrap CI,
against the noise floor that an A/A pair (baseline against a second baseline) shows.

Rounds run in alternating order (ABBA...): round i runs baseline, clocked, baseline-again when i
is even and the reverse when odd, so slow drift of the machine falls on both sides equally.
"""

from __future__ import annotations

import math

from harness.load import stats
from harness.load.records import round_values

METRICS = {"p50": True, "p99": True, "throughput": False, "errors": True}  # name -> lower is better
ARMS = ("baseline", "clocked", "aa")
# The build each arm runs: "aa" is a second baseline (the A/A pair, the noise floor).
ARM_BUILDS = {"baseline": "baseline", "clocked": "clocked", "aa": "baseline"}


def order(round_index: int, arms: tuple[str, ...] = ARMS) -> list[str]:
    return list(arms) if round_index % 2 == 0 else list(reversed(arms))


def metric_key(name: str, corrected: bool) -> str:
    return f"{name}_corrected" if corrected and name in ("p50", "p99") else name


def analyse(runs: dict[str, list[dict]], *, seed: int = 0, resamples: int = stats.DEFAULT_RESAMPLES) -> dict:
    """``runs``: arm -> summaries in round order. Rounds where any arm is invalid are left out."""
    n = min(len(v) for v in runs.values())
    keep = [i for i in range(n) if all(runs[a][i]["validity"]["valid"] for a in runs)]
    dropped = [i for i in range(n) if i not in keep]
    corrected = bool(runs["baseline"] and runs["baseline"][0]["aggregate"].get("latency_corrected_ns"))
    vals = {a: [round_values(runs[a][i]) for i in keep] for a in runs}
    out: dict = {"rounds": n, "used_rounds": keep, "dropped_rounds": dropped, "corrected_latency": corrected, "metrics": {}}
    if len(keep) < 2:
        out["reason"] = f"only {len(keep)} valid round(s) of {n}: a confidence interval needs at least two"
        return out
    for name, lib in METRICS.items():
        key = metric_key(name, corrected)
        base = [v[key] for v in vals["baseline"]]
        clk = [v[key] for v in vals["clocked"]]
        entry: dict = {"key": key, "baseline": base, "clocked": clk, "lower_is_better": lib}
        if sum(base) == 0:
            entry["note"] = "no errors in either build" if sum(clk) == 0 else "baseline is zero in every round: no ratio"
            out["metrics"][name] = entry
            continue
        ab = stats.ratio_ci(clk, base, seed=seed, resamples=resamples)
        aa = None
        if "aa" in vals:
            again = [v[key] for v in vals["aa"]]
            entry["aa"] = again
            if sum(base) != 0:
                aa = stats.ratio_ci(again, base, seed=seed + 1, resamples=resamples)
                entry["aa_ratio"] = {"ratio": aa[0], "ci_low": aa[1], "ci_high": aa[2]}
        entry.update(stats.judge(name, ab, aa, lib).to_dict())
        out["metrics"][name] = entry
    return out


def table(result: dict) -> str:
    lines = [f"{'metric':<11} {'clocked/baseline':>16} {'95% CI':>17} {'A/A noise':>10}  verdict"]
    for name, e in result.get("metrics", {}).items():
        if "ratio" not in e:
            lines.append(f"{name:<11} {'-':>16} {'':>17} {'':>10}  {e.get('note', '')}")
            continue
        ci = f"[{e['ci_low']:.3f}, {e['ci_high']:.3f}]" if math.isfinite(e["ci_low"]) else "-"
        verdict = ("clocked better" if e["clocked_better"] else "clocked worse") if e["beyond_noise"] else "within noise"
        noise = f"±{e['noise_floor']:.3f}" if math.isfinite(e["noise_floor"]) else "-"
        lines.append(f"{name:<11} {e['ratio']:>16.3f} {ci:>17} {noise:>10}  {verdict}")
    if result.get("reason"):
        lines.append(result["reason"])
    if result.get("dropped_rounds"):
        lines.append(f"rounds left out (an invalid run): {result['dropped_rounds']}")
    return "\n".join(lines)
