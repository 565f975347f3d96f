"""Interleaved wrk rounds against several running stacks, and each one's throughput as a paired ratio.

Why: on a shared 2-core machine the load drifts by more than the effects being measured, so one
run per stack says little. Each round runs wrk against every stack once, in a shuffled order, back
to back; the ratio of two stacks' requests/s within a round cancels the drift common to both, and
the rounds' ratios give a geometric mean with a 95% t interval on the log scale (harness/stats.py).

    python -m loadtests.wrk_paired --url before=http://127.0.0.1:8001 --url after=http://127.0.0.1:8002 \\
        --rounds 8 --duration 8 --connections 16 --out /tmp/wrk-paired

The first --url is the reference: every other stack is reported as <name>/<reference>. Only
requests answered 2xx count (wrk's non-2xx/3xx are subtracted), so a stack refusing orders does not
look fast.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from harness import stats
from harness.load import wrk


def _named_url(text: str) -> tuple[str, str]:
    name, sep, url = text.partition("=")
    if not sep or not name or not url:
        raise argparse.ArgumentTypeError(f"--url is NAME=URL, got {text!r}")
    return name, url


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", type=_named_url, action="append", required=True, help="NAME=URL (the first is the reference)")
    ap.add_argument("--route", default="orders", choices=sorted(wrk.ROUTES))
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--duration", type=int, default=8, help="seconds of wrk per stack per round")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    names = [n for n, _ in a.url]
    if len(set(names)) != len(names) or len(names) < 2:
        ap.error("give at least two --url with distinct names")
    urls = dict(a.url)
    rng = random.Random(a.seed)
    rps: dict[str, list[float]] = {n: [] for n in names}
    for r in range(a.rounds):
        order = names[:]
        rng.shuffle(order)
        for n in order:
            res = wrk.run(urls[n], a.route, a.out / f"r{r}-{n}", duration_s=a.duration, connections=a.connections,
                          threads=a.threads, run_id=f"{n}-r{r}-s{a.seed}")  # fmt: skip
            ok = res["requests"] - res["errors"]["status"]
            rps[n].append(ok / (res["duration_ns"] / 1e9))
            print(f"round {r} {n}: {rps[n][-1]:.1f} ok/s ({res['errors']['status']} non-2xx)", flush=True)
    ref = names[0]
    summary = {"rounds": a.rounds, "duration_s": a.duration, "connections": a.connections, "rps": rps, "ratios": {}}
    for n in names[1:]:
        iv = stats.paired_log_ratio(rps[n], rps[ref], min_n=2)
        summary["ratios"][f"{n}/{ref}"] = {"estimate": iv.estimate, "low": iv.low, "high": iv.high, "n": iv.n}
        print(f"{n}/{ref} throughput: {iv.estimate:.3f} [{iv.low:.3f}, {iv.high:.3f}] (95% t, {iv.n} rounds)")
    (a.out / "summary.json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
