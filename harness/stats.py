"""The project's one statistics module: point statistics, confidence intervals, multiplicity control.

Pure functions, no I/O, no global state: anything random takes its seed, so a report recomputed
from the same data gives the same intervals. Each interval method here is checked by simulation
(tests/report/test_stats_coverage.py) to cover at least 94% at the sample sizes the harness uses;
below a method's minimum n it raises ``TooFew`` (the verdict is then INCONCLUSIVE with that reason)
rather than return a degenerate interval.

Methods, and why each:

- ``paired_log_ratio``: clocked/baseline over *paired* measurements (an interleaved A B B A ...
  run: microbenchmark pairs, load rounds, simulation repeats). A Student t interval on the mean of
  the per-pair log ratios, exponentiated: the geometric mean of the per-pair ratios. Drift of the
  machine that moves both builds of a pair together cancels in each ratio; timing noise is
  multiplicative, so its logs are close to normal and t is exact for lognormal noise.
  The same interval judges a tail statistic (p99) of values measured in repeats: per repeat for each
  build, and the per-repeat log ratios (``min_per_repeat`` values per repeat, ``MIN_PAIRS`` repeats).
- ``median_ci``: one build's median from order statistics (distribution-free: the binomial
  distribution of the count below the true median gives exact coverage >= the nominal level for
  any continuous distribution of independent values). Needs ``MIN_MEDIAN_N`` values.
- ``bootstrap_two_sample``: a statistic of two builds' independent samples (per-request or
  per-event latencies, hundreds to thousands of values), percentile bootstrap resampling each build
  independently. Needs ``min_samples(stat)`` values per build (tails need many).
- ``clopper_pearson``: a share (k of n independent yes/no outcomes: checks on time, samples
  within a bound, requests within budget). Exact: the binomial distribution itself, inverted at
  each end, so coverage is at least the nominal level for every true share and every n >= 1,
  including 0 of n and n of n, where a bootstrap or a t interval collapses to a point.
- ``newcombe_difference``: the difference of two independent shares. Newcombe's square-and-add
  hybrid of the two shares' own intervals; here their Clopper-Pearson intervals (the Wilson-score
  version dips to ~92% near shares of 0 or 1 at the sizes the harness has; see the coverage test).
- ``holm``: Holm's step-down adjustment, for a gate that checks many metrics at once.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

import numpy as np

DEFAULT_RESAMPLES = 10_000
CHUNK_CELLS = 4_000_000  # resample at most this many values at once (memory bound)

# Minimum sizes (from the coverage simulation: below these a method's interval does not cover, or
# is uselessly wide; see tests/report/test_stats_coverage.py).
MIN_PAIRS = 3  # paired t on log ratios: covers at n = 3 in simulation (wide, never degenerate)
MIN_MEDIAN_N = 6  # the order-statistic interval of a median needs 6 values for 95%


class TooFew(ValueError):
    """Fewer values than an interval method needs: no interval, the verdict is INCONCLUSIVE."""


class TooFewRepeats(TooFew):
    """Too few repeats, or values in a repeat, for a statistic judged per repeat."""


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval and how it was computed."""

    estimate: float
    low: float
    high: float
    n: int
    method: str
    se: float = math.nan  # standard error on the method's scale (log scale for ratios)
    df: float = math.nan  # degrees of freedom where the method has them

    def as_tuple(self) -> tuple[float, float, float]:
        return self.estimate, self.low, self.high


# --- point statistics -------------------------------------------------------------------------


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


def seed_for(*parts: str) -> int:
    """A stable seed from names, so a report recomputed from the same data gives the same CIs."""
    return zlib.crc32("|".join(parts).encode())


