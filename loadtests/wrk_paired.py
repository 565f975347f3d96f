"""Interleaved wrk rounds against several running stacks, and each one's throughput as a paired ratio.

Why: on a shared 2-core machine the load drifts by more than the effects being measured, so one
run per stack says little. Each round runs wrk against every stack once, in a shuffled order, back
to back; the ratio of two stacks' requests/s within a round cancels the drift common to both, and
the rounds' ratios give a geometric mean with a 95% t interval on the log scale (harness/stats.py).

    python -m loadtests.wrk_paired --url before=http://127.0.0.1:8001 --url after=http://127.0.0.1:8002 \\
        --rounds 8 --duration 8 --connections 16 --out /tmp/wrk-paired

The first --url is the reference: every other stack is reported as <name>/<reference>. Only
requests answered 2xx count (wrk's non-2xx/3xx are subtracted), so a stack refusing orders does not
look fast. ``--stack NAME=DIR`` takes the URL and the worker processes from the tree's
``reports/stack/current.json`` (what ``clockbench stack up`` wrote there) and adds a second figure:
the workers' CPU time (utime + stime from /proc) per request answered, which a busy machine
disturbs far less than throughput (it is the service's own cost, not its share of the cores).

``--together``: each round runs wrk against every stack at the same time instead of one after the
other. On a machine whose load swings within seconds (other jobs), stacks measured 8 s apart see
different loads, and the per-round ratio carries that swing; measured together they share it. The
stacks then compete for the same cores: throughput says which one gets more done beside the other,
CPU per request stays each stack's own cost.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import stats
from harness.load import wrk


def _named_url(text: str) -> tuple[str, str]:
    name, sep, url = text.partition("=")
    if not sep or not name or not url:
        raise argparse.ArgumentTypeError(f"--url is NAME=URL, got {text!r}")
    return name, url


def _stack(text: str) -> tuple[str, str, list[int]]:
    name, sep, root = text.partition("=")
    if not sep or not name or not root:
        raise argparse.ArgumentTypeError(f"--stack is NAME=DIR, got {text!r}")
    cur = json.loads((Path(root) / "reports" / "stack" / "current.json").read_text())
    pids = [p["pid"] for p in cur["processes"] if p["role"].startswith("worker")]
    return name, cur["nginx_url"] or cur["url"], pids


def cpu_ticks(pids: list[int]) -> int:
    """utime + stime of the processes, in clock ticks (Linux /proc/PID/stat fields 14 and 15)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", type=_named_url, action="append", default=[], help="NAME=URL (the first is the reference)")
    ap.add_argument("--stack", type=_stack, action="append", default=[], help="NAME=DIR of a tree whose stack is up")
    ap.add_argument("--route", default="orders", choices=sorted(wrk.ROUTES))
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--duration", type=int, default=8, help="seconds of wrk per stack per round")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--together", action="store_true", help="run every stack's wrk at once in each round")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    if a.url and a.stack:
        ap.error("give --url or --stack, not both")
    targets = [(n, u, []) for n, u in a.url] + a.stack
    names = [n for n, _, _ in targets]
    if len(set(names)) != len(names) or len(names) < 2:
        ap.error("give at least two --url/--stack with distinct names")
    urls = {n: u for n, u, _ in targets}
    pids = {n: p for n, _, p in targets}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    rng = random.Random(a.seed)
    rps: dict[str, list[float]] = {n: [] for n in names}
    def one(r: int, n: str) -> tuple[dict, int]:
        """wrk against stack ``n`` in round ``r``: its result and the CPU ticks its workers used meanwhile."""
        t0 = cpu_ticks(pids[n])
        res = wrk.run(urls[n], a.route, a.out / f"r{r}-{n}", duration_s=a.duration, connections=a.connections,
                      threads=a.threads, run_id=f"{n}-r{r}-s{a.seed}")  # fmt: skip
        return res, cpu_ticks(pids[n]) - t0

    for r in range(a.rounds):
        order = names[:]
        rng.shuffle(order)
        if a.together:
            with ThreadPoolExecutor(len(order)) as pool:
                done = dict(zip(order, pool.map(lambda n: one(r, n), order)))
        else:
            done = {n: one(r, n) for n in order}
        for n in order:
            res, ticks = done[n]
            ok = res["requests"] - res["errors"]["status"]
            rps[n].append(ok / (res["duration_ns"] / 1e9))
            if pids[n]:
                cpu[n].append(ticks / os.sysconf("SC_CLK_TCK") * 1e6 / max(ok, 1))
            extra = f", {cpu[n][-1]:.0f} worker CPU us/request" if pids[n] else ""
            print(f"round {r} {n}: {rps[n][-1]:.1f} ok/s ({res['errors']['status']} non-2xx{extra})", flush=True)
    ref = names[0]
    summary = {"rounds": a.rounds, "duration_s": a.duration, "connections": a.connections, "together": a.together, "rps": rps,
               "cpu_us_per_request": cpu, "ratios": {}, "cpu_ratios": {}}
    for n in names[1:]:
        iv = stats.paired_log_ratio(rps[n], rps[ref], min_n=2)
        summary["ratios"][f"{n}/{ref}"] = {"estimate": iv.estimate, "low": iv.low, "high": iv.high, "n": iv.n}
        print(f"{n}/{ref} throughput: {iv.estimate:.3f} [{iv.low:.3f}, {iv.high:.3f}] (95% t, {iv.n} rounds)")
        if cpu[n] and cpu[ref]:
            iv = stats.paired_log_ratio(cpu[n], cpu[ref], min_n=2)
            summary["cpu_ratios"][f"{n}/{ref}"] = {"estimate": iv.estimate, "low": iv.low, "high": iv.high, "n": iv.n}
            print(f"{n}/{ref} worker CPU per request: {iv.estimate:.3f} [{iv.low:.3f}, {iv.high:.3f}] (95% t)")
    (a.out / "summary.json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
