"""A pytest plugin that turns the microbenchmarks into paired, interleaved measurements.

Loaded with ``-p harness.measure.pairing --cb-pairs N`` (``clockbench run`` does), it repeats
every benchmark N times and orders the items so that the builds of one pair (``benchmark.group``)
alternate at fine grain within one process: pair 0 runs baseline then clocked, pair 1 clocked then
baseline, and so on (A B B A A B ...). Each item is one short pytest-benchmark measurement (a few
rounds); the statistic is the per-pair ratio clocked/baseline of the items' median round times.

Why this and not one long measurement per build, or one process per pair: on a shared machine
whole stretches of time run slower (another process, frequency scaling, a noisy neighbour). Two
items a fraction of a second apart see the same machine, so the machine's state cancels in their
ratio; items minutes apart (pytest-benchmark's default order: every round of one build, then every
round of the other) or in separate processes do not. The benchmark code, its setup and its
postconditions stay as they are; only the order and the repetition change.

Builds are read from a ``build`` parameter or a ``_baseline`` / ``_clocked`` / ``_clocked_pure`` /
``_<reference>`` suffix of the test name; items of one pair share everything else (module, test,
other parameters). A third build (a reference, the pure-Python twin) runs once, in pair 0, for
context; marked ``@pytest.mark.every_pair`` it runs in every pair, inside the same A B B A order,
so that its ratio to the baseline (or the clocked build's to it) has an interval too.

A benchmark marked ``@pytest.mark.more_pairs(k)`` runs ``k * N`` pairs: for the cheapest reads (a
clock read of 60-70 ns, an item of 50 ms) the pairs cost little, and a preempted stretch that lands
on one item of a pair (2-3 of 10 pairs read 86-109 ns for either build, at load 1) widens a paired
interval of 10 pairs past the criterion's threshold; with three times the pairs its weight is a
third and the interval about 1/sqrt(3) as wide. Every build of a pair must carry the same mark.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pytest

BUILD_ORDER = ("baseline", "clocked")
# A benchmark without both builds (a clocked-only throughput, judged on its own) is not a pair: it
# runs this many times (the fewest for an order-statistic interval of its median, harness/stats.py);
# a reference (a third-party ceiling, context only) runs once, in the first pair.
UNPAIRED_REPEATS = 6
_SUFFIX = re.compile(r"_(baseline|clocked_pure|clocked|nautilus|reference)$")
EVERY_PAIR = "every_pair"  # the marker of a third build measured in every pair, not once
MORE_PAIRS = "more_pairs"  # more_pairs(k): a cheap benchmark measured in k times as many pairs


def pytest_configure(config: pytest.Config) -> None:
    """A planted slowdown (``clockbench calibrate`` only, harness/plant.py) is installed here."""
    from harness import plant

    config._clockbench_plant = plant.install_from_env()  # type: ignore[attr-defined]
    config.addinivalue_line("markers", f"{EVERY_PAIR}: a third build (reference, pure twin) measured in every pair, not once")
    config.addinivalue_line("markers", f"{MORE_PAIRS}(k): a cheap benchmark measured in k times as many pairs")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--cb-pairs", type=int, default=0, metavar="N",
                     help="clockbench: repeat each benchmark N times, builds interleaved A B B A (paired measurement)")


@pytest.fixture(autouse=True)
def cb_pair(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """The index of the pair this item belongs to (None outside a paired run); in a paired run,
    the machine's state while the item ran goes into its ``extra_info["machine"]``."""
    p = getattr(request, "param", None)
    if p is None:
        yield None
        return
    from harness import machine_state

    with machine_state.Watch() as w:
        yield p
    bm = request.node.funcargs.get("benchmark")
    if bm is not None:
        bm.extra_info["machine"] = w.state


