"""Statistics of one build's values and two-sample bootstrap replicates (seeded, chunked).

Paired A/B rounds use harness.load.stats.ratio_ci (one bootstrap for rounds in the project);
this module covers what that one does not: a statistic of independent samples of two builds
(microbenchmark rounds, per-request latencies), resampled independently per build.
"""

from __future__ import annotations

import zlib

import numpy as np

CHUNK_CELLS = 4_000_000  # resample at most this many values at once (memory bound)


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


def point(stat: str, values: list[int] | np.ndarray) -> float:
    return float(apply(stat, np.asarray(values, dtype=float)[None, :])[0])


def replicates(stat: str, values: list[int] | np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
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
    boots = boots[np.isfinite(boots)]
    if boots.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - confidence) / 2.0
    return float(np.quantile(boots, alpha)), float(np.quantile(boots, 1.0 - alpha))
