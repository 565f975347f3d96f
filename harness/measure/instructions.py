"""Instruction counts of the CPU-bound microbenchmarks under valgrind (callgrind), beside wall time.

Why: wall time on a shared 2-core machine moves with every neighbour; the number of instructions
a benchmark body executes barely moves at all, so a 1% change in the code's work shows in one
run. The idea is CodSpeed's (instrumentation switched on around the benchmark body only); this is
a separate implementation: a small C function ``cb_bench_body(fn)`` (compiled here with the
system ``cc`` against valgrind's callgrind.h, called through ctypes) zeroes the counters, switches
instrumentation and collection on, runs the body, switches them off and dumps one profile per
call; valgrind starts with ``--instr-atstart=no --collect-atstart=no``, so the interpreter's
start-up and the benchmark's setup run uninstrumented (fast) and are not counted. The benchmark functions of tests/benchmarks run unchanged with
a stand-in ``benchmark`` fixture that calls the body once to warm up and then ``REPEATS`` times
inside ``cb_bench_body``.

Where it misleads, and why only CPU-bound benchmarks are counted: time spent waiting (network,
disk, a database or Redis server, another process) executes no instructions of this process;
a syscall's kernel work is not counted; cache misses, branch mispredictions and memory
bandwidth cost time but not instructions (a change that makes data less cache-friendly looks
free); the clock read itself (vDSO ``clock_gettime``) is counted as its few user-space
instructions whatever the hardware clock costs. Python's allocator and garbage collector make
counts vary slightly between repeats (well under 1%). Counts are per operation (``ops``), unit
``count``, metric ``instr.<group>``.
"""

from __future__ import annotations

import ctypes
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from harness.rundir import ROOT

# Counted calls per benchmark and build. Two: the repeats of one run agree within 0.2% (r1 at load
# 10-15, 2026-11-30: e.g. 110,877 / 111,038 / 110,888 per op), while two runs of one commit differ
# by up to ~0.9% with the memory layout, which compare and gate already allow for with a floor
# (harness/calibration.py INSTRUCTION_FLOOR_SD, 0.5% per run, above the repeats' own spread):
# a third call changed no comparison, and it was about a quarter of this step (the counted bodies
# run instrumented, ~50x slower than native; r1's third calls took ~110 of 530 s at load 10-15).
REPEATS = 2
BENCH_DIR = ROOT / "tests" / "benchmarks"
# (module, test function, parameters): CPU-bound pairs, no server, no sleeping
CASES: list[tuple[str, str, dict]] = [
    ("test_bench_orders", "test_bench_orders_pipeline", {"build": None}),
    ("test_bench_orders", "test_bench_oms_submit_cancel", {"build": None}),
    ("test_bench_orders", "test_bench_pms_apply_fill", {"build": None}),
    ("test_bench_clock", "test_timestamp_ns_{build}", {}),
    ("test_bench_clock", "test_utc_now_{build}", {}),
]
# Instrumentation is off until the body starts (the interpreter runs at valgrind's uninstrumented
# speed elsewhere), collection on only inside the body, one dump per call.
C_SOURCE = """#include <valgrind/callgrind.h>
typedef void (*cb_fn)(void);
void cb_bench_body(cb_fn fn) {
    CALLGRIND_ZERO_STATS;
    CALLGRIND_START_INSTRUMENTATION;
    CALLGRIND_TOGGLE_COLLECT;
    fn();
    CALLGRIND_TOGGLE_COLLECT;
    CALLGRIND_STOP_INSTRUMENTATION;
    CALLGRIND_DUMP_STATS_AT("cb_bench_body");
}
"""
# The order benchmarks' counted calls take a tenth of their timed rounds' orders and fills: a count per
# operation needs no long round (there is no timer to outweigh), and the counted bodies run ~50x slower
# than native, so the full rounds were most of this step (30 s of a quick run on a slow machine,
# 2026-12-01). Figures per operation at both sizes: the README (instruction counts).
COUNTED_SIZES: dict[str, dict[str, int]] = {
    "test_bench_orders": {"PIPELINE_ORDERS": 200, "OMS_ORDERS": 200, "PMS_FILLS": 500},
}
DEFINITION = f"callgrind Ir per op inside cb_bench_body, warm-up call excluded; v2, sizes {COUNTED_SIZES}"
PLANT_ENV = "CLOCKBENCH_PLANT"