def pairs_for(n: int, marker: pytest.Mark | None) -> int:
    """The pairs a benchmark runs: ``n``, times the factor of its ``more_pairs(k)`` mark (k >= 1)."""
    if marker is None:
        return n
    k = marker.args[0] if marker.args else marker.kwargs.get("k", 1)
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"more_pairs(k) takes a whole number k >= 1, got {k!r}")
    return n * k


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    n = metafunc.config.getoption("--cb-pairs")
    if n and n > 0 and "benchmark" in metafunc.fixturenames:
        n = pairs_for(n, metafunc.definition.get_closest_marker(MORE_PAIRS))
        metafunc.parametrize("cb_pair", range(n), indirect=True, ids=lambda i: f"pair{i}")


LOOPED_BELOW_S = 1e-3  # a round shorter than this may take several calls per round in pytest-benchmark


def measure(benchmark, fn, *args):  # type: ignore[no-untyped-def]
    """``benchmark(fn, *args)`` without its one wasted call: pytest-benchmark makes one unmeasured call
    first (its calibration; with --benchmark-warmup=off also the only warm-up) and one more after the
    rounds, only to return ``fn``'s result. Here the first call is kept, timed, and sets the rounds as
    pytest-benchmark would (enough to fill --benchmark-max-time, at least --benchmark-min-rounds, one
    call each); the rounds run through ``benchmark.pedantic`` and the last one's result is returned.
    Same rounds, same warm-up, same records: in a quick run the trailing call of the 50-insert
    PostgreSQL round (~0.2 s, fsync-bound) was about 4 s of the step. A round shorter than
    ``LOOPED_BELOW_S`` (where pytest-benchmark may loop the function within a round) and a disabled
    benchmark (one plain call, as a test) go through ``benchmark`` unchanged."""
    import math

    if benchmark.disabled:
        return benchmark(fn, *args)
    timer = benchmark._timer  # pytest-benchmark's own settings for this item (pinned in requirements.lock)
    t0 = timer()
    fn(*args)
    first = timer() - t0
    if first < LOOPED_BELOW_S:
        return benchmark(fn, *args)
    rounds = max(math.ceil(benchmark._max_time / first), benchmark._min_rounds)
    return benchmark.pedantic(fn, args=args, rounds=rounds, iterations=1, warmup_rounds=0)


def build_of(item: pytest.Item) -> str:
    params = getattr(getattr(item, "callspec", None), "params", {})
    if "build" in params:
        return str(params["build"])
    m = _SUFFIX.search(getattr(item, "originalname", item.name))
    return m.group(1) if m else "clocked"


def pair_key(item: pytest.Item) -> tuple:
    """What the builds of one pair share: module, test name without its build suffix, other params."""
    params = dict(getattr(getattr(item, "callspec", None), "params", {}))
    params.pop("build", None)
    params.pop("cb_pair", None)
    name = _SUFFIX.sub("", getattr(item, "originalname", item.name))
    return (str(item.path), name, tuple(sorted((k, repr(v)) for k, v in params.items())))


def _every_pair(item: pytest.Item) -> bool:
    return item.get_closest_marker(EVERY_PAIR) is not None


