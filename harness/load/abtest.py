"""Interleaved A/B analysis: per metric, clocked/baseline over paired rounds (the geometric mean of
the per-round ratios with a t interval on their logs, harness/stats.py), checked by an A/A pair
(baseline against a second baseline) whose interval must contain 1 for the run to be trusted.

Rounds run in alternating order (ABBA...): round i runs baseline, clocked, baseline-again when i
is even and the reverse when odd, so slow drift of the machine falls on both sides equally.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness import stats
from harness.load.records import round_values

METRICS = {"p50": True, "p99": True, "throughput": False, "errors": True}  # name -> lower is better
ARMS = ("baseline", "clocked", "aa")
# The build each arm runs: "aa" is a second baseline (the A/A pair, the noise floor).
ARM_BUILDS = {"baseline": "baseline", "clocked": "clocked", "aa": "baseline"}


def order(round_index: int, arms: tuple[str, ...] = ARMS) -> list[str]:
    return list(arms) if round_index % 2 == 0 else list(reversed(arms))


def rounds_in_every_arm(per_arm: dict[str, list[Any]], usable: Callable[[Any], bool]) -> list[int]:
    """The round indices ``usable`` in every arm, up to the shortest arm (pure). Rounds are paired by
    position across arms, so a round that one arm lost is dropped from all of them: dropped per arm,
    the later rounds of one arm would pair with earlier rounds of the others."""
    n = min((len(rounds) for rounds in per_arm.values()), default=0)
    return [i for i in range(n) if all(usable(rounds[i]) for rounds in per_arm.values())]


def metric_key(name: str, corrected: bool) -> str:
    return f"{name}_corrected" if corrected and name in ("p50", "p99") else name


@dataclass(frozen=True)
class Verdict:
    """A/B result for one metric: the ratio, its CI, the A/A check and whether the change is real."""

    metric: str
    ratio: float
    low: float
    high: float
    aa_low: float | None  # the A/A ratio's interval (None: no A/A pair)
    aa_high: float | None
    beyond_noise: bool
    lower_is_better: bool

    @property
    def aa_ok(self) -> bool:
        return self.aa_low is None or self.aa_high is None or self.aa_low <= 1.0 <= self.aa_high

    @property
    def better(self) -> bool | None:
        """True: the clocked build is better beyond the noise; False: worse; None: no difference."""
        if not self.beyond_noise:
            return None
        return (self.ratio < 1.0) == self.lower_is_better

    def to_dict(self) -> dict:
        return {
            "metric": self.metric, "ratio": self.ratio, "ci_low": self.low, "ci_high": self.high,
            "aa_ci": [self.aa_low, self.aa_high], "aa_ok": self.aa_ok, "beyond_noise": self.beyond_noise,
            "lower_is_better": self.lower_is_better, "clocked_better": self.better,
        }


def judge(metric: str, ab: tuple[float, float, float], aa: tuple[float, float, float] | None,
          lower_is_better: bool) -> Verdict:
    """A real difference when the A/B interval excludes 1. Where the A/A interval excludes 1 too
    (two copies of one build differ: the setup moves the figures), the A/B interval is first
    widened by every bias between none and the A/A interval (either copy of the baseline may be the
    biased one), and must still exclude 1."""
    ratio, low, high = ab
    aa_low, aa_high = (aa[1], aa[2]) if aa is not None else (None, None)
    v = Verdict(metric, ratio, low, high, aa_low, aa_high, False, lower_is_better)
    if not v.aa_ok and aa_low and aa_high:
        low, high = low / max(aa_high, 1.0), high / min(aa_low, 1.0)
    excludes_one = math.isfinite(low) and math.isfinite(high) and (high < 1.0 or low > 1.0)
    return Verdict(metric, ratio, v.low, v.high, aa_low, aa_high, excludes_one, lower_is_better)


def analyse(runs: dict[str, list[dict]], *, seed: int = 0, resamples: int = 0) -> dict:
    """``runs``: arm -> summaries in round order. Rounds where any arm is invalid are left out.
    (``seed``/``resamples`` are accepted for callers of the former bootstrap; the t interval needs neither.)"""
    n = min(len(v) for v in runs.values())
    keep = [i for i in range(n) if all(runs[a][i]["validity"]["valid"] for a in runs)]
    dropped = [i for i in range(n) if i not in keep]
    corrected = bool(runs["baseline"] and runs["baseline"][0]["aggregate"].get("latency_corrected_ns"))
    vals = {a: [round_values(runs[a][i]) for i in keep] for a in runs}
    out: dict = {"rounds": n, "used_rounds": keep, "dropped_rounds": dropped, "corrected_latency": corrected, "metrics": {}}
    if len(keep) < stats.MIN_PAIRS:
        out["reason"] = f"only {len(keep)} valid round(s) of {n}: a confidence interval needs at least {stats.MIN_PAIRS}"
        return out
    for name, lib in METRICS.items():
        key = metric_key(name, corrected)
        base = [v[key] for v in vals["baseline"]]
        clk = [v[key] for v in vals["clocked"]]
        entry: dict = {"key": key, "baseline": base, "clocked": clk, "lower_is_better": lib}
        if min(base) <= 0 or min(clk) <= 0:
            entry["note"] = "no errors in either build" if sum(clk) == 0 and sum(base) == 0 else "a zero round: no ratio"
            out["metrics"][name] = entry
            continue
        ab = stats.paired_log_ratio(clk, base).as_tuple()
        aa = None
        if "aa" in vals:
            again = [v[key] for v in vals["aa"]]
            entry["aa"] = again
            if min(again) > 0:
                aa = stats.paired_log_ratio(again, base).as_tuple()
                entry["aa_ratio"] = {"ratio": aa[0], "ci_low": aa[1], "ci_high": aa[2]}
        entry.update(judge(name, ab, aa, lib).to_dict())
        out["metrics"][name] = entry
    return out


def table(result: dict) -> str:
    lines = [f"{'metric':<11} {'clocked/baseline':>16} {'95% CI':>17} {'A/A 95% CI':>17}  verdict"]
    for name, e in result.get("metrics", {}).items():
        if "ratio" not in e:
            lines.append(f"{name:<11} {'-':>16} {'':>17} {'':>10}  {e.get('note', '')}")
            continue
        ci = f"[{e['ci_low']:.3f}, {e['ci_high']:.3f}]" if math.isfinite(e["ci_low"]) else "-"
        verdict = ("clocked better" if e["clocked_better"] else "clocked worse") if e["beyond_noise"] else (
            "within the A/A pair's bias" if not e["aa_ok"] else "within noise")
        lo, hi = e["aa_ci"]
        aa = f"[{lo:.3f}, {hi:.3f}]" if lo is not None else "-"
        lines.append(f"{name:<11} {e['ratio']:>16.3f} {ci:>17} {aa:>17}  {verdict}")
    if result.get("reason"):
        lines.append(result["reason"])
    if result.get("dropped_rounds"):
        lines.append(f"rounds left out (an invalid run): {result['dropped_rounds']}")
    return "\n".join(lines)
