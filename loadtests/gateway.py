"""Gateway profile: bursts above the rate limit, each request with a tight time budget.

Each user idles, then fires a burst of concurrent requests at once, the traffic that rate limits
and gateway timeouts exist for. Every request names its client (``X-Client-Id``: the user) and
carries a budget (``X-Request-Budget-Ms``) drawn from ``--cb-budget-ms`` (default 5-60 ms, seeded
per user), so some requests cannot be served in time and the gateway's deadlines are exercised.
``429`` (rate limited) is a correct answer. ``504`` (the budget ran out) is an expected answer of a
gateway under budgets this tight, so Locust does not count it as a failed request (a run is not
invalidated by the deadlines it exists to exercise); it is counted below, as not reliable.

Besides the common recording, each request is classified for the gateway criteria, by this client
(build-neutral: the same instrument for every build), and written to ``gateway.json`` beside
``hdr.json``:

- *reliable*: a correct answer (200/201, or 429) received within its budget;
- *timeout error*: for a request answered 504, or answered at all after its budget, how far from
  its budget the answer came (``|latency - budget|``, ns; an HdrHistogram).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events, task
from locust.runners import MasterRunner, WorkerRunner

from harness.load import hdr
from loadtests.common import AFTER_TEST, REC, ClockbenchUser, options, session
from loadtests.gateway_stats import THINK_S, GatewayStats, parse_budget_range, stationary_phase_s
from loadtests.orders import order_body

BURST = 12
_user_ids = itertools.count(1)


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--cb-budget-ms", default="5-60", help="gateway profile: request budgets, MIN-MAX ms",
                        include_in_web_ui=False)  # fmt: skip


STATS = GatewayStats(REC.measuring)
MERGED: dict[str, Any] = {"total": 0, "reliable": 0, "statuses": {}, "hists": []}


def _merge(p: dict) -> None:
    MERGED["total"] += p["total"]
    MERGED["reliable"] += p["reliable"]
    for k, v in p["statuses"].items():
        MERGED["statuses"][k] = MERGED["statuses"].get(k, 0) + v
    MERGED["hists"].append(p["timeout_error"])


@events.test_start.add_listener
def _reset(**_: Any) -> None:
    STATS.reset()
    MERGED.update(total=0, reliable=0, statuses={}, hists=[])  # a session's process runs many tests


@events.report_to_master.add_listener
def _to_master(client_id: str, data: dict, **_: Any) -> None:
    data["cb_gateway"] = STATS.payload()
    STATS.reset()


@events.worker_report.add_listener
def _from_worker(client_id: str, data: dict, **_: Any) -> None:
    if "cb_gateway" in data:
        _merge(data["cb_gateway"])


@events.quitting.add_listener
def _write(environment: Any, **_: Any) -> None:
    runner = environment.runner
    path = getattr(options(environment), "cb_hdr_out", "")
    if isinstance(runner, WorkerRunner) or not path or session(environment):  # a session wrote it at the test's stop
        return
    write_gateway(environment, Path(path))


def write_gateway(environment: Any, hdr_path: Path) -> None:
    """gateway.json beside hdr.json: this process's (or the merged workers') classification."""
    if not isinstance(environment.runner, MasterRunner):
        _merge(STATS.payload())
        STATS.reset()
    err = hdr.merge(MERGED["hists"]) if MERGED["hists"] else hdr.new()
    out = {"total": MERGED["total"], "reliable": MERGED["reliable"], "statuses": MERGED["statuses"],
           "timeout_error": hdr.encode(err), "timeout_error_summary": hdr.summary(err) if err.get_total_count() else None,
           "budget_ms": getattr(options(environment), "cb_budget_ms", "")}  # fmt: skip
    hdr_path.with_name("gateway.json").write_text(json.dumps(out))


AFTER_TEST.append(write_gateway)


class GatewayUser(ClockbenchUser):
    think_s = THINK_S  # idle between bursts
    concurrency = BURST

    def setup(self) -> None:
        self.user_id = next(_user_ids)
        self.rng = random.Random(self.user_id)
        self.budget_ms = parse_budget_range(getattr(options(self.environment), "cb_budget_ms", "5-60") or "5-60")
        if self._rate <= 0:  # closed mode: begin where the steady state would be (stationary_phase_s)
            self._sleep_ns(int(stationary_phase_s(self.rng, *self._think) * 1e9))

    def _one(self) -> None:
        budget_ms = self.rng.randint(*self.budget_ms)
        headers = {"X-Client-Id": f"locust-{os.getpid()}-{self.user_id}", "X-Request-Budget-Ms": str(budget_ms)}
        started = time.monotonic_ns()
        if self.rng.random() < 0.5:
            status, _ = self.send("GET", "/api/v1/clock/server-time", name="GET /api/v1/clock/server-time (burst)",
                                  ok=(200, 429, 504), headers=headers)  # fmt: skip
        else:
            status, _ = self.send("POST", "/api/v1/orders", name="POST /api/v1/orders (burst)",
                                  json_body=order_body(self.rng.choice(self.instruments), self.rng), ok=(201, 429, 504),
                                  headers=headers)  # fmt: skip
        STATS.record(started, status, time.monotonic_ns() - started, budget_ms * 1_000_000)

    @task
    def burst(self) -> None:
        burst = [gevent.spawn(self._one) for _ in range(BURST)]
        try:
            gevent.joinall(burst)
        except gevent.GreenletExit:  # the user is being stopped: stop its burst too, accounted as cut off
            gevent.killall(burst, block=True)
            raise