class Unavailable(RuntimeError):
    """valgrind or a C compiler is missing."""


def _library(cache: Path) -> Path:
    so = cache / "cb_bench.so"
    if not so.exists() or "callgrind.h" not in (cache / "cb_bench.c").read_text(errors="replace") if (cache / "cb_bench.c").exists() else True:
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            raise Unavailable("no C compiler (cc) to build the instrumentation toggle")
        src = cache / "cb_bench.c"
        src.write_text(C_SOURCE)
        subprocess.run([cc, "-O0", "-shared", "-fPIC", "-o", str(so), str(src)], check=True, capture_output=True)
    return so


class CountingBenchmark:
    """A stand-in for pytest-benchmark's fixture: the body once to warm up, then ``REPEATS``
    times inside ``cb_bench_body`` (where callgrind counts)."""

    disabled = False
    stats = None

    def __init__(self, lib: Any, order: list[dict]) -> None:
        self.group = ""
        self.extra_info: dict = {}
        self._lib, self._order = lib, order
        self._cfn = ctypes.CFUNCTYPE(None)

    def _measure(self, call: Callable[..., Any], prepare: Callable[[], tuple] | None = None) -> Any:
        """``prepare`` (a pytest-benchmark setup) runs outside the counted region; a full
        garbage collection before each counted call starts every repeat from the same state."""
        import gc

        a, k = prepare() if prepare else ((), {})
        out = call(*a, **k)  # warm-up, not counted
        for _ in range(REPEATS):
            a, k = prepare() if prepare else ((), {})
            gc.collect()
            box: list = []
            cb = self._cfn(lambda: box.append(call(*a, **k)))
            self._lib.cb_bench_body(cb)
            out = box[0]
            self._order.append({"group": self.group, "build": self.extra_info.get("build", "clocked"),
                                "ops": int(self.extra_info.get("ops", 1))})
        return out

    def __call__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._measure(lambda: fn(*args, **kwargs))

    def pedantic(self, fn: Callable[..., Any], args: tuple = (), kwargs: dict | None = None, setup=None,  # type: ignore[no-untyped-def]
                 rounds: int = 1, iterations: int = 1, warmup_rounds: int = 0) -> Any:
        return self._measure(fn, setup if setup else (lambda: (args, kwargs or {})))


def driver(build: str, order_path: Path, lib_path: Path, cases: list | None = None) -> None:
    """Inside valgrind: run every case of one build with the counting fixture."""
    import importlib

    from harness import plant

    plant.install_from_env()  # calibrate's planted slowdown, if any (refused without its token)
    sys.path[:0] = [str(BENCH_DIR), str(ROOT / "tests"), str(ROOT)]
    lib = ctypes.CDLL(str(lib_path))
    lib.cb_bench_body.argtypes = [ctypes.CFUNCTYPE(None)]
    order: list[dict] = []
    for module, func, params in (cases or CASES):
        mod = importlib.import_module(module)
        for name, size in COUNTED_SIZES.get(module, {}).items():
            setattr(mod, name, size)  # the benchmark reads its size (and labels its ops) when it runs
        fn = getattr(mod, func.format(build=build))
        kw = {k: (build if v is None else v) for k, v in params.items()}
        fn(CountingBenchmark(lib, order), **kw)
    order_path.write_text(json.dumps(order))


_COST = re.compile(r"^(?:[+-]?\d+|\*|0x[0-9a-fA-F]+|[+-]0x[0-9a-fA-F]+)\s+(\d+)\s*$")


def parse_dump(text: str) -> int:
    """Total instructions (Ir) of a callgrind profile: the sum of its self-cost lines (the
    'summary:' header reads 0 for a dump triggered by a client request with collection toggled,
    so it is not used); a line after ``calls=`` is a call's inclusive cost and is skipped."""
    total, skip, seen = 0, False, False
    for line in text.splitlines():
        if skip:
            skip = False
            continue
        if line.startswith("calls="):
            skip = True
            continue
        m = _COST.match(line)
        if m:
            total += int(m.group(1))
            seen = True
    if not seen:
        raise ValueError("no cost lines in the callgrind output")
    return total


