"""``clockbench bench``: the microbenchmarks (pytest-benchmark), every build in one run, as paired ratios."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from harness import microbench
from harness.rundir import new_run_dir

BENCH_DIR = Path(__file__).resolve().parents[2] / "tests" / "benchmarks"
DEFAULT_PAIRS = 10


def pytest_cmd(paths: list[str], json_path: Path, pairs: int, select: str | None) -> list[str]:
    """The pytest-benchmark command line; with ``pairs`` the pairing plugin repeats and interleaves
    the builds, each item one short measurement (the pairs, not the rounds, carry the statistics)."""
    cmd = [sys.executable, "-m", "pytest", *paths, "-q", "-p", "no:cacheprovider",
           "--benchmark-enable", "--benchmark-only", f"--benchmark-json={json_path}",
           "--benchmark-columns=median,iqr,rounds", "--benchmark-sort=name"]
    if pairs:
        cmd += ["-p", "harness.measure.pairing", f"--cb-pairs={pairs}",
                "--benchmark-max-time=0.05", "--benchmark-min-rounds=3", "--benchmark-warmup=off"]
    if select:
        cmd += ["-k", select]
    return cmd


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="run the microbenchmarks and print each clocked/baseline pair with its ratio",
        description=(
            "Runs tests/benchmarks through pytest-benchmark (both builds in the same run, paired and "
            "interleaved), saves the JSON in a run directory and prints, per benchmark and build "
            "(baseline, clocked, and the references and pure-Python twins beside them), the median time "
            "per operation, its ratio to the baseline and the clocked build's ratio to it, with 95% "
            "intervals (below 1.00x: faster)."
        ),
    )
    p.add_argument("-k", dest="select", help="only benchmarks matching this pytest -k expression")
    p.add_argument("--quick", action="store_true", help="with --pairs 0: fewer rounds, a rough figure in less time")
    p.add_argument("--pairs", type=int, default=DEFAULT_PAIRS, metavar="N",
                   help=f"paired and interleaved as `clockbench run` measures (harness/measure/pairing.py): each "
                        f"benchmark N times, builds alternating A B B A in one process, ratios with 95%% intervals "
                        f"(default {DEFAULT_PAIRS}; 0: one long pytest-benchmark measurement per build, no interval)")
    p.add_argument("--out", type=Path, help="run directory (default: reports/runs/<timestamp>-<commit>)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = args.out or new_run_dir("bench")
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "microbench.json"
    cmd = pytest_cmd([str(BENCH_DIR)], json_path, args.pairs, args.select)
    if args.quick and not args.pairs:  # paired items are short already
        cmd += ["--benchmark-max-time=0.2", "--benchmark-min-rounds=3"]
    print(f"running microbenchmarks -> {json_path}", flush=True)
    rc = subprocess.call(cmd)
    if not json_path.exists():
        print("clockbench bench: no results were written (see pytest's output above)", file=sys.stderr)
        return rc or 1
    if args.pairs:
        from harness.measure import pairing

        text = microbench.text_table(microbench.paired_rows(pairing.records_from_json(json_path)))
    else:
        text = microbench.table(microbench.pairs(microbench.load(json_path)))
    (out / "microbench.txt").write_text(text + "\n")
    print()
    print(text)
    print(f"\nresults: {json_path}")
    return rc