def apply(stat: str, a: np.ndarray) -> np.ndarray:
    """``stat`` of each row of a 2-D array (one value per row)."""
    if stat in ("median", "p50"):
        return np.median(a, axis=1)
    if stat == "mean":
        return a.mean(axis=1)
    if stat == "p90":
        return np.quantile(a, 0.90, axis=1, method="inverted_cdf")
    if stat == "p99":
        return np.quantile(a, 0.99, axis=1, method="inverted_cdf")
    if stat == "max":
        return a.max(axis=1)
    if stat == "sum":
        return a.sum(axis=1)
    if stat == "iqr_rel":
        q1, med, q3 = np.quantile(a, [0.25, 0.5, 0.75], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (q3 - q1) / med
    if stat.startswith("share_le:"):
        limit = float(stat.split(":", 1)[1])
        return (a <= limit).mean(axis=1)
    raise ValueError(f"unknown statistic {stat!r}")


def point(stat: str, values: Sequence[float] | np.ndarray) -> float:
    return float(apply(stat, np.asarray(values, dtype=float)[None, :])[0])


def min_samples(stat: str) -> int:
    """The fewest independent values per build a bootstrap of ``stat`` needs to cover: the tail
    statistics need enough values beyond their quantile; the maximum has no bootstrap interval."""
    if stat == "p99":
        return 500
    if stat == "p90":
        return 100
    if stat == "max":
        return 10**9  # a bootstrap never resamples beyond the sample's own maximum
    if stat == "iqr_rel":
        return 60
    if stat == "mean":
        return 50  # see welch_mean: means are taken of bounded shares in the harness
    if stat.startswith("share_le:"):
        return 50
    return 30


# Quantiles per repeat: the share of values above each (harness/report/verdict.py REPEAT_STATS).
TAIL_SHARE = {"p90": 0.10, "p99": 0.01}


def min_per_repeat(stat: str) -> int:
    """The fewest values one repeat needs for its ``stat`` to be taken per repeat: a quantile must be
    a value below the repeat's own maximum (p99: 100 values, whose p99 is the second largest; of 260
    values it is the third largest, of 1,000 the eleventh); the maximum is one value per repeat."""
    if stat == "max":
        return 1
    if stat in TAIL_SHARE:
        return math.ceil(round(1.0 / TAIL_SHARE[stat], 9))
    raise ValueError(f"{stat!r} is not judged per repeat")


def rank_from_top(stat: str, n: int) -> int:
    """Which largest value of ``n`` the nearest-rank ``stat`` is (1: the maximum), as a reader checks it."""
    if stat == "max":
        return 1
    return n - max(1, math.ceil(round((1.0 - TAIL_SHARE[stat]) * n, 9))) + 1


# --- t and normal quantiles (no scipy in the project) -----------------------------------------


def t_cdf(t: float, df: float) -> float:
    """Student's t CDF. With t = sqrt(df) tan(theta) the density becomes c cos(theta)^(df-1), smooth
    on [0, pi/2), so Simpson's rule over theta is exact to ~1e-10 for every t."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, not {df}")
    if t < 0:
        return 1.0 - t_cdf(-t, df)
    if math.isinf(t):
        return 1.0
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(math.pi)
    theta = math.atan(t / math.sqrt(df))
    n = 400
    xs = np.linspace(0.0, theta, n + 1)
    ys = np.cos(xs) ** (df - 1)
    h = theta / n
    return 0.5 + c * h / 3 * float(ys[0] + ys[-1] + 4 * ys[1:-1:2].sum() + 2 * ys[2:-1:2].sum())


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (bisection on the CDF).
    A fractional df (Welch) is rounded down to a tenth (a slightly wider, cacheable quantile)."""
    return _t_quantile(p, math.floor(df * 10) / 10 if df < 1000 else 1000.0)


@lru_cache(maxsize=4096)
def _t_quantile(p: float, df: float) -> float:
    if not 0.0 < p < 1.0:
        raise ValueError(f"quantile probability {p} is outside (0, 1)")
    if p < 0.5:
        return -_t_quantile(1.0 - p, df)
    if df > 1e6:
        return NormalDist().inv_cdf(p)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


# --- interval methods --------------------------------------------------------------------------


def log_ratios(clocked: Sequence[float], baseline: Sequence[float]) -> np.ndarray:
    """Per-pair log(clocked/baseline); pairs are matched by position."""
    a = np.asarray(clocked, dtype=float)
    b = np.asarray(baseline, dtype=float)
    if a.size != b.size:
        raise ValueError(f"paired values differ in number: {a.size} clocked, {b.size} baseline")
    if (a <= 0).any() or (b <= 0).any():
        raise ValueError("a ratio with a zero or negative value is undefined")
    return np.log(a / b)


def t_interval_log(logs: np.ndarray, confidence: float = 0.95, min_n: int = MIN_PAIRS,
                   method: str = "paired t on log ratios") -> Interval:
    """exp of a t interval on the mean of ``logs``."""
    n = int(logs.size)
    if n < min_n:
        raise TooFew(f"{n} pair(s); a paired interval needs at least {min_n}")
    m = float(logs.mean())
    se = float(logs.std(ddof=1) / math.sqrt(n))
    t = t_quantile(0.5 + confidence / 2, n - 1)
    return Interval(math.exp(m), math.exp(m - t * se), math.exp(m + t * se), n, method, se, n - 1)


def paired_log_ratio(clocked: Sequence[float], baseline: Sequence[float], confidence: float = 0.95,
                     min_n: int = MIN_PAIRS) -> Interval:
    """Geometric mean of the per-pair clocked/baseline ratios with a t interval on the log scale."""
    return t_interval_log(log_ratios(clocked, baseline), confidence, min_n)


def combine_log(parts: Sequence[Interval], confidence: float = 0.95) -> Interval:
    """The geometric mean of several independent ratio intervals (several metrics of one
    criterion): the mean of their logs, its standard error from theirs, Welch-Satterthwaite df."""
    if not parts:
        raise ValueError("nothing to combine")
    if len(parts) == 1:
        return parts[0]
    k = len(parts)
    m = sum(math.log(p.estimate) for p in parts) / k
    v = [p.se**2 / k**2 for p in parts]
    se = math.sqrt(sum(v))
    df = (sum(v) ** 2 / sum(x**2 / p.df for x, p in zip(v, parts))) if se > 0 else min(p.df for p in parts)
    t = t_quantile(0.5 + confidence / 2, df)
    return Interval(math.exp(m), math.exp(m - t * se), math.exp(m + t * se), min(p.n for p in parts),
                    parts[0].method + f", geometric mean of {k}", se, df)


@lru_cache(maxsize=512)
def _median_ranks(n: int, confidence: float) -> tuple[int, int] | None:
    """1-based ranks (lo, hi) of the shortest symmetric order-statistic interval of the median
    covering at least ``confidence``; None when n is too small for any."""
    best = None
    for k in range(1, n // 2 + 1):
        # P(x_(k) <= median <= x_(n-k+1)) = 1 - 2 * P(Binomial(n, 1/2) <= k - 1)
        tail = sum(math.comb(n, j) for j in range(k)) / 2**n
        if 1 - 2 * tail >= confidence:
            best = (k, n - k + 1)
        else:
            break
    return best


def median_ci(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Distribution-free interval of one build's median from order statistics."""
    x = np.sort(np.asarray(values, dtype=float))
    ranks = _median_ranks(int(x.size), confidence)
    if ranks is None:
        raise TooFew(f"{x.size} value(s); an interval of the median needs at least {MIN_MEDIAN_N}")
    lo, hi = ranks
    return Interval(float(np.median(x)), float(x[lo - 1]), float(x[hi - 1]), int(x.size), "order statistics")


def replicates(stat: str, values: Sequence[float] | np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``resamples`` bootstrap replicates of ``stat`` over ``values`` (resampled with replacement)."""
    data = np.asarray(values, dtype=float)
    n = data.size
    if n == 0:
        raise ValueError("no values to resample")
    rows = max(1, CHUNK_CELLS // n)
    out = np.empty(resamples)
    done = 0
    while done < resamples:
        k = min(rows, resamples - done)
        idx = rng.integers(0, n, size=(k, n))
        out[done : done + k] = apply(stat, data[idx])
        done += k
    return out


def interval(boots: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates (non-finite replicates dropped)."""
    boots = boots[np.isfinite(boots)]
    if boots.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - confidence) / 2.0
    return float(np.quantile(boots, alpha)), float(np.quantile(boots, 1.0 - alpha))


def welch_mean(clocked: Sequence[float], baseline: Sequence[float] | None = None, compare: str = "absolute",
               confidence: float = 0.95) -> Interval:
    """The mean of independent values (absolute), the difference of two builds' means (Welch),
    or their ratio (improvement: delta method on the log of the ratio of means, Welch df). A
    percentile bootstrap of means undercovers on skewed or bounded data at the n the harness has."""
    a = np.asarray(clocked, dtype=float)
    check_samples("mean", a.size, "clocked")
    va, ma = a.var(ddof=1) / a.size, float(a.mean())
    if compare == "absolute" or baseline is None:
        df = a.size - 1
        half = t_quantile(0.5 + confidence / 2, df) * math.sqrt(va)
        return Interval(ma, ma - half, ma + half, a.size, "t on the mean", math.sqrt(va), df)
    b = np.asarray(baseline, dtype=float)
    check_samples("mean", b.size, "baseline")
    vb, mb = b.var(ddof=1) / b.size, float(b.mean())
    if compare == "difference":
        pa, pb, est, tr = va, vb, ma - mb, None
    else:
        if ma <= 0 or mb <= 0:
            raise ValueError("a ratio of means with a zero or negative mean is undefined")
        pa, pb, est, tr = va / ma**2, vb / mb**2, math.log(ma / mb), math.exp
    se = math.sqrt(pa + pb)
    df = (pa + pb) ** 2 / (pa**2 / (a.size - 1) + pb**2 / (b.size - 1)) if se > 0 else a.size + b.size - 2
    half = t_quantile(0.5 + confidence / 2, df) * se
    lo, hi = est - half, est + half
    if tr is not None:
        est, lo, hi = tr(est), tr(lo), tr(hi)
    return Interval(est, lo, hi, min(a.size, b.size), "Welch t" + (" (delta method, log ratio)" if tr else ""), se, df)


def check_samples(stat: str, n: int, who: str = "") -> None:
    need = min_samples(stat)
    if n < need:
        what = f"{who}: " if who else ""
        if stat == "max":
            raise TooFew(f"{what}the maximum has no bootstrap interval")
        raise TooFew(f"{what}{n} value(s); a bootstrap interval of {stat} needs at least {need}")


def bootstrap_ci(
    values: Sequence[float],
    statistic: Callable[[np.ndarray], np.ndarray] | None = None,
    *,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(estimate, low, high): percentile-bootstrap CI of ``statistic`` (default: the mean) over
    independent values; ``statistic`` maps a (resamples, n) array to one value per row."""
    data = np.asarray(values, dtype=float)
    if data.size < 2:
        raise TooFew("a bootstrap needs at least two values")
    stat = statistic or (lambda a: a.mean(axis=1))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, data.size, size=(resamples, data.size))
    boots = stat(data[idx])
    alpha = (1.0 - confidence) / 2.0
    est = float(stat(data[None, :])[0])
    return est, float(np.quantile(boots, alpha)), float(np.quantile(boots, 1.0 - alpha))


# --- shares (binomial) ---------------------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz), converging for
    x < (a + 1) / (a + b + 2)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            return h
    raise ArithmeticError(f"incomplete beta did not converge (a={a}, b={b}, x={x})")


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function I_x(a, b): the CDF of Beta(a, b) at ``x``."""
    if a <= 0 or b <= 0:
        raise ValueError(f"beta parameters must be positive, not ({a}, {b})")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def beta_quantile(p: float, a: float, b: float) -> float:
    """The ``p`` quantile of Beta(a, b), by bisection on ``beta_cdf`` (to ~1e-15)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"quantile probability {p} is outside (0, 1)")
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if beta_cdf(mid, a, b) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-15:
            break
    return (lo + hi) / 2


def _check_count(k: int, n: int) -> None:
    if n < 1:
        raise TooFew("no outcome: a share needs at least one")
    if not 0 <= k <= n:
        raise ValueError(f"{k} successes of {n} is not a share")


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> Interval:
    """The exact (Clopper-Pearson) interval of a share from ``k`` successes in ``n`` independent
    trials: each end is the share at which the observed count sits in a (1 - confidence)/2 tail."""
    _check_count(k, n)
    alpha = (1.0 - confidence) / 2
    low = 0.0 if k == 0 else beta_quantile(alpha, k, n - k + 1)
    high = 1.0 if k == n else beta_quantile(1.0 - alpha, k + 1, n - k)
    return Interval(k / n, low, high, n, "Clopper-Pearson (exact binomial)")


def wilson(k: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson's score interval of a share (kept for the coverage comparison: it undercovers near
    0 and 1 at small n, which is why the harness uses ``clopper_pearson``)."""
    _check_count(k, n)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), n, "Wilson score")


def newcombe_difference(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95,
                        single: Callable[[int, int, float], Interval] | None = None) -> Interval:
    """Interval of p1 - p2 for two independent shares by Newcombe's square-and-add: each end moves
    from the point difference by the root of the squared distances to the shares' own interval
    ends on the relevant sides. ``single`` is the one-share interval (default Clopper-Pearson)."""
    one = single or clopper_pearson
    a, b = one(k1, n1, confidence), one(k2, n2, confidence)
    d = a.estimate - b.estimate
    low = d - math.sqrt((a.estimate - a.low) ** 2 + (b.high - b.estimate) ** 2)
    high = d + math.sqrt((a.high - a.estimate) ** 2 + (b.estimate - b.low) ** 2)
    return Interval(d, max(-1.0, low), min(1.0, high), min(n1, n2),
                    f"Newcombe square-and-add of {a.method} intervals")


# --- multiplicity ------------------------------------------------------------------------------


def t_pvalue(z: float, df: float) -> float:
    """Two-sided p-value of a t statistic with ``df`` degrees of freedom."""
    if not math.isfinite(z):
        return 0.0
    return max(0.0, min(1.0, 2.0 * (1.0 - t_cdf(abs(z), df))))


def holm(pvalues: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """Holm's step-down procedure: which hypotheses are rejected with the family-wise error rate
    held at ``alpha`` (any dependence between them)."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    out = [False] * len(pvalues)
    m = len(pvalues)
    for rank, i in enumerate(order):
        if pvalues[i] <= alpha / (m - rank):
            out[i] = True
        else:
            break
    return out


def expected_false_decisions(n: int, confidence: float = 0.95) -> float:
    """How many of ``n`` independent criteria would come out decisive by chance alone if every
    true change sat exactly on its threshold: each interval misses with 1 - confidence."""
    return n * (1.0 - confidence)