def interleave(items: Iterable[pytest.Item]) -> list[pytest.Item]:
    """Items in pair order: for each benchmark pair, pair 0 baseline-first, pair 1 clocked-first...;
    builds other than baseline/clocked (references) run after both, in pair 0 only, unless marked
    ``every_pair``: those run in every pair, the whole slot's order reversed in odd pairs
    (baseline, clocked, others...; then ...others, clocked, baseline), so a steady drift of the
    machine weighs on every build alike."""
    groups: dict[tuple, dict[int, list[pytest.Item]]] = {}
    for it in items:
        p = getattr(getattr(it, "callspec", None), "params", {}).get("cb_pair")
        groups.setdefault(pair_key(it), {}).setdefault(p if p is not None else -1, []).append(it)
    out: list[pytest.Item] = []
    for by_pair in groups.values():
        paired = set(BUILD_ORDER) <= {build_of(it) for its in by_pair.values() for it in its}
        for p in sorted(by_pair):
            its = by_pair[p]
            if not paired and p >= UNPAIRED_REPEATS:
                continue
            if p > 0:  # references: context only, once (unless every_pair)
                its = [it for it in its if build_of(it) in BUILD_ORDER or _every_pair(it) or not paired]
            rank = {b: i for i, b in enumerate(BUILD_ORDER)}
            forward = sorted(its, key=lambda it: (rank.get(build_of(it), len(rank)), build_of(it)))
            if p % 2 == 0:
                out += forward
            else:  # reversed, the references run once in pair 0 keep their place after both builds
                every = [it for it in forward if build_of(it) in BUILD_ORDER or _every_pair(it)]
                out += every[::-1] + [it for it in forward if it not in every]
    return out


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--cb-pairs"):
        kept = interleave(items)
        ids = {id(it) for it in kept}
        dropped = [it for it in items if id(it) not in ids]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list, output_json: dict) -> None:
    """Say in the JSON that the run was paired, and how; where the test paths are relative to."""
    output_json["clockbench_pairs"] = {"pairs": config.getoption("--cb-pairs"), "order": "A B B A by pair index"}
    output_json.setdefault("machine_info", {})["cb_root"] = str(config.rootpath)
    planted = getattr(config, "_clockbench_plant", "")
    if planted:
        output_json["clockbench_plant"] = planted


# --- records from a paired run's JSON (pure data) ------------------------------------------------

_PAIR_ID = re.compile(r"pair\d+-?|-?pair\d+")
# Bump when the paired statistic changes (what one value of a record is): part of every
# microbenchmark metric's definition version, beside the benchmark function's own source.
PAIRED_DEFINITION = "per-pair median of a short pytest-benchmark item, builds A B B A; v1"


def function_sources(module_path: str) -> dict[str, str]:
    """Every function's source in ``module_path`` by name (empty when the file cannot be read or parsed).
    One parse per file: a paired run's JSON names the same few functions hundreds of times, and
    parsing the module once per benchmark entry (265 of them in a quick run) took ~18 s of the
    microbenchmark step at load 9."""
    import ast
    from pathlib import Path

    try:
        text = Path(module_path).read_text()
        tree = ast.parse(text)
    except (OSError, SyntaxError):
        return {}
    # lines as the compiler counts them (\r\n, \r or \n; str.splitlines would also split at \f, \x1c...)
    lines = re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z", text)
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name not in out:
            out[node.name] = _segment(lines, node)
    return out


def _segment(lines: list[str], node) -> str:  # type: ignore[no-untyped-def]
    """What ``ast.get_source_segment`` returns for ``node``, from lines split once (it splits the
    whole file again on every call). Column offsets are UTF-8 byte offsets, as there."""
    if node.end_lineno is None or node.end_col_offset is None:
        return ""
    first, last = node.lineno - 1, node.end_lineno - 1
    if first == last:
        return lines[first].encode()[node.col_offset:node.end_col_offset].decode()
    head = lines[first].encode()[node.col_offset:].decode()
    tail = lines[last].encode()[:node.end_col_offset].decode()
    return "".join([head, *lines[first + 1:last], tail])


def function_source(module_path: str, name: str) -> str:
    """The source of test function ``name`` in ``module_path`` ('' when it cannot be found)."""
    return function_sources(module_path).get(name, "")


