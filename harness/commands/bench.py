"""``clockbench bench``: the microbenchmarks (pytest-benchmark), both builds in one run, as ratios."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from harness import microbench
from harness.rundir import new_run_dir

BENCH_DIR = Path(__file__).resolve().parents[2] / "tests" / "benchmarks"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="run the microbenchmarks and print each clocked/baseline pair with its ratio",
        description=(
            "Runs tests/benchmarks through pytest-benchmark (both builds in the same run), saves "
            "the JSON in a run directory and prints, per pair, the median time per operation of "
            "each build and clocked/baseline (below 1.00x: the clocked build is faster)."
        ),
    )
    p.add_argument("-k", dest="select", help="only benchmarks matching this pytest -k expression")
    p.add_argument("--quick", action="store_true", help="fewer rounds: a rough figure in less time")
    p.add_argument("--out", type=Path, help="run directory (default: reports/runs/<timestamp>-<commit>)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = args.out or new_run_dir("bench")
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "microbench.json"
    cmd = [
        sys.executable, "-m", "pytest", str(BENCH_DIR), "-q", "-p", "no:cacheprovider",
        "--benchmark-enable", "--benchmark-only", f"--benchmark-json={json_path}",
        "--benchmark-columns=median,iqr,rounds", "--benchmark-sort=name",
    ]
    if args.quick:
        cmd += ["--benchmark-max-time=0.2", "--benchmark-min-rounds=3"]
    if args.select:
        cmd += ["-k", args.select]
    print(f"running microbenchmarks -> {json_path}", flush=True)
    rc = subprocess.call(cmd)
    if not json_path.exists():
        print("clockbench bench: no results were written (see pytest's output above)", file=sys.stderr)
        return rc or 1
    pairs = microbench.pairs(microbench.load(json_path))
    text = microbench.table(pairs)
    (out / "microbench.txt").write_text(text + "\n")
    print()
    print(text)
    print(f"\nresults: {json_path}")
    return rc
