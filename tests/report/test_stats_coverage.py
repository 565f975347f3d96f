"""Every interval method the harness uses covers the truth at least 94% of the time, on known
distributions, at the sample sizes the harness feeds it (seeded simulation, a few seconds).

Distributions: lognormal (multiplicative timing noise), heavy-tailed (Pareto slow outliers, and a
t with 2 degrees of freedom on the log scale), bimodal (a slow mode 30% of the time), and drift of
the machine between pairs and between runs. Numbers of simulations are chosen so that a method
with a true coverage of 95% lands below 94% by chance rarely (standard errors in the comments).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness import stats

TARGET = 0.94


def noise(kind: str, rng: np.random.Generator, size) -> np.ndarray:  # type: ignore[no-untyped-def]
    if kind == "lognormal":
        return np.exp(rng.normal(0.0, 0.15, size))
    if kind == "pareto":  # slow outliers only (a busy neighbour): right-skewed, infinite variance
        return 1.0 + rng.pareto(2.0, size) * 0.05
    if kind == "log_t2":  # symmetric on the log scale, very heavy tails
        return np.exp(0.05 * rng.standard_t(2, size))
    if kind == "bimodal":  # 30% of rounds in a slow mode
        return np.where(rng.random(size) < 0.3, 1.35, 1.0) * np.exp(rng.normal(0.0, 0.02, size))
    raise ValueError(kind)


KINDS = ("lognormal", "pareto", "log_t2", "bimodal")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [stats.MIN_PAIRS, 5, 10, 20])  # load rounds (3 quick, 6 full), microbench pairs (10, 20)
def test_paired_t_on_log_ratios_covers(kind: str, n: int) -> None:
    """Paired design: both builds of a pair share the machine's state (a random walk over the
    run, up to several-fold), and the pair order alternates (A B, B A) under a linear trend."""
    rng = np.random.default_rng(hash((kind, n)) % 2**32)
    sims, theta = 20_000, 1.1  # SE of a 95% coverage: 0.15%
    drift = np.exp(np.cumsum(rng.normal(0.0, 0.2, (sims, n)), axis=1))
    trend = 1.0 + 0.01 * np.arange(n)  # within-pair order: A first in even pairs, B first in odd
    first = np.where(np.arange(n) % 2 == 0, 1.0, 1.005)
    base = noise(kind, rng, (sims, n)) * drift * trend * first
    clk = noise(kind, rng, (sims, n)) * drift * trend * (2.005 - first) * theta
    logs = np.log(clk / base)
    m, se = logs.mean(axis=1), logs.std(axis=1, ddof=1) / math.sqrt(n)
    t = stats.t_quantile(0.975, n - 1)
    cover = np.mean((m - t * se <= math.log(theta)) & (math.log(theta) <= m + t * se))
    assert cover >= TARGET, f"{kind}, n={n}: {cover:.3f}"
    # the function itself agrees with the vectorised formula
    iv = stats.paired_log_ratio(clk[0], base[0])
    assert iv.low == pytest.approx(math.exp(m[0] - t * se[0])) and iv.high == pytest.approx(math.exp(m[0] + t * se[0]))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [stats.MIN_MEDIAN_N, 10, 20])
def test_order_statistic_median_covers(kind: str, n: int) -> None:
    rng = np.random.default_rng(hash((kind, n, "median")) % 2**32)
    true_median = float(np.median(noise(kind, rng, 2_000_000)))
    sims, hits = 4000, 0  # SE 0.35%
    for x in noise(kind, rng, (sims, n)):
        iv = stats.median_ci(x)
        hits += iv.low <= true_median <= iv.high
    assert hits / sims >= TARGET, f"{kind}, n={n}: {hits / sims:.3f}"


def _draw_samples(kind: str, rng: np.random.Generator, size) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Per-request or per-event latencies and shares: wider than pair-to-pair noise."""
    if kind == "lognormal":
        return np.exp(rng.normal(0.0, 0.5, size))
    if kind == "pareto":
        return 1.0 + rng.pareto(3.0, size)
    if kind == "bimodal":
        return np.where(rng.random(size) < 0.3, 3.0, 1.0) * np.exp(rng.normal(0.0, 0.1, size))
    if kind == "share":  # bounded values such as a per-check on-time share
        return rng.beta(8.0, 2.0, size)
    raise ValueError(kind)


# (statistic, distributions) at the statistic's minimum n: coverage only improves with n.
# Means use stats.welch_mean instead (below): a percentile bootstrap of a mean ratio covered 92%
# at n=50 on bounded shares. The harness takes means of bounded shares only (no criterion takes
# the mean of a latency): on Pareto(3) latencies a t interval of a mean covers about 92% at n=50.
BOOT_CASES = [
    ("median", ("lognormal", "pareto", "bimodal")),
    ("p90", ("lognormal", "pareto", "bimodal")),
    ("p99", ("lognormal", "bimodal")),
    ("iqr_rel", ("lognormal", "pareto", "bimodal")),
    ("share_le:2", ("lognormal", "pareto", "bimodal")),
]