def records_from_json(path, prefix: str = "bench") -> list:  # type: ignore[no-untyped-def]
    """Metric records of a paired run: per (pair, build) the median time per operation of that
    item's rounds, as ``kind="rounds"`` values ordered by pair index (only the pairs both builds
    of a group completed, so position i of the clocked record pairs with position i of the
    baseline's). Every round of every pair, pooled, is kept as ``<metric>.rounds`` marked
    ``pooled``: for spread statistics only, never for compare or gate."""
    import json
    import statistics
    from pathlib import Path

    from harness.results import MetricRecord, definition_hash, invalid

    data = json.loads(Path(path).read_text())
    planted = data.get("clockbench_plant", "")
    cells: dict[tuple[str, str], dict] = {}  # (metric, build) -> {"name", "by_pair": {p: (median, rounds)}, ...}
    names: dict[tuple[str, str], str] = {}
    sources: dict[str, dict[str, str]] = {}  # module -> its functions' sources, each module parsed once
    for b in data.get("benchmarks", []):
        extra = b.get("extra_info", {})
        group = b.get("group") or b["name"]
        build = extra.get("build", "clocked")
        pair = (b.get("params") or {}).get("cb_pair")
        base_name = _PAIR_ID.sub("", b["name"]).replace("[]", "")
        metric = f"{prefix}.{group}"
        if names.setdefault((metric, build), base_name) != base_name:  # two benchmarks of one build in a group
            metric = f"{metric}.{base_name}"
        ops = int(extra.get("ops", 1))
        raw = b.get("stats", {}).get("data") or []
        fullname = b.get("fullname", "")
        module = fullname.split("::")[0]
        func = fullname.split("::")[-1].split("[")[0]
        root = Path(data.get("machine_info", {}).get("cb_root", "") or ".")
        cell = cells.get((metric, build))
        if cell is None:  # the first item of this metric and build: its definition, from the function's source
            if module not in sources:
                sources[module] = function_sources(str(root / module))
            cell = cells[(metric, build)] = {
                "name": base_name, "ops": ops, "by_pair": {}, "group": group,
                "definition": definition_hash(PAIRED_DEFINITION, group, build, str(ops), sources[module].get(func, "")),
                "extra": {k: v for k, v in extra.items() if k not in ("build", "ops")
                          and isinstance(v, (int, float, str, bool))}}
        if raw:
            per_op = [x * 1e9 / ops for x in raw]
            cell["by_pair"][pair if pair is not None else 0] = (statistics.median(per_op), per_op)
            cell.setdefault("machine", {})[pair if pair is not None else 0] = extra.get("machine") or {}
    out = []
    groups: dict[str, dict[str, dict]] = {}
    for (metric, build), cell in cells.items():
        groups.setdefault(cell["group"], {})[build] = cell
    for (metric, build), cell in cells.items():
        peers = groups[cell["group"]]
        if build in ("clocked", "baseline") and {"clocked", "baseline"} <= set(peers):
            pairs = sorted(set(peers["clocked"]["by_pair"]) & set(peers["baseline"]["by_pair"]))
        else:
            pairs = sorted(cell["by_pair"])
        extra = dict(cell["extra"], name=cell["name"], ops=cell["ops"], pairs=pairs,
                     rounds_per_pair=[len(cell["by_pair"][p][1]) for p in pairs], paired=True,
                     order="builds alternate A B B A by pair index, in one process")
        if planted:
            extra["planted"] = planted
        states = [cell.get("machine", {}).get(p, {}) for p in pairs]
        extra["machine_per_pair"] = [{k: s.get(k) for k in ("load_avg", "steal_share", "others_cpu_share", "busy")}
                                     for s in states]
        extra["busy_pairs"] = [p for p, s in zip(pairs, states) if s.get("busy")]
        if not pairs:
            out.append(invalid(metric, build, "ns/op", "no pair completed in both builds (see the benchmark log)",
                               str(path), **extra))
            continue
        meds = [max(1, round(cell["by_pair"][p][0])) for p in pairs]
        out.append(MetricRecord(metric, build, "ns/op", meds, kind="rounds", source=str(path), extra=extra,
                                definition=cell["definition"]))
        pooled = [max(1, round(x)) for p in pairs for x in cell["by_pair"][p][1]]
        out.append(MetricRecord(metric + ".rounds", build, "ns/op", pooled, source=str(path),
                                extra={"pooled": True, "pairs": len(pairs), "name": cell["name"],
                                       **({"planted": planted} if planted else {})},
                                definition=cell["definition"]))
    return out