def count(build: str, work: Path, log: Callable[[str], None] = print, cases: list | None = None,
          env: dict[str, str] | None = None) -> list[dict]:
    """Run one build's cases under callgrind; per measured call its group, ops and instructions."""
    if shutil.which("valgrind") is None:
        raise Unavailable("valgrind is not installed (apt-get install valgrind)")
    work.mkdir(parents=True, exist_ok=True)
    lib = _library(work)
    order_path = work / f"order-{build}.json"
    prefix = work / f"callgrind.{build}"
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
           f"--callgrind-out-file={prefix}.%p", sys.executable, "-m",
           "harness.measure.instructions", "--driver", build, str(order_path), str(lib), json.dumps(cases or CASES)]
    env = {**os.environ, **(env or {}), "PYTHONHASHSEED": "0"}
    with open(work / f"valgrind-{build}.log", "w") as logf:
        rc = subprocess.call(cmd, cwd=ROOT, stdout=logf, stderr=subprocess.STDOUT, env=env)
    if rc != 0 or not order_path.exists():
        raise RuntimeError(f"the {build} run under valgrind failed (exit {rc}); see {work / f'valgrind-{build}.log'}")
    order = json.loads(order_path.read_text())
    dumps = sorted((p for p in glob.glob(f"{prefix}.*") if re.search(r"\.\d+\.\d+$", p)),
                   key=lambda p: int(p.rsplit(".", 1)[1]))
    if len(dumps) != len(order):
        raise RuntimeError(f"{len(dumps)} callgrind dumps for {len(order)} measured calls ({build})")
    for entry, path in zip(order, dumps):
        entry["instructions"] = parse_dump(Path(path).read_text(errors="replace"))
    return order


def produce(out: Path, log: Callable[[str], None] = print, cases: list | None = None,
            env: dict[str, str] | None = None) -> list:
    """Records ``instr.<group>`` per build: instructions per operation, one value per repeat."""
    cases = cases or CASES
    from harness.measure.pairing import function_source
    from harness.results import MetricRecord, definition_hash

    from concurrent.futures import ThreadPoolExecutor

    per: dict[tuple[str, str], list[dict]] = {}
    builds = ("baseline", "clocked")
    log(f"  instructions: both builds under callgrind at once ({len(cases)} benchmarks x {REPEATS} counted calls "
        "each; a count does not depend on what else runs)")
    out.mkdir(parents=True, exist_ok=True)
    _library(out)  # built once, before the two processes share it
    # The two builds' valgrind processes run side by side: an instruction count is the same whatever
    # the machine's load (it was ~100 s one after the other, most of it the interpreter's start-up
    # under valgrind), and nothing else is measured while this step runs.
    with ThreadPoolExecutor(max_workers=len(builds)) as pool:
        counted = list(pool.map(lambda b: count(b, out, log, cases, env), builds))
    for entries in counted:
        for e in entries:
            per.setdefault((e["group"], e["build"]), []).append(e)
    recs = []
    sources = {(m, f.format(build=b)): function_source(str(BENCH_DIR / f"{m}.py"), f.format(build=b))
               for m, f, _ in cases for b in ("baseline", "clocked")}
    for (group, build), es in sorted(per.items()):
        src = "".join(v for (m, f), v in sources.items() if build in f or "{build}" not in f)
        values = [max(1, round(e["instructions"] / e["ops"])) for e in es]
        recs.append(MetricRecord(f"instr.{group}", build, "count", values, kind="rounds", source="instructions/",
                                 extra={"tool": "valgrind --tool=callgrind", "ops": es[0]["ops"],
                                        "instructions_per_call": [e["instructions"] for e in es],
                                        "meaning": "instructions executed per operation (Ir), CPU-bound work only",
                                        **({"planted": env[PLANT_ENV]} if env and env.get(PLANT_ENV) else {})},
                                 definition=definition_hash(DEFINITION, group, build, src)))
    return recs


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--driver":
        driver(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), [tuple(c) for c in json.loads(sys.argv[5])])
    else:
        with tempfile.TemporaryDirectory() as d:
            for r in produce(Path(d)):
                print(r.metric, r.build, r.values)
