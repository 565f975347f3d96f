"""HdrHistograms: per-process parts merged (through their encoded text, as workers ship them)
give the percentiles a brute-force sort of all the values gives, within HdrHistogram's precision."""

from __future__ import annotations

import random

import pytest

from harness import stats
from harness.load import hdr


def known_latencies(n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    # a long-tailed mix: most around 2 ms, some around 40 ms, a few seconds-long stragglers
    out = []
    for _ in range(n):
        u = rng.random()
        if u < 0.9:
            out.append(int(rng.lognormvariate(14.5, 0.3)))  # ~2 ms
        elif u < 0.995:
            out.append(int(rng.lognormvariate(17.5, 0.2)))  # ~40 ms
        else:
            out.append(int(rng.uniform(0.5e9, 3e9)))
    return out


@pytest.mark.parametrize("parts", [1, 2, 7])
def test_merge_matches_brute_force_percentiles(parts: int) -> None:
    values = known_latencies(60_000, seed=parts)
    chunks = [values[i::parts] for i in range(parts)]
    texts = []
    for chunk in chunks:
        h = hdr.new()
        for v in chunk:
            hdr.record(h, v)
        texts.append(hdr.encode(h))  # what a worker ships
    merged = hdr.merge(texts)
    assert merged.get_total_count() == len(values)
    for pct in (50, 90, 99, 99.9, 100):
        exact = stats.percentile(values, pct)
        got = hdr.value_at(merged, pct)
        # HdrHistogram with 3 significant digits: the reported value is in the same bucket, whose
        # width is at most 1/1024 of the value (it reports the bucket's highest equivalent value).
        assert exact <= got <= exact * (1 + 1 / 1024) + 1, (pct, exact, got)
    s = hdr.summary(merged)
    assert s["count"] == len(values)
    assert all(isinstance(v, int) for v in s.values())
    assert s["min"] <= s["p50"] <= s["p90"] <= s["p99"] <= s["p999"] <= s["max"]


def test_merge_is_the_sum_of_parts_bucket_by_bucket() -> None:
    a, b = hdr.new(), hdr.new()
    for v in (1_000, 2_000, 2_000, 5_000_000):
        hdr.record(a, v)
    for v in (2_000, 7_000_000_000):
        hdr.record(b, v)
    m = hdr.merge([a, hdr.encode(b)])
    assert m.get_total_count() == 6
    assert m.get_count_at_value(2_000) == 3
    assert hdr.summary(m)["max"] >= 7_000_000_000 * (1 - 1 / 1024)


def test_out_of_range_values_are_clamped_not_dropped() -> None:
    h = hdr.new()
    hdr.record(h, 0)
    hdr.record(h, -5)
    hdr.record(h, 10 * hdr.HIGHEST_NS)
    assert h.get_total_count() == 3
    assert hdr.summary(hdr.new())["count"] == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_summary_equals_hdrh_own_figures(seed: int) -> None:
    """summary() finds the figures over the nonzero buckets with numpy: they must be hdrh's own,
    for a histogram recorded here and for one decoded from its text (a shorter counts array)."""
    h = hdr.new()
    for v in known_latencies(5_000, seed=seed):
        hdr.record(h, v)
    for hist in (h, hdr.decode(hdr.encode(h))):
        expected = {"count": hist.get_total_count(), "min": hist.get_min_value(), "max": hist.get_max_value(),
                    "mean": int(round(hist.get_mean_value())),
                    **{k: hist.get_value_at_percentile(p) for k, p in hdr.PERCENTILES.items()}}
        assert hdr.summary(hist) == expected


def test_summary_of_one_value_and_of_none() -> None:
    h = hdr.new()
    assert hdr.summary(h)["count"] == 0
    hdr.record(h, 1_234_567)
    s = hdr.summary(h)
    assert s["count"] == 1 and s["p50"] == s["p999"] == s["max"] == h.get_value_at_percentile(50.0)