@pytest.mark.parametrize("stat, kinds", BOOT_CASES, ids=[c[0] for c in BOOT_CASES])
def test_two_sample_bootstrap_covers_at_its_minimum_n(stat: str, kinds: tuple[str, ...]) -> None:
    """Two independent samples of one distribution: the ratio of their statistic is 1."""
    n = stats.min_samples(stat)
    sims = 300 if n <= 100 else 150  # SE 1.3% / 1.8%: checked at the 94% target minus 1.5 SE
    allowance = 1.5 * math.sqrt(0.95 * 0.05 / sims)
    for kind in kinds:
        rng = np.random.default_rng(stats.seed_for(stat, kind))
        hits = 0
        for _ in range(sims):
            a, b = _draw_samples(kind, rng, n), _draw_samples(kind, rng, n)
            with np.errstate(divide="ignore", invalid="ignore"):
                boots = np.log(stats.replicates(stat, a, 400, rng) / stats.replicates(stat, b, 400, rng))
            lo, hi = stats.interval(boots)
            hits += lo <= 0.0 <= hi
        assert hits / sims >= TARGET - allowance, f"{stat} on {kind}, n={n}: {hits / sims:.3f}"


@pytest.mark.parametrize("compare", ["absolute", "difference", "improvement"])
def test_welch_mean_covers(compare: str) -> None:
    n, sims = stats.min_samples("mean"), 2000  # SE 0.5%
    # an absolute mean is only taken of bounded shares; of a skewed latency (lognormal sigma 0.5)
    # its t interval covers 93.6% at n=50 and 93.2% at n=100: not used for latencies, not checked
    kinds = ("bimodal", "share") if compare == "absolute" else ("lognormal", "bimodal", "share")
    for kind in kinds:
        rng = np.random.default_rng(stats.seed_for("welch", compare, kind))
        mu = float(_draw_samples(kind, rng, 2_000_000).mean())
        truth = {"absolute": mu, "difference": 0.0, "improvement": 1.0}[compare]
        hits = 0
        for _ in range(sims):
            iv = stats.welch_mean(_draw_samples(kind, rng, n), _draw_samples(kind, rng, n), compare)
            hits += iv.low <= truth <= iv.high
        assert hits / sims >= TARGET, f"{compare} on {kind}, n={n}: {hits / sims:.3f}"


def test_between_run_interval_covers_with_calibrated_run_variance() -> None:
    """compare/gate across runs: each run's log ratio = truth + a run effect (between-run sd 0.05)
    + within-run error; the interval uses the spread of K calibration runs (t with K-1 df)."""
    rng = np.random.default_rng(12)
    sims, hits = 20_000, 0
    for k in (3, 5, 8):
        tau, within = 0.05, 0.02
        calib = rng.normal(0.0, tau, (sims, k)) + rng.normal(0.0, within, (sims, k))
        s2 = calib.var(axis=1, ddof=1)
        a = rng.normal(0.0, tau, sims) + rng.normal(0.0, within, sims)
        b = math.log(1.1) + rng.normal(0.0, tau, sims) + rng.normal(0.0, within, sims)
        half = stats.t_quantile(0.975, k - 1) * np.sqrt(2 * s2)
        cover = np.mean(np.abs((b - a) - math.log(1.1)) <= half)
        assert cover >= TARGET, f"K={k}: {cover:.3f}"
        hits += 1
    assert hits == 3


