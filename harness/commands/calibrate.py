"""``clockbench calibrate``: how often this machine's compare and gate cry wolf, and how often they
catch a real slowdown; writes the calibration file compare and gate use.

It runs ``--trials`` same-commit microbenchmark runs and as many with a planted slowdown
(``--plant oms=10%``, harness/plant.py), alternating (same, planted, planted, same, ...), each a
fresh paired run (harness/measure/pairing.py) of the benchmarks ``-k`` selects. Then:

- the calibration: per metric, build and clocked/baseline ratio, the variance of the run-level
  estimate over the same-commit runs (harness/calibration.py), saved for this machine;
- false alarms: ``gate`` on every pair of same-commit runs (the calibration for each pair taken
  from the *other* runs where there are enough, so a pair does not judge itself), and the share of
  ``compare`` rows whose interval excludes "no change" (5% expected);
- power: ``gate`` and ``compare`` of every planted run against every same-commit run.

Figures measured on a busy machine are pessimistic; with few trials they are rough (the report
gives the counts, not just the rates).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import secrets
import time
from pathlib import Path

import numpy as np

from harness import calibration, plant, results, stats
from harness.commands.compare import RELATIVE, compare, run_level
from harness.commands.gate import checked, paired_metrics, parse_pct, regressions
from harness.errors import UsageError
from harness.progress import timed_log
from harness.rundir import commit, new_run_dir

DEFAULT_SELECT = "orders and not ems"  # the order-management pairs: a minute per trial
AFFECTED = {"oms": ("bench.orders.pipeline", "bench.orders.oms.submit_cancel",
                    "instr.orders.pipeline", "instr.orders.oms.submit_cancel")}  # what the plant slows
# the instruction-count cases (harness/measure/instructions.py) a calibration with --instructions runs
INSTRUCTION_CASES = {"oms": [("test_bench_orders", "test_bench_oms_submit_cancel", {"build": None})]}


# --timer: what pytest-benchmark times (its --benchmark-timer, passed to the trials' pytest only)
TIMERS = {"wall": "", "cpu": "time.thread_time"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="measure this machine's false-alarm rate and power of compare/gate; write its calibration",
                       description="Runs N same-commit and N planted-slowdown microbenchmark runs (alternating), "
                                   "writes this machine's calibration file (run-to-run variance per metric, used by "
                                   "compare and gate), and reports how often gate and compare flag a change between "
                                   "same-commit runs (false alarms) and how often they find the planted slowdown (power).")
    p.add_argument("--trials", type=int, default=4, help="same-commit runs, and as many planted ones (default 4; >= 3)")
    p.add_argument("--plant", default="oms=10%", help="the planted slowdown, COMPONENT=N%% (default oms=10%%)")
    p.add_argument("-k", dest="select", default=DEFAULT_SELECT,
                   help=f"which benchmarks (a pytest -k expression; default {DEFAULT_SELECT!r})")
    p.add_argument("--pairs", type=int, default=10, help="pairs per benchmark in each run (default 10, as run --quick)")
    p.add_argument("--max-regression", default="5%", help="the gate's threshold (default 5%%)")
    p.add_argument("--instructions", action="store_true",
                   help="also count the planted component's instructions under valgrind in every trial (slower)")
    p.add_argument("--timer", choices=sorted(TIMERS), default="wall",
                   help="what the microbenchmarks time: wall (perf_counter, as run does) or cpu (the benchmark "
                        "thread's CPU time: time other processes take on a busy machine is not counted; cache "
                        "and frequency effects still are); cpu trials are compared only among themselves")
    p.add_argument("--out", type=Path, help="directory for the trials (default reports/runs/<timestamp>-<commit>-calibrate)")
    p.add_argument("--calibration-out", type=Path, help="where to write the calibration (default: this machine's file)")
    p.add_argument("--reanalyse", type=Path, metavar="DIR",
                   help="run no trials: judge the trials an earlier calibrate left in DIR (same-*/, planted-*/) with "
                        "this version's compare and gate; writes DIR/calibrate-reanalysed.{txt,json}, and a calibration "
                        "file only with --calibration-out")
    p.set_defaults(func=run)


def trial(out: Path, select: str, pairs: int, spec: str, token: str, log,  # type: ignore[no-untyped-def]
          instruction_cases: list | None = None, timer: str = "wall") -> list[results.MetricRecord]:
    import os

    from harness.measure import Context, microbench

    env = {plant.ENV: spec, plant.TOKEN_ENV: token} if spec else {}
    if TIMERS[timer]:
        env["PYTEST_ADDOPTS"] = (os.environ.get("PYTEST_ADDOPTS", "") + f" --benchmark-timer={TIMERS[timer]}").strip()
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(out, True, "1", {"bench.calibrate"}, log, bench_select=select, env=env)
    saved = dict(microbench.MICROBENCH_PAIRS)
    microbench.MICROBENCH_PAIRS[True] = pairs
    try:
        recs = microbench.produce_microbench(ctx)
    finally:
        microbench.MICROBENCH_PAIRS.update(saved)
    if instruction_cases:
        from harness.measure import instructions

        recs += instructions.produce(out / "instructions", log, cases=instruction_cases, env=env)
    if spec and not all(r.extra.get("planted") == spec for r in recs):
        raise RuntimeError("the planted run's records do not all carry the plant: refusing to use them")
    mark_timer(recs, timer)
    results.save(recs, out)
    return recs


def mark_timer(recs: list[results.MetricRecord], timer: str) -> None:
    """Records timed by another clock than wall time say so, and carry it in their definition
    version, so compare and gate refuse to set them against wall-time runs."""
    if not TIMERS[timer]:
        return
    for r in recs:
        if r.metric.startswith("bench."):
            r.extra["timer"] = TIMERS[timer]
            r.definition = f"{r.definition}+{timer}" if r.definition else timer


def calibration_from(runs: list[list[results.MetricRecord]], notes: list[str] | None = None) -> calibration.Calibration:
    """Per (metric, build) and per paired ratio: the variance of the run-level log estimate."""
    levels: dict[str, list[float]] = {}
    for i, recs in enumerate(runs):
        idx = results.index(recs)
        for metric, by in idx.items():
            for build, r in by.items():
                if r.valid and not r.extra.get("pooled") and r.build not in ("reference", "aa"):
                    try:
                        levels.setdefault(f"{metric}|{build}", []).append(run_level(r, i)[0])
                    except ValueError:
                        pass
            c, b = by.get("clocked"), by.get("baseline")
            if c is not None and b is not None and c.valid and b.valid and c.kind == b.kind == "rounds":
                try:
                    levels.setdefault(f"{metric}|{RELATIVE}", []).append(
                        math.log(stats.paired_log_ratio(c.values, b.values).estimate))
                except ValueError:
                    pass
    metrics = {k: {"var": float(np.var(v, ddof=1)), "k": len(v), "mean": float(np.mean(v)),
                   "sd_percent": float(100 * math.expm1(math.sqrt(np.var(v, ddof=1))))}
               for k, v in levels.items() if len(v) >= 2}
    return calibration.Calibration(calibration.machine(), len(runs), metrics, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                   commit(), notes=list(notes or []))


def _cal_without(same: list[list[results.MetricRecord]], leave: set[int]) -> tuple[calibration.Calibration, bool]:
    rest = [r for i, r in enumerate(same) if i not in leave]
    if len(rest) >= 3:
        return calibration_from(rest), True
    return calibration_from(same), False


def _only(runs: list[list[results.MetricRecord]], keep) -> list[list[results.MetricRecord]]:  # type: ignore[no-untyped-def]
    return [[r for r in recs if keep(r.metric)] for recs in runs]


def analyse(same: list[list[results.MetricRecord]], planted: list[list[results.MetricRecord]], limit: float,
            affected: tuple[str, ...]) -> dict:
    """False alarms and power of the gate as it runs (instruction counts deciding where they were
    counted), and, where instructions were counted, of a gate on wall time alone and on
    instruction counts alone (pure)."""
    res = _analyse(same, planted, limit, affected)
    if any(r.metric.startswith("instr.") for recs in same for r in recs):
        full = calibration_from(same)
        res["instructions_spread"] = {
            "floor_sd_percent": 100 * calibration.INSTRUCTION_FLOOR_SD,
            "same_commit_sd_percent": {k: round(e["sd_percent"], 4) for k, e in sorted(full.metrics.items())
                                       if k.startswith(calibration.INSTRUCTION_PREFIX)},
            "compare_rows_floored": res["false_alarms"].pop("floored_rows", 0)}
        for name, keep in (("wall_time_only", lambda m: not m.startswith("instr.")),
                           ("instructions_only", lambda m: m.startswith("instr."))):
            part = _analyse(_only(same, keep), _only(planted, keep), limit, tuple(m for m in affected if keep(m)))
            res[name] = {"false_alarms": {k: v for k, v in part["false_alarms"].items() if k != "detail"},
                         "power": {k: v for k, v in part["power"].items() if k not in ("detail", "compare_by_metric")}}
    return res


def _analyse(same: list[list[results.MetricRecord]], planted: list[list[results.MetricRecord]], limit: float,
             affected: tuple[str, ...]) -> dict:
    """False alarms over same-commit pairs, power over planted-vs-same pairs (pure)."""
    fa, fa_rows, fa_flagged, fa_floored, loo_all = [], 0, 0, 0, True
    for i, j in itertools.combinations(range(len(same)), 2):
        cal, loo = _cal_without(same, {i, j})
        loo_all &= loo
        changes = compare(same[i], same[j], cal=cal)
        rows = [c for c in changes if checked(c, paired_metrics(changes))]
        bad = regressions(changes, limit)
        fa.append({"pair": [i, j], "gate_failed": bool(bad), "flagged": [f"{c.metric} ({c.build})" for c, _, _ in bad]})
        fa_rows += len(rows)
        fa_floored += sum(1 for c in rows if c.floored)
        fa_flagged += sum(1 for c in rows if c.ci_low is not None and (c.ci_low > 1 or c.ci_high < 1))
    power, per_metric = [], {m: {"found": 0, "of": 0, "changes": []} for m in affected}
    for i, j in itertools.product(range(len(planted)), range(len(same))):
        cal, loo = _cal_without(same, {j})
        loo_all &= loo
        changes = compare(same[j], planted[i], cal=cal)
        bad = regressions(changes, limit)
        hit = [c for c, _, _ in bad if c.metric in affected]
        power.append({"planted": i, "same": j, "gate_failed": bool(bad), "gate_found_plant": bool(hit),
                      "flagged": [f"{c.metric} ({c.build})" for c, _, _ in bad]})
        for c in changes:
            if c.metric in affected and c.build == RELATIVE and c.ratio is not None:
                e = per_metric[c.metric]
                e["of"] += 1
                e["found"] += int(c.ci_low is not None and c.ci_low > 1)
                e["changes"].append(round((c.ratio - 1) * 100, 2))
    independent = [x for x in fa if x["pair"][0] % 2 == 0 and x["pair"][1] == x["pair"][0] + 1]
    return {
        "max_regression": limit,
        "calibration_left_out_for_each_pair": loo_all,
        "false_alarms": {"gate_failed": sum(x["gate_failed"] for x in fa), "pairs": len(fa),
                         "independent_pairs_failed": sum(x["gate_failed"] for x in independent),
                         "independent_pairs": len(independent),
                         "compare_rows_flagged": fa_flagged, "compare_rows": fa_rows, "floored_rows": fa_floored,
                         "detail": fa},
        "power": {"gate_failed": sum(x["gate_failed"] for x in power), "gate_found_plant": sum(x["gate_found_plant"] for x in power),
                  "pairs": len(power), "compare_by_metric": per_metric, "detail": power},
    }


def _pct(a: int, b: int) -> str:
    return f"{a} of {b} ({100 * a / b:.0f}%)" if b else "none"


def summary(res: dict, spec: str) -> str:
    fa, pw = res["false_alarms"], res["power"]
    lines = [
        f"same-commit pairs: gate failed in {_pct(fa['gate_failed'], fa['pairs'])} "
        f"[independent consecutive pairs: {_pct(fa['independent_pairs_failed'], fa['independent_pairs'])}] "
        f"at --max-regression {res['max_regression'] * 100:g}%",
        f"same-commit pairs: compare flagged {_pct(fa['compare_rows_flagged'], fa['compare_rows'])} of the checked rows "
        "as changed (5% expected by chance)",
        f"planted {spec} vs same-commit: gate failed in {_pct(pw['gate_failed'], pw['pairs'])}, "
        f"and flagged a planted metric in {_pct(pw['gate_found_plant'], pw['pairs'])}",
    ]
    for m, e in pw["compare_by_metric"].items():
        ch = e["changes"]
        if not e["of"]:
            continue
        med = f", measured change median {float(np.median(ch)):+.1f}% (range {min(ch):+.1f}% .. {max(ch):+.1f}%)" if ch else ""
        lines.append(f"  compare, {m} clocked/baseline: worse beyond its 95% CI in {_pct(e['found'], e['of'])}{med}")
    for name, label in (("wall_time_only", "a gate on wall time alone"), ("instructions_only", "a gate on instruction counts alone")):
        if name in res:
            f, p = res[name]["false_alarms"], res[name]["power"]
            lines.append(f"  {label}: same-commit pairs failed {_pct(f['gate_failed'], f['pairs'])}; planted found in "
                         f"{_pct(p['gate_found_plant'], p['pairs'])}")
    if "instructions_spread" in res:
        sp = res["instructions_spread"]
        sds = ", ".join(f"{k.split('|', 1)[1]} {v:.2f}%" for k, v in sp["same_commit_sd_percent"].items())
        lines.append(f"  instruction counts: same-commit run-to-run sd {sds or 'not measured'}; compare and gate allow at "
                     f"least {sp['floor_sd_percent']:.2f}% per run (the floor set {sp['compare_rows_floored']} of the "
                     "same-commit rows' intervals)")
    if not res["calibration_left_out_for_each_pair"]:
        lines.append("  note: too few trials to leave the judged runs out of the calibration (needs >= 5 same-commit "
                     "runs): the calibration was estimated from the runs it judges, so the false-alarm rate is optimistic")
    return "\n".join(lines)


def load_trials(d: Path) -> tuple[list[list[results.MetricRecord]], list[list[results.MetricRecord]], str]:
    """The same-commit and planted trials an earlier calibrate wrote to ``d``, in trial order, and the plant."""
    def of(kind: str) -> list[list[results.MetricRecord]]:
        dirs = sorted((p for p in d.glob(f"{kind}-*") if (p / results.METRICS_FILE).exists()),
                      key=lambda p: int(p.name.rsplit("-", 1)[1]))
        return [results.load(p) for p in dirs]

    same, planted = of("same"), of("planted")
    if len(same) < 3 or not planted:
        raise UsageError(f"{d}: needs at least 3 same-commit trials and one planted one (found {len(same)} and {len(planted)})")
    spec = next((str(r.extra["planted"]) for recs in planted for r in recs if r.extra.get("planted")), "")
    return same, planted, spec


def reanalyse(args: argparse.Namespace) -> int:
    same, planted, spec = load_trials(args.reanalyse)
    comp, _ = plant.parse(spec) if spec else ("", 0.0)
    res = analyse(same, planted, parse_pct(args.max_regression), AFFECTED.get(comp, ()))
    res.update({"plant": spec, "trials": [len(same), len(planted)], "reanalysed": str(args.reanalyse), "commit": commit()})
    if args.calibration_out:
        res["calibration"] = str(calibration.save(calibration_from(same, notes=[f"reanalysed from {args.reanalyse}"]),
                                                  args.calibration_out))
    text = summary(res, spec)
    (args.reanalyse / "calibrate-reanalysed.json").write_text(json.dumps(res, indent=1))
    (args.reanalyse / "calibrate-reanalysed.txt").write_text(text + "\n")
    print(f"{len(same)} same-commit and {len(planted)} planted trials from {args.reanalyse}, judged by this version\n")
    print(text)
    return 0


def run(args: argparse.Namespace) -> int:
    if args.reanalyse:
        return reanalyse(args)
    if plant.active():
        raise UsageError(f"{plant.ENV} is already set in this shell: unset it; calibrate sets it for its own trials only")
    try:
        comp, _ = plant.parse(args.plant)
    except plant.PlantError as exc:
        raise UsageError(str(exc)) from None
    if args.trials < 3:
        raise UsageError("--trials: at least 3 (the run-to-run variance needs them)")
    if args.pairs < 3:
        raise UsageError("--pairs: at least 3")
    limit = parse_pct(args.max_regression)
    out = args.out or new_run_dir("calibrate")
    out.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(8)
    t0 = time.monotonic()
    log = timed_log(t0)
    same: list[list[results.MetricRecord]] = []
    planted: list[list[results.MetricRecord]] = []
    log(f"calibrate: {args.trials} same-commit and {args.trials} planted ({args.plant}) runs of -k {args.select!r}, "
        f"{args.pairs} pairs each -> {out}")
    for i in range(args.trials):
        order = [("same", ""), ("planted", args.plant)]
        for kind, spec in (order if i % 2 == 0 else order[::-1]):
            log(f"trial {i + 1}/{args.trials}: {kind}")
            recs = trial(out / f"{kind}-{i}", args.select, args.pairs, spec, token, log,
                         INSTRUCTION_CASES.get(comp) if args.instructions else None, args.timer)
            (same if kind == "same" else planted).append(recs)
    res = analyse(same, planted, limit, AFFECTED.get(comp, ()))
    cal = calibration_from(same, notes=[f"microbenchmarks -k {args.select!r}, {args.pairs} pairs per run, timer {args.timer}",
                                        f"measured in {time.monotonic() - t0:.0f}s"])
    path = calibration.save(cal, args.calibration_out)
    res.update({"plant": args.plant, "trials": args.trials, "pairs": args.pairs, "select": args.select, "timer": args.timer,
                "seconds": round(time.monotonic() - t0, 1), "machine": cal.machine, "calibration": str(path)})
    text = summary(res, args.plant)
    (out / "calibrate.json").write_text(json.dumps(res, indent=1))
    (out / "calibrate.txt").write_text(text + "\n")
    print("\n" + text)
    print(f"\ncalibration: {path}\nreport: {out / 'calibrate.txt'}")
    return 0
