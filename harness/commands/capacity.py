"""``clockbench capacity``: the most concurrent users each build sustains under an SLO.

Per build: bracket (double the users from --start-users until a step breaks the SLO; a later trial
brackets around the build's previous trial's capacity instead, and the first trial of the second
build around the capacity the first build's search just found, unless --cold-trials), then bisect
to --resolution; each step runs --duration seconds of which --warmup settle and are not judged.
The whole search repeats --trials times, builds alternating first, and the result is the median
with its spread (min..max). A step whose load generator saturated ends that search as INVALID:
the capacity is then a lower bound set by the generator, not by the stack.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
from dataclasses import replace

from harness.builds import BUILDS
from harness.errors import UsageError
from harness.commands.load import add_load_args, spec_from
from harness.load import capacity, records, slo
from harness.load.signals import interruptible
from harness.load.runner import (LoadError, LoadSpec, Session, headline, run, spawn_rate_for, start_sessions,
                                 terminate_sessions)
from harness.load.target import Target, target
from harness.measure import StartFailed, enter_all
from harness.results import save
from harness.rundir import new_run_dir

DEFAULT_SLO = "p99<50ms,errors<1%"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "capacity", help="largest concurrent users per build under an SLO (bracket, bisect, repeated trials)",
        description=__doc__,
    )
    add_load_args(p, duration=20.0)
    p.add_argument("--slo", default=DEFAULT_SLO, help=f'e.g. "{DEFAULT_SLO.replace("%", "%%")}" (p50/p90/p99/p999/max/mean, errors, rps)')
    p.add_argument("--builds", default="baseline,clocked", help="builds to search, comma separated (default baseline,clocked)")
    p.add_argument("--start-users", type=int, default=10, help="first step (default 10)")
    p.add_argument("--max-users", type=int, default=5000, help="stop bracketing here (default 5000)")
    p.add_argument("--resolution", type=float, default=0.05, help="bisect until within this share (default 0.05)")
    p.add_argument("--trials", type=int, default=3, help="repeat the whole search (default 3)")
    p.add_argument("--target", help="URL of a running stack (then --builds names it, one build only)")
    p.add_argument("--cold-trials", action="store_true",
                   help="start every trial's search from --start-users (default: a build's later trials bracket "
                        "around its previous trial's capacity, and the second build's first trial around the first "
                        "build's: a measured pass next to a measured failure all the same)")
    p.set_defaults(func=cmd)


def make_step(spec: LoadSpec, t: Target, terms: tuple[slo.Term, ...], out, tag: str, log=print,
              session: Session | None = None):
    """The step function for capacity.search: one load run at ``users``, judged against the SLO
    (in ``session``'s Locust process when given, else a fresh one per step)."""

    def step(users: int) -> capacity.Step:
        warm = spec.warmup_s
        # Failed requests are judged by the SLO's errors term here (past capacity they are expected), so
        # the load runner's own error-rate rule is off; a dead target still makes the step INVALID.
        s_spec = replace(spec, users=users, spawn_rate=spawn_rate_for(users, warm), max_error_rate=1.0)
        label = {"label": tag, "build": t.build, "users": users}
        if session is not None:
            s = session.run(s_spec, out / f"{tag}-u{users:05d}", label=label, watch=t.dead)
        else:
            s = run(s_spec, t.url, out / f"{tag}-u{users:05d}", label=label, progress=lambda line: None, watch=t.dead)
        valid = s["validity"]["valid"]
        if s["aggregate"]["answered"] == 0:
            ok, lines = False, ["no request was answered"]
        else:
            ok, lines = slo.evaluate(terms, s)
        verdict = "INVALID" if not valid else ("pass" if ok else "FAIL")
        log(f"  {tag}: {users:>6} users -> {verdict}: {', '.join(lines)} | {headline(s)}")
        return capacity.Step(users, ok, valid, "; ".join(s["validity"]["reasons"]) if not valid else ", ".join(lines),
                             {"summary": str(out / f'{tag}-u{users:05d}' / 'summary.json')})

    return step


@interruptible
def cmd(args: argparse.Namespace) -> int:
    try:
        terms = slo.parse(args.slo)
    except slo.SLOError as exc:
        raise UsageError(str(exc)) from None
    builds = [b.strip() for b in args.builds.split(",") if b.strip()]
    bad = [b for b in builds if b not in BUILDS]
    if bad or not builds:
        raise UsageError(f"--builds {args.builds!r}: each must be clocked or baseline")
    if args.target and len(builds) != 1:
        raise UsageError("--target is one running stack: give exactly one build in --builds")
    if args.trials < 1:
        raise UsageError("--trials must be at least 1")
    if not 1 <= args.start_users <= args.max_users:
        raise UsageError(f"need 1 <= --start-users ({args.start_users}) <= --max-users ({args.max_users})")
    if args.rate:
        raise UsageError("capacity searches concurrent users (closed mode): --rate does not apply")
    spec = spec_from(args, users=args.start_users)
    out = args.out or new_run_dir("capacity")
    searches: dict[str, list[capacity.Search]] = {b: [] for b in builds}
    try:
        with contextlib.ExitStack() as es:
            # The builds' stacks start at once (one after the other, most of it was waiting on each one),
            # each in a folder of its own (a folder per second's timestamp would be the same for both).
            def local(b: str) -> dict:
                return {} if args.target else {"health_timeout_s": 30.0 * len(builds), "write_pointer": False,
                                               "run_dir": out / f"stack-{b}"}

            # one Locust process per build for all its steps (harness/load/runner.Session: a fresh
            # process per step cost ~1.5 s of start and stop, and on a busy machine ate into the step)
            sessions = {} if spec.shape or spec.distributed else start_sessions(
                es, {b: Session(spec, None, out / f"locust-{b}") for b in builds})
            try:
                targets = enter_all(es, {b: functools.partial(target, args.target, build=b, workers=args.stack_workers,
                                                              nginx=args.nginx, **local(b)) for b in builds})
            except StartFailed as exc:
                raise exc.error from None
            es.callback(terminate_sessions, sessions)  # at the end, first: Locust quits while the stacks stop
            for b, sess in sessions.items():
                sess.url = targets[b].url
                sess.wait()
            print(f"capacity: {spec.profile} under {args.slo}, {spec.duration_s:g}s steps (warm-up {spec.warmup_s:g}s), "
                  f"{args.trials} trial(s), builds {', '.join(builds)} -> {out}", flush=True)
            for trial in range(args.trials):
                just_before = None  # this trial's search of the other build
                for b in (builds if trial % 2 == 0 else list(reversed(builds))):
                    print(f"trial {trial + 1}/{args.trials}, {b}:", flush=True)
                    step = make_step(spec, targets[b], terms, out, f"{b}-t{trial}", lambda m: print(m, flush=True),
                                     session=sessions.get(b))
                    guess = None if args.cold_trials else capacity.trial_guess(searches[b], just_before)
                    res = capacity.search(step, start=args.start_users, max_users=args.max_users,
                                          resolution=args.resolution, guess=guess)
                    searches[b].append(res)
                    just_before = res
                    tail = "" if res.valid else f" (INVALID: {res.reason})"
                    print(f"trial {trial + 1} {b}: capacity {res.capacity} users (first failure at {res.first_fail}){tail}", flush=True)
    except LoadError as exc:
        raise UsageError(str(exc)) from None
    result: dict = {"profile": spec.profile, "slo": args.slo, "spec": spec.__dict__ | {"users": None}, "builds": {}}
    recs = []
    paired = set(builds) == set(BUILDS) and len(builds) == len(BUILDS)  # both builds in every trial, interleaved
    for b, ss in searches.items():
        it = iter(ss)
        cap = capacity.repeated(lambda _i: next(it), len(ss)).to_dict()
        result["builds"][b] = cap
        recs.append(records.capacity_record(spec.profile, b, cap, args.slo, str(out / "capacity.json"), paired))
    (out / "capacity.json").write_text(json.dumps(result, indent=1, default=str))
    with (out / "capacity.csv").open("w") as f:
        f.write("build,trial,users,passed,valid,reason\n")
        for b, ss in searches.items():
            for i, s in enumerate(ss):
                for st in s.steps:
                    f.write(f"{b},{i},{st.users},{st.passed},{st.valid},\"{st.reason.replace(chr(34), chr(39))}\"\n")
    save(recs, out)
    print()
    for b, cap in result["builds"].items():
        v = "" if cap["valid"] else f"  INVALID: {cap['reason']}"
        print(f"{b:<9} capacity {cap['median']:g} users (min {cap['min']}, max {cap['max']}, trials {cap['capacities']}){v}")
    print(f"results: {out / 'capacity.json'} (steps: capacity.csv, each step's run: */summary.json, records: metrics.json)")
    return 0