def test_below_the_minimum_n_there_is_no_interval() -> None:
    with pytest.raises(stats.TooFew):
        stats.paired_log_ratio([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(stats.TooFew):
        stats.median_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    with pytest.raises(stats.TooFew):
        stats.check_samples("p99", 100)
    with pytest.raises(stats.TooFew):
        stats.check_samples("max", 10**6)


def test_t_quantiles_and_holm() -> None:
    assert stats.t_quantile(0.975, 2) == pytest.approx(4.3027, abs=1e-4)
    assert stats.t_quantile(0.975, 9) == pytest.approx(2.2622, abs=1e-4)
    assert stats.t_pvalue(2.2622, 9) == pytest.approx(0.05, abs=1e-4)
    # Holm: 0.01 <= 0.05/3 rejected, then 0.03 > 0.05/2 stops
    assert stats.holm([0.03, 0.01, 0.04]) == [False, True, False]
    assert stats.holm([0.001, 0.02, 0.04]) == [True, True, True]


# --- shares: exact binomial intervals (coverage computed exactly, by enumerating every outcome) ---

SHARE_PS = (0.001, 0.01, 0.03, 0.1, 0.3, 0.5, 0.7, 0.9, 0.97, 0.99, 0.995, 0.999)


def _pmf(n: int, p: float) -> np.ndarray:
    k = np.arange(n + 1)
    logc = np.array([math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in k])
    return np.exp(logc + k * math.log(p) + (n - k) * math.log1p(-p))


def _table(n: int, one) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    ivs = [one(k, n) for k in range(n + 1)]
    return (np.array([i.estimate for i in ivs]), np.array([i.low for i in ivs]), np.array([i.high for i in ivs]))


@pytest.mark.parametrize("n", [1, 3, 16, 24, 160, 1000])  # faults, monitoring samples, container slots, requests
def test_clopper_pearson_covers_exactly_for_every_share(n: int) -> None:
    est, lo, hi = _table(n, stats.clopper_pearson)
    assert (lo < hi).all(), "never a degenerate interval, 0 of n and n of n included"
    for p in SHARE_PS:
        cover = float((_pmf(n, p) * ((lo <= p) & (p <= hi))).sum())
        assert cover >= 0.95 - 1e-9, f"n={n}, p={p}: {cover:.4f}"


def test_clopper_pearson_known_values() -> None:
    iv = stats.clopper_pearson(12, 24)
    assert (iv.low, iv.high) == (pytest.approx(0.29124, abs=1e-5), pytest.approx(0.70876, abs=1e-5))
    iv = stats.clopper_pearson(0, 24)  # the "rule of three" territory: 1 - 0.025^(1/n)
    assert iv.low == 0.0 and iv.high == pytest.approx(1 - 0.025 ** (1 / 24), rel=1e-9)
    iv = stats.clopper_pearson(24, 24)
    assert iv.high == 1.0 and iv.low == pytest.approx(0.025 ** (1 / 24), rel=1e-9)
    assert stats.beta_cdf(0.5, 3, 3) == pytest.approx(0.5, abs=1e-12)
    with pytest.raises(stats.TooFew):
        stats.clopper_pearson(0, 0)
    with pytest.raises(ValueError):
        stats.clopper_pearson(5, 4)


@pytest.mark.parametrize("n1, n2", [(16, 16), (24, 24), (24, 60), (160, 160)])
def test_newcombe_difference_covers_exactly(n1: int, n2: int) -> None:
    """Every pair of true shares on the grid, near 0 and 1 included. The Wilson-score version of
    the hybrid is computed alongside: it dips well below 94% there (0.84 at n = 16), which is why
    the harness builds the hybrid from Clopper-Pearson intervals."""
    ps = SHARE_PS if n1 < 100 else (0.001, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999)
    worst, worst_wilson = 1.0, 1.0
    for one in (stats.clopper_pearson, stats.wilson):
        e1, l1, h1 = _table(n1, one)
        e2, l2, h2 = _table(n2, one)
        d = e1[:, None] - e2[None, :]
        lo = d - np.sqrt((e1 - l1)[:, None] ** 2 + (h2 - e2)[None, :] ** 2)
        hi = d + np.sqrt((h1 - e1)[:, None] ** 2 + (e2 - l2)[None, :] ** 2)
        # the function itself agrees with the table
        iv = stats.newcombe_difference(n1 // 2, n1, n2 // 3, n2, single=one)
        assert iv.low == pytest.approx(max(-1, lo[n1 // 2, n2 // 3])) and iv.high == pytest.approx(min(1, hi[n1 // 2, n2 // 3]))
        for p1 in ps:
            for p2 in ps:
                t = p1 - p2
                cover = float((_pmf(n1, p1)[:, None] * _pmf(n2, p2)[None, :] * ((lo <= t + 1e-12) & (t - 1e-12 <= hi))).sum())
                if one is stats.clopper_pearson:
                    worst = min(worst, cover)
                else:
                    worst_wilson = min(worst_wilson, cover)
    assert worst >= TARGET, f"n={n1},{n2}: {worst:.4f}"
    assert worst_wilson < worst  # the reason for the choice, still true


def test_pooled_round_shares_with_round_variation_cover() -> None:
    """Per-round shares (requests within budget) whose true share moves between rounds: the
    pooled exact interval alone ignores that; the hull with the t over rounds (what the verdict
    uses) covers the mean share."""
    rng = np.random.default_rng(7)
    sims, rounds, per = 1500, 3, 2000  # SE of a 95% coverage: 0.6%
    hits_hull = hits_pooled = 0
    for _ in range(sims):
        p_r = np.clip(0.99 + rng.normal(0.0, 0.004, rounds), 0.0, 1.0)
        k = rng.binomial(per, p_r)
        cp = stats.clopper_pearson(int(k.sum()), per * rounds)
        shares = k / per
        se = shares.std(ddof=1) / math.sqrt(rounds)
        half = stats.t_quantile(0.975, rounds - 1) * se
        lo, hi = min(cp.low, shares.mean() - half), max(cp.high, shares.mean() + half)
        hits_hull += lo <= 0.99 <= hi
        hits_pooled += cp.low <= 0.99 <= cp.high
    assert hits_hull / sims >= TARGET, f"hull {hits_hull / sims:.3f}"
    assert hits_pooled < hits_hull  # the rounds' own variation matters
