"""Pure statistics for load results: percentiles, bootstrap confidence intervals, A/B judgments.

No I/O and no global state: a bootstrap takes its seed, so a result can be recomputed exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 10_000


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (the definition HdrHistogram uses): the smallest value with at
    least ``pct``% of the values at or below it."""
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0.0 <= pct <= 100.0:
        raise ValueError(f"percentile {pct} is outside 0..100")
    ordered = sorted(values)
    # round first: 0.999 * 60000 is 59940.00000000001 in floating point, and rank 59940 is meant
    rank = max(1, math.ceil(round(pct / 100.0 * len(ordered), 9)))
    return ordered[rank - 1]


def bootstrap_ci(
    values: Sequence[float],
    statistic: Callable[[np.ndarray], np.ndarray] | None = None,
    *,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(estimate, low, high): percentile-bootstrap CI of ``statistic`` (default: the mean).

    ``statistic`` maps a (resamples, n) array to one value per row (axis=1).
    """
    data = np.asarray(values, dtype=float)
    if data.size < 2:
        raise ValueError("a bootstrap needs at least two values")
    stat = statistic or (lambda a: a.mean(axis=1))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, data.size, size=(resamples, data.size))
    boots = stat(data[idx])
    alpha = (1.0 - confidence) / 2.0
    est = float(stat(data[None, :])[0])
    return est, float(np.quantile(boots, alpha)), float(np.quantile(boots, 1.0 - alpha))


def ratio_ci(
    clocked: Sequence[float],
    baseline: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(ratio, low, high): mean(clocked)/mean(baseline) over paired rounds, with a bootstrap CI
    that resamples whole rounds (both builds of a round together, keeping the pairing)."""
    a = np.asarray(clocked, dtype=float)
    b = np.asarray(baseline, dtype=float)
    if a.size != b.size:
        raise ValueError(f"paired rounds differ in number: {a.size} clocked, {b.size} baseline")
    if a.size < 2:
        raise ValueError("a ratio CI needs at least two rounds")
    if b.sum() == 0:
        raise ValueError("baseline values sum to zero: the ratio is undefined")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(resamples, a.size))
    num = a[idx].sum(axis=1)
    den = b[idx].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        boots = num / den
    boots = boots[np.isfinite(boots)]
    alpha = (1.0 - confidence) / 2.0
    ratio = float(a.sum() / b.sum())
    if boots.size == 0:
        return ratio, math.nan, math.nan
    return ratio, float(np.quantile(boots, alpha)), float(np.quantile(boots, 1.0 - alpha))


@dataclass(frozen=True)
class Verdict:
    """A/B result for one metric: the ratio, its CI, the A/A noise floor and whether it is beyond it."""

    metric: str
    ratio: float
    low: float
    high: float
    noise: float  # the A/A ratio's largest distance from 1 (its CI bounds included)
    beyond_noise: bool
    lower_is_better: bool

    @property
    def better(self) -> bool | None:
        """True: the clocked build is better beyond the noise; False: worse; None: no difference."""
        if not self.beyond_noise:
            return None
        return (self.ratio < 1.0) == self.lower_is_better

    def to_dict(self) -> dict:
        return {
            "metric": self.metric, "ratio": self.ratio, "ci_low": self.low, "ci_high": self.high,
            "noise_floor": self.noise, "beyond_noise": self.beyond_noise,
            "lower_is_better": self.lower_is_better, "clocked_better": self.better,
        }


def noise_floor(aa_ratio: float, aa_low: float, aa_high: float) -> float:
    """How far from 1 a ratio of a build against itself reaches: the floor any A/B must clear."""
    parts = [abs(x - 1.0) for x in (aa_ratio, aa_low, aa_high) if math.isfinite(x)]
    return max(parts) if parts else math.inf


def judge(metric: str, ab: tuple[float, float, float], aa: tuple[float, float, float] | None, lower_is_better: bool) -> Verdict:
    """Beyond noise when the A/B CI excludes 1 and the ratio is further from 1 than the A/A floor."""
    ratio, low, high = ab
    noise = noise_floor(*aa) if aa is not None else 0.0
    excludes_one = math.isfinite(low) and math.isfinite(high) and (high < 1.0 or low > 1.0)
    beyond = excludes_one and abs(ratio - 1.0) > noise
    return Verdict(metric, ratio, low, high, noise, beyond, lower_is_better)
