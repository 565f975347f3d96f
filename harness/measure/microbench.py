"""The microbenchmark producer: tests/benchmarks through pytest-benchmark, both builds side by side,
repeated in separate processes."""

from __future__ import annotations

import subprocess
import sys

from harness import results
from harness.commands.bench import BENCH_DIR
from harness.rundir import ROOT

from . import Context, Unavailable

# Benchmarks the criteria do not need, or that other producers measure better: the heartbeats
# (harness/measure/websocket.py repeats them), the stack through nginx (the A/B load run), and the
# third-party ceilings (pgbench, redis-benchmark, NautilusTrader; `clockbench bench` shows them).
MICROBENCH_DESELECT = ("not heartbeats and not through_nginx and not pgbench and not redis_benchmark and not nautilus"
                       " and not checker_cpu_per_check and not start_to_healthy"  # measure/docker.py measures these
                       " and not pure and not 100000")  # the clock's pure-Python A/B and 100k sizes: `clockbench bench`
MICROBENCH_REPEATS = {True: 3, False: 5}


def produce_microbench(ctx: Context) -> list[results.MetricRecord]:
    """pytest-benchmark, repeated in separate processes; one value per repeat (its median).

    One run's rounds are not independent (a busy neighbour slows a whole stretch of them), so a
    CI over them is too narrow and verdicts flip between runs on a loaded machine. Each repeat is a
    fresh process running every pair with its two builds side by side; a record's values are the
    per-repeat medians, and the judge bootstraps over those. The raw rounds of every repeat, pooled,
    are kept as ``<metric>.rounds`` (the spread criteria use them)."""
    if not any(m.startswith("bench.") for m in ctx.metrics):
        raise Unavailable("no selected criterion needs a microbenchmark")
    files = sorted(BENCH_DIR.glob("test_*.py")) if BENCH_DIR.exists() else []
    if not files:
        raise Unavailable(f"no benchmarks in {BENCH_DIR.relative_to(ROOT)} yet")
    repeats = MICROBENCH_REPEATS[ctx.quick]
    per_run: list[list[results.MetricRecord]] = []
    for i in range(repeats):
        json_path = ctx.out / f"microbench-{i}.json"
        cmd = [sys.executable, "-m", "pytest", str(BENCH_DIR), "-q", "-p", "no:cacheprovider",
               "--benchmark-enable", "--benchmark-only", f"--benchmark-json={json_path}",
               "--benchmark-columns=median,iqr,rounds", "--benchmark-sort=name", "-k", MICROBENCH_DESELECT]
        cmd += (["--benchmark-max-time=0.1", "--benchmark-min-rounds=5"] if ctx.quick
                else ["--benchmark-max-time=1.0", "--benchmark-min-rounds=15"])
        ctx.log(f"  microbench: repeat {i + 1}/{repeats} ({'quick' if ctx.quick else 'full'}) -> {json_path.name}")
        with open(ctx.out / f"microbench-{i}.log", "w") as logf:
            rc = subprocess.call(cmd, cwd=ROOT, stdout=logf, stderr=subprocess.STDOUT)
        if not json_path.exists():
            raise RuntimeError(f"pytest-benchmark wrote no results (exit {rc}); see microbench-{i}.log")
        if rc != 0:
            ctx.log(f"  microbench: pytest exited {rc} (some benchmarks failed or skipped; see microbench-{i}.log)")
        per_run.append(results.from_pytest_benchmark(json_path))
    return combine_repeats(per_run)


def combine_repeats(per_run: list[list[results.MetricRecord]]) -> list[results.MetricRecord]:
    """Per (metric, build): the median of each repeat as the values, the pooled rounds as
    ``<metric>.rounds``; invalid in any repeat -> invalid. Pure."""
    import statistics

    keys: dict[tuple[str, str], list[results.MetricRecord]] = {}
    for run_recs in per_run:
        for r in run_recs:
            keys.setdefault((r.metric, r.build), []).append(r)
    out = []
    for (metric, build), rs in keys.items():
        first = rs[0]
        bad = [r for r in rs if not r.valid]
        extra = dict(first.extra, repeats=len(rs), rounds_per_repeat=[r.n for r in rs])
        if bad:
            out.append(results.invalid(metric, build, first.unit, bad[0].reason, first.source, **extra))
            continue
        if len(rs) < len(per_run):
            extra["missing_in_repeats"] = len(per_run) - len(rs)
        medians = [max(1, round(statistics.median(r.values))) for r in rs]
        out.append(results.MetricRecord(metric, build, first.unit, medians, lower_is_better=first.lower_is_better,
                                        source="microbench-*.json", extra=extra))
        out.append(results.MetricRecord(metric + ".rounds", build, first.unit, [v for r in rs for v in r.values],
                                        lower_is_better=first.lower_is_better, source="microbench-*.json",
                                        extra={"repeats": len(rs)}))
    return out
