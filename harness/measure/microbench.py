"""The microbenchmark producer: tests/benchmarks through pytest-benchmark, both builds paired and
interleaved in one process (harness/measure/pairing.py), and their instruction counts under valgrind."""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness import results
from harness.commands.bench import BENCH_DIR, pytest_cmd
from harness.rundir import ROOT

from . import Context, Unavailable

# Benchmarks the criteria do not need, or that other producers measure better: the heartbeats
# (harness/measure/websocket.py repeats them), the stack through nginx (the A/B load run), and the
# third-party ceilings (pgbench, redis-benchmark; `clockbench bench` shows them). NautilusTrader's
# clock reads stay, in every pair (FD-TIMESTAMP-NS's goal is "no slower than NautilusTrader's
# measured in the same run"): skipped at no cost when the nautilus extra is not installed, about
# 10-20 s of a quick run when it is. The clock's pure-Python twins (20 more items, 5-10 s) and the
# 100k-timer sizes are for `clockbench bench`: A/B and scale figures, not criteria.
MICROBENCH_DESELECT = ("not heartbeats and not through_nginx and not pgbench and not redis_benchmark"
                       " and not checker_cpu_per_check and not start_to_healthy"  # measure/docker.py measures these
                       " and not pure and not 100000")
# Pairs per benchmark: --quick, full. 8 in --quick (f86c700) saved 4 of the step's 32 s, and
# PM-DB-QUERY-SPEED went from FAIL [-1.8%, +1.8%] to INCONCLUSIVE [-3.8%, +15.2%] against +15%: 10 stay.
MICROBENCH_PAIRS = {True: 10, False: 20}
# --quick also leaves out the TestClock sizes no criterion judges (FD-TESTCLOCK-* judge 10,000
# timers): at 1 and 1,000 timers they were a fifth of the quick run's benchmark time (118 of 621 s
# of measured rounds at load 21), for figures a full run and `clockbench bench` still give.
# It leaves out, too, the benchmarks of the files it runs whose groups no criterion judges: the
# coordinator's write-through and the two set_config insert variants (figures behind the durable
# order path's design) and the EMS slice throughput (EI-EMS-PRECISION is judged from the real-time
# slices of `sims`). They were 68 of the 229 s of measured rounds of a quick run's microbenchmarks
# (load 9-17); a test checks that no group they record is a criterion's metric.
MICROBENCH_QUICK_DESELECT = (" and not 1timers and not 1000timers"
                             " and not coordinator and not set_config and not ems_slices")


def files_for(metrics: set[str], files: list[Path], quick: bool) -> list[Path]:
    """The benchmark files a run needs. A quick run keeps to the files holding a benchmark some selected
    criterion judges (a ``bench.<family>.`` metric, its group spelled ``"<family>.`` in the file); the
    phase 2 and 3 families' own benchmarks are figures for the report, run in a full run."""
    if not quick:
        return files
    families = {m.split(".")[1] for m in metrics if m.startswith("bench.") and m.count(".") >= 2}
    chosen = [f for f in files if any(f'"{fam}.' in f.read_text() for fam in families)]
    return chosen or files


def produce_microbench(ctx: Context) -> list[results.MetricRecord]:
    """pytest-benchmark in one process, paired and interleaved (harness/measure/pairing.py): every
    benchmark runs ``MICROBENCH_PAIRS`` times, its builds alternating A B B A, a few rounds each;
    a record's values are the per-pair medians (kind "rounds", paired by position), and the judge,
    compare and gate work on the per-pair clocked/baseline ratios, in which the machine's drift
    cancels. ``<metric>.rounds`` pools every round (for spread statistics; never compared)."""
    import time

    from harness.measure import pairing

    if not any(m.startswith("bench.") for m in ctx.metrics):
        raise Unavailable("no selected criterion needs a microbenchmark")
    files = sorted(BENCH_DIR.glob("test_*.py")) if BENCH_DIR.exists() else []
    if not files:
        raise Unavailable(f"no benchmarks in {BENCH_DIR.relative_to(ROOT)} yet")
    pairs = MICROBENCH_PAIRS[ctx.quick]
    json_path = ctx.out / "microbench.json"
    chosen = files_for(ctx.metrics, files, ctx.quick)
    if len(chosen) < len(files):
        ctx.log(f"  microbench: --quick runs the files the criteria judge ({', '.join(f.name for f in chosen)}); "
                "the other families' benchmarks run in a full run or with `clockbench bench`")
    cmd = pytest_cmd(list(map(str, chosen)), json_path, pairs,
                     ctx.bench_select or (MICROBENCH_DESELECT + (MICROBENCH_QUICK_DESELECT if ctx.quick else "")))
    ctx.log(f"  microbench: {pairs} pairs per benchmark, builds interleaved A B B A in one process -> {json_path.name}")
    t0 = time.monotonic()
    with open(ctx.out / "microbench.log", "w") as logf:
        rc = subprocess.call(cmd, cwd=ROOT, stdout=logf, stderr=subprocess.STDOUT, env=ctx.child_env())
    if not json_path.exists():
        raise RuntimeError(f"pytest-benchmark wrote no results (exit {rc}); see microbench.log")
    if rc != 0:
        ctx.log(f"  microbench: pytest exited {rc} (some benchmarks failed or skipped; see microbench.log)")
    ctx.log(f"  microbench: {time.monotonic() - t0:.0f}s for {pairs} pairs")
    return pairing.records_from_json(json_path)


def produce_instructions(ctx: Context) -> list[results.MetricRecord]:
    """Instruction counts of the CPU-bound microbenchmarks under valgrind (harness/measure/instructions.py),
    beside their wall time: ``instr.<group>``, per operation. They run before the microbenchmarks, among
    the load-independent steps (harness/commands/run.py LOAD_INDEPENDENT), and stand on their own."""
    import shutil
    import time

    if not any(m.startswith("bench.") for m in ctx.metrics):
        raise Unavailable("no selected criterion needs a microbenchmark")
    if shutil.which("valgrind") is None:
        raise Unavailable("valgrind is not installed (apt-get install valgrind): no instruction counts")
    from harness.measure import instructions

    t0 = time.monotonic()
    recs = instructions.produce(ctx.out / "instructions", ctx.log, env=ctx.env)
    ctx.log(f"  instructions: {time.monotonic() - t0:.0f}s under valgrind")
    return recs
