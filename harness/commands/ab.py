"""``clockbench ab``: baseline and clocked in interleaved rounds (ABBA...), plus an A/A pair for the
noise floor; per metric the clocked/baseline ratio with its 95% bootstrap CI over rounds."""

from __future__ import annotations

import argparse
import contextlib
import json

from harness.errors import UsageError
from harness.commands.load import add_load_args, spec_from
from harness.load import abtest, records
from harness.load.signals import interruptible
from harness.load.runner import LoadError, csv_rows, headline, run, write_csv
from harness.load.target import target
from harness.results import save
from harness.rundir import new_run_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ab", help="interleaved A/B of baseline vs clocked with an A/A noise floor and bootstrap CIs",
        description=(
            "Starts a baseline stack, a clocked stack and (for the A/A noise floor) a second baseline stack "
            "on the same machine and services, then runs the same load on each in alternating order over "
            "--rounds rounds. Reports, per metric (p50, p99, throughput, error rate), clocked/baseline with a "
            "95% bootstrap CI over rounds and whether it exceeds the A/A noise floor."
        ),
    )
    add_load_args(p, duration=20.0)
    p.add_argument("--rounds", type=int, default=6, help="rounds per arm (default 6)")
    p.add_argument("--no-aa", dest="aa", action="store_false", help="skip the A/A pair (no noise floor)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--target-baseline", help="URL of a running baseline stack")
    p.add_argument("--target-clocked", help="URL of a running clocked stack")
    p.add_argument("--target-aa", help="URL of a second running baseline stack (A/A)")
    p.set_defaults(func=cmd)


@interruptible
def cmd(args: argparse.Namespace) -> int:
    if args.rounds < 2:
        raise UsageError(f"--rounds must be at least 2 for a confidence interval (got {args.rounds})")
    spec = spec_from(args)
    arms = abtest.ARMS if args.aa else abtest.ARMS[:2]
    urls = {"baseline": args.target_baseline, "clocked": args.target_clocked, "aa": args.target_aa}
    out = args.out or new_run_dir("ab")
    runs: dict[str, list[dict]] = {a: [] for a in arms}
    try:
        with contextlib.ExitStack() as es:
            targets = {}
            for arm in arms:
                build = abtest.ARM_BUILDS[arm]
                targets[arm] = es.enter_context(target(urls[arm], build=build, workers=args.stack_workers, nginx=args.nginx))
                print(f"ab: {arm} stack at {targets[arm].url} [{targets[arm].build}]", flush=True)
            print(f"ab: {spec.profile}, {spec.users} users{f', {spec.rate:g}/s' if spec.rate else ''}, "
                  f"{spec.duration_s:g}s per run, {args.rounds} rounds x {len(arms)} arms -> {out}", flush=True)
            for r in range(args.rounds):
                for arm in abtest.order(r, arms):
                    t = targets[arm]
                    s = run(spec, t.url, out / f"round{r:02d}-{arm}",
                            label={"label": arm, "build": "aa" if arm == "aa" else t.build, "round": r, "build_map": t.build_map},
                            progress=lambda line: None, watch=t.dead)
                    runs[arm].append(s)
                    print(f"round {r + 1}/{args.rounds} {arm:<8} {headline(s)}", flush=True)
    except LoadError as exc:
        raise UsageError(str(exc)) from None
    result = abtest.analyse(runs, seed=args.seed)
    result.update({"profile": spec.profile, "spec": runs[arms[0]][0]["spec"], "seed": args.seed, "arms": list(arms)})
    result["runs"] = {a: [{"round": s["round"], "valid": s["validity"]["valid"], "reasons": s["validity"]["reasons"],
                           "requests": s["aggregate"]["requests"], "failed": s["aggregate"]["failed"],
                           "throughput_rps": s["aggregate"]["throughput_rps"], "latency_ns": s["aggregate"]["latency_ns"],
                           "latency_corrected_ns": s["aggregate"]["latency_corrected_ns"],
                           "generator_cpu": s["generator"]["max_process_mean"]} for s in runs[a]] for a in arms}
    (out / "ab.json").write_text(json.dumps(result, indent=1, default=str))
    write_csv([row for a in arms for s in runs[a] for row in csv_rows(s)], out / "rounds.csv")
    recs = []
    for arm in arms:
        recs += records.records_for_rounds(spec.profile, arm, runs[arm], str(out / "ab.json"))
    save(recs, out)
    text = abtest.table(result)
    (out / "ab.txt").write_text(text + "\n")
    print()
    print(text)
    print(f"\nresults: {out / 'ab.json'} (per run: round*/summary.json, all rounds: rounds.csv, records: metrics.json)")
    return 0
