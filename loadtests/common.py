"""What every clockbench Locust profile shares: its command-line options, HdrHistogram recording
per Locust process (shipped to the master in each stats report and merged there), the open
constant-arrival-rate pacer, and a base user whose requests are counted sent/answered/failed.

Latencies are integer nanoseconds. In the open mode (``--cb-rate``) every task has an intended
send time on a fixed schedule; a task that starts late (because every user was busy waiting on
the server) adds its lateness to each of its requests' latency: the "corrected" series. The
"uncorrected" series is the plain response time, as a closed-loop tool reports it.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
from gevent import GreenletExit
from locust import FastHttpUser, events
from locust.runners import MasterRunner, WorkerRunner

from harness.load import hdr

HDR_FORMAT = 1
SERIES = ("uncorrected", "corrected", "stream")
AGGREGATE = "Aggregated"


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    g = parser  # options on the parser itself (an argument group would not know include_in_web_ui)
    g.add_argument("--cb-hdr-out", default="", help="write merged HdrHistograms (JSON) here", include_in_web_ui=False)
    g.add_argument("--cb-rate", type=float, default=0.0, help="open mode: total arrivals per second (0: closed mode)")
    g.add_argument("--cb-processes", type=int, default=1, help="Locust processes running users (the rate is split)")
    g.add_argument("--cb-warmup", type=float, default=0.0, help="seconds after the start not measured")
    g.add_argument("--cb-think", default="", help="closed mode think time in ms, MIN-MAX (default: the profile's)")
    g.add_argument("--cb-users", type=int, default=10, help="shapes: peak users")
    g.add_argument("--cb-duration", type=float, default=60.0, help="shapes: total seconds")
    g.add_argument("--cb-spawn-rate", type=float, default=10.0, help="shapes: users started per second")
    g.add_argument("--cb-steps", type=int, default=5, help="steps shape: number of steps")
    g.add_argument("--cb-instruments", default="AAPL,MSFT,BUND", help="instruments the profiles trade")
    g.add_argument("--cb-route", default="server-time", help="ceiling profile: the one route it hits (server-time, orders)")
    g.add_argument("--cb-session", action="store_true", include_in_web_ui=False,
                   help="a long-lived lone process driven over its web API (harness/load/runner.Session): write "
                        "each test's results to its --cb-hdr-out when that test stops, not at quitting")
    g.add_argument("--cb-stop-after", type=float, default=0.0,
                   help="a session's test stops this many seconds after it starts (0: at Locust's run time, "
                        "which counts whole seconds only)")


def options(environment: Any) -> Any:
    return environment.parsed_options


# --- recording ----------------------------------------------------------------------------------


class Recorder:
    """One Locust process's measurements since its last report (workers) or since the start."""

    def __init__(self) -> None:
        self.reset_all()

    def reset_all(self) -> None:
        self.window_start_ns = 0  # monotonic; requests started earlier are warm-up, not measured
        self.window_end_ns = 0
        self.stopping_ns = 0  # when stopping began: the open schedule's last intended sends are before it
        self.users_max = 0
        self.reset_deltas()

    def reset_deltas(self) -> None:
        self.hists: dict[tuple[str, str], Any] = {}
        self.counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # sent, answered, failed, cut off
        self.sent_before_stopping = 0  # the rate achieved is these over the window up to the stopping
        self.streams: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # received, negative ages
        self.errors: Counter[str] = Counter()

    def measuring(self, started_ns: int) -> bool:
        return self.window_start_ns != 0 and started_ns >= self.window_start_ns and (
            self.window_end_ns == 0 or started_ns < self.window_end_ns
        )

    def hist(self, series: str, name: str) -> Any:
        key = (series, name)
        h = self.hists.get(key)
        if h is None:
            h = self.hists[key] = hdr.new()
        return h

    def before_stopping(self, started_ns: int) -> bool:
        return self.stopping_ns == 0 or started_ns < self.stopping_ns

    def sent(self, name: str, started_ns: int) -> None:
        if self.measuring(started_ns):
            self.counts[name][0] += 1
            self.counts[AGGREGATE][0] += 1
            self.sent_before_stopping += self.before_stopping(started_ns)

    def cut_off(self, name: str, started_ns: int) -> None:
        """A request the stop killed in flight (Locust kills a user whose stop raced its next task):
        not a request the server answered or failed, so it leaves the sent count."""
        if self.measuring(started_ns):
            for n in (name, AGGREGATE):
                self.counts[n][0] -= 1
                self.counts[n][3] += 1
            self.sent_before_stopping -= self.before_stopping(started_ns)

    def answered(self, name: str, started_ns: int, latency_ns: int, delay_ns: int) -> None:
        if not self.measuring(started_ns):
            return
        self.counts[name][1] += 1
        self.counts[AGGREGATE][1] += 1
        for n in (name, AGGREGATE):
            hdr.record(self.hist("uncorrected", n), latency_ns)
            hdr.record(self.hist("corrected", n), latency_ns + delay_ns)

    def failed(self, name: str, started_ns: int, reason: str) -> None:
        if not self.measuring(started_ns):
            return
        self.counts[name][2] += 1
        self.counts[AGGREGATE][2] += 1
        # digits out, so one kind of error is one line however many ids it names
        self.errors[f"{name}: " + re.sub(r"\d+", "#", reason)[:120]] += 1

    def stream_item(self, name: str, age_ns: int) -> None:
        if not self.measuring(time.monotonic_ns()):
            return
        self.streams[name][0] += 1
        if age_ns < 0:
            self.streams[name][1] += 1
        hdr.record(self.hist("stream", name), max(age_ns, 1))

    def window_ns(self) -> int:
        if self.window_start_ns == 0:
            return 0
        end = self.window_end_ns or time.monotonic_ns()
        return max(0, end - self.window_start_ns)

    def rate_window_ns(self) -> int:
        """The window up to when stopping began: the time the open schedule had to send in (stopping
        takes a while on a busy machine, and nothing is scheduled during it)."""
        if self.window_start_ns == 0:
            return 0
        end = self.stopping_ns or self.window_end_ns or time.monotonic_ns()
        return max(0, end - self.window_start_ns)

    def payload(self) -> dict:
        """This process's deltas as plain JSON-able data (histograms as HdrHistogram's text)."""
        return {
            "format": HDR_FORMAT,
            "pid": os.getpid(),
            "hists": {f"{s}\t{n}": hdr.encode(h) for (s, n), h in self.hists.items() if h.get_total_count()},
            "counts": {k: list(v) for k, v in self.counts.items()},
            "streams": {k: list(v) for k, v in self.streams.items()},
            "errors": dict(self.errors),
            "window_ns": self.window_ns(),
            "sent_in_window": self.counts[AGGREGATE][0] if AGGREGATE in self.counts else 0,
            "rate_window_ns": self.rate_window_ns(),
            "sent_before_stopping": self.sent_before_stopping,
            "users_max": self.users_max,
            # after the window closed (the users have stopped): nothing this process measures comes later
            "final": self.window_end_ns != 0,
        }


class Merged:
    """The master's (or a lone process's) sum of every payload received."""

    def __init__(self) -> None:
        self.hists: dict[str, Any] = {}
        self.counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self.streams: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self.errors: Counter[str] = Counter()
        self.processes: dict[str, dict[str, int]] = {}  # id -> {window_ns, sent, users_max}
        self.reports = 0
        self.finals: set[str] = set()  # workers whose report after their users stopped has arrived

    def add(self, source: str, p: dict) -> None:
        if p.get("format") != HDR_FORMAT:
            return
        self.reports += 1
        if p.get("final"):
            self.finals.add(source)
        for key, text in p["hists"].items():
            h = hdr.decode(text)
            if key in self.hists:
                self.hists[key].add(h)
            else:
                self.hists[key] = h
        for k, v in p["counts"].items():
            for i in range(4):
                self.counts[k][i] += v[i]
        for k, v in p["streams"].items():
            for i in range(2):
                self.streams[k][i] += v[i]
        self.errors.update(p["errors"])
        proc = self.processes.setdefault(source, {"window_ns": 0, "sent": 0, "users_max": 0, "pid": p["pid"],
                                                  "rate_window_ns": 0, "sent_before_stopping": 0})
        proc["window_ns"] = max(proc["window_ns"], p["window_ns"])
        proc["sent"] += p["sent_in_window"]
        proc["rate_window_ns"] = max(proc["rate_window_ns"], p.get("rate_window_ns", 0))
        proc["sent_before_stopping"] += p.get("sent_before_stopping", 0)
        proc["users_max"] = max(proc["users_max"], p["users_max"])

    def to_json(self) -> dict:
        return {
            "format": HDR_FORMAT,
            "reports": self.reports,
            "processes": self.processes,
            "hists": {k: hdr.encode(h) for k, h in self.hists.items()},
            "counts": {k: {"sent": v[0], "answered": v[1], "failed": v[2], "cut_off": v[3]} for k, v in self.counts.items()},
            "streams": {k: {"received": v[0], "negative_ages": v[1]} for k, v in self.streams.items()},
            "errors": dict(self.errors.most_common(50)),
        }


REC = Recorder()
MERGED = Merged()


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    REC.reset_all()
    PACER.reset()
    warmup = getattr(options(environment), "cb_warmup", 0.0) or 0.0
    REC.window_start_ns = time.monotonic_ns() + int(warmup * 1e9)
    _cancel_stopper()
    stop_after = getattr(options(environment), "cb_stop_after", 0.0) or 0.0
    if session(environment) and stop_after > 0 and environment.runner is not None:
        STOPPER[0] = gevent.spawn_later(stop_after, environment.runner.stop)


# A session's test ends by its stopper (--cb-stop-after, the test's duration): Locust's run time
# counts whole seconds, so a 3.5 s step ran 4 s. The session sends no run time, so no timer of
# Locust's races the stopper (two stops at once each fired test_stop, and the second wrote the test's
# results again, empty).
STOPPER: list[Any] = [None]


def _cancel_stopper() -> None:
    g = STOPPER[0]
    STOPPER[0] = None
    if g is not None and g is not gevent.getcurrent() and not g.ready():
        g.kill(block=False)


# A session's writers of per-profile files, called at each test's stop before hdr.json is written
# (hdr.json appearing tells the session the test's results are complete): f(environment, hdr_path).
AFTER_TEST: list[Callable[[Any, Path], None]] = []


def session(environment: Any) -> bool:
    return bool(getattr(options(environment), "cb_session", False))


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_: Any) -> None:
    """The window ends once the users have stopped (not when stopping begins: until each user is
    told to stop, it keeps sending, and Locust counts those requests too). A worker then reports at
    once, so its last measurements reach the master before the worker says it has stopped. A
    session's lone process writes this test's results now: it is not about to quit."""
    if session(environment) and REC.window_end_ns:
        return  # this test's stop again (two stops racing): its results are written, and their deltas reset
    if REC.window_start_ns and not REC.window_end_ns:
        REC.window_end_ns = max(time.monotonic_ns(), REC.window_start_ns)
    _cancel_stopper()
    runner = environment.runner
    send = getattr(runner, "_send_stats", None)  # Locust's own periodic report, sent now
    if isinstance(runner, WorkerRunner) and send is not None:
        send()
    path = getattr(options(environment), "cb_hdr_out", "")
    if session(environment) and path and not isinstance(runner, (MasterRunner, WorkerRunner)):
        for write in AFTER_TEST:
            write(environment, Path(path))
        merged = Merged()
        merged.add("local", REC.payload())
        REC.reset_deltas()
        out = merged.to_json()
        out["mode"] = "session"
        out["user_count_at_end"] = runner.user_count if runner is not None else 0
        # Locust's own count of this test's requests, the cross-check a headless run reads from --json-file
        entries = runner.stats.entries.values() if runner is not None else []
        out["locust"] = [{"num_requests": e.num_requests, "num_failures": e.num_failures} for e in entries]
        _write_json(out, path)


def _write_json(data: dict, path: str) -> None:
    """Whole or not at all (a reader polls for the file)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(path + ".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


FINAL_REPORT_WAIT_S = 30.0  # beyond the stop timeout: a busy machine's workers report late
STOP_USERS = "cb_stop_users"  # master -> workers: stop your users now (and so send your last report)


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.register_message(STOP_USERS, lambda environment, msg, **_: environment.runner.stop(), concurrent=True)


@events.test_stopping.add_listener
def _on_test_stopping(environment: Any, **_: Any) -> None:
    """A headless master ends a run by quitting, which gives its workers 0.5 s to send their last
    report: on a busy machine that report came later and was lost (requests counted as sent with no
    answer). So the master first has its workers stop their users and waits, bounded, for each one's
    report from after the stop; Locust's quit then finds them stopped."""
    if REC.window_start_ns and not REC.stopping_ns:
        REC.stopping_ns = max(time.monotonic_ns(), REC.window_start_ns)
    runner = environment.runner
    if not isinstance(runner, MasterRunner) or not getattr(options(environment), "headless", False):
        return
    clients = [c.id for c in runner.clients.all]
    for cid in clients:
        runner.send_message(STOP_USERS, None, client_id=cid)
    deadline = time.monotonic() + (environment.stop_timeout or 0.0) + FINAL_REPORT_WAIT_S
    while clients and not MERGED.finals.issuperset(clients) and time.monotonic() < deadline:
        gevent.sleep(0.05)


@events.request.add_listener
def _on_request(name: str, response_time: float, context: dict | None = None, exception: Any = None, **_: Any) -> None:
    ctx = context or {}
    if "cb_age_ns" in ctx:
        REC.stream_item(name, int(ctx["cb_age_ns"]))
        return
    started = ctx.get("cb_started_ns")
    if started is None:  # a request not made through ClockbenchUser.send: counted here whole
        started = time.monotonic_ns()
        REC.sent(name, started)
    if exception is None:
        REC.answered(name, started, int(round(response_time * 1e6)), int(ctx.get("cb_delay_ns", 0)))
    else:
        REC.failed(name, started, str(exception).splitlines()[0] if str(exception) else type(exception).__name__)


@events.report_to_master.add_listener
def _on_report_to_master(client_id: str, data: dict, **_: Any) -> None:
    data["cb_hdr"] = REC.payload()
    REC.reset_deltas()


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict, **_: Any) -> None:
    if "cb_hdr" in data:
        MERGED.add(client_id, data["cb_hdr"])


@events.spawning_complete.add_listener
def _on_spawned(user_count: int, **_: Any) -> None:
    REC.users_max = max(REC.users_max, int(user_count))


@events.quitting.add_listener
def _on_quitting(environment: Any, **_: Any) -> None:
    """Write the merged histograms where the runner asked (master or single process only)."""
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        return
    path = getattr(options(environment), "cb_hdr_out", "")
    if not path or session(environment):  # a session wrote each test's results at its stop
        return
    if not isinstance(runner, MasterRunner):  # a lone process: its own recorder is the whole run
        if runner is not None:
            REC.users_max = max(REC.users_max, runner.user_count)
        MERGED.add("local", REC.payload())
        REC.reset_deltas()
    out = MERGED.to_json()
    out["mode"] = "master" if isinstance(runner, MasterRunner) else "local"
    out["user_count_at_end"] = runner.user_count if runner is not None else 0
    _write_json(out, path)


# --- open-mode pacing --------------------------------------------------------------------------


class Pacer:
    """Intended send times t0 + k/rate for this process; users take the next one in turn."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.t0 = 0
        self.k = 0

    def claim(self, rate_per_s: float) -> int:
        now = time.monotonic_ns()
        if self.t0 == 0:
            self.t0 = now
        intended = self.t0 + int(self.k * 1e9 / rate_per_s)
        self.k += 1
        return intended


PACER = Pacer()


def parse_think(text: str) -> tuple[float, float] | None:
    """``"500-1500"`` (ms) -> (0.5, 1.5) seconds; ``"0"`` -> (0, 0); empty -> None (profile default)."""
    if not text:
        return None
    parts = text.split("-")
    try:
        lo, hi = (float(parts[0]), float(parts[-1]))
    except ValueError:
        raise ValueError(f"--cb-think {text!r}: expected MIN-MAX milliseconds, e.g. 500-1500") from None
    if len(parts) > 2 or lo < 0 or hi < lo:
        raise ValueError(f"--cb-think {text!r}: expected MIN-MAX milliseconds with 0 <= MIN <= MAX")
    return lo / 1000.0, hi / 1000.0


class ClockbenchUser(FastHttpUser):
    """Base user: closed mode (think time between tasks) or open mode (paced to a schedule)."""

    abstract = True
    think_s: tuple[float, float] = (0.5, 1.5)  # the profile's default think time
    open_mode_ok = True
    # FastHttpUser keeps one connection by default; a burst needs more.
    concurrency = 4
    network_timeout = 30.0
    connection_timeout = 10.0

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        opts = options(environment)
        self._rate = float(getattr(opts, "cb_rate", 0.0) or 0.0)
        self._procs = max(1, int(getattr(opts, "cb_processes", 1) or 1))
        think = parse_think(getattr(opts, "cb_think", "") or "")
        self._think = think if think is not None else self.think_s
        self._delay_ns = 0
        insts = getattr(opts, "cb_instruments", "") or "AAPL"
        self.instruments = [i.strip() for i in insts.split(",") if i.strip()]

    def setup(self) -> None:
        """Per-user preparation before the first task (override)."""

    def on_start(self) -> None:
        self.setup()
        if self._rate > 0:
            self._pace()

    def _pace(self) -> None:
        intended = PACER.claim(self._rate / self._procs)
        now = time.monotonic_ns()
        if intended > now:
            self._sleep_ns(intended - now)
            now = time.monotonic_ns()
        self._delay_ns = max(0, now - intended)

    @staticmethod
    def _sleep_ns(ns: int) -> None:
        import gevent

        gevent.sleep(ns / 1e9)

    def wait_time(self) -> float:
        if self._rate > 0:
            self._pace()
            return 0.0
        lo, hi = self._think
        return random.uniform(lo, hi) if hi > 0 else 0.0

    def send(
        self, method: str, path: str, *, name: str, json_body: Any = None, ok: tuple[int, ...] = (200,),
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One request, counted as sent before it goes and as answered or failed when it returns.
        ``ok`` lists the statuses that are a correct answer. Returns (status, parsed JSON or None)."""
        started = time.monotonic_ns()
        REC.sent(name, started)
        ctx = {"cb_started_ns": started, "cb_delay_ns": self._delay_ns}
        try:
            return self._send(method, path, name, json_body, ok, started, ctx, headers)
        except GreenletExit:
            REC.cut_off(name, started)
            raise

    def _send(self, method: str, path: str, name: str, json_body: Any, ok: tuple[int, ...], started: int, ctx: dict,
              headers: dict[str, str] | None = None) -> tuple[int, Any]:  # fmt: skip
        body = None
        kw: dict[str, Any] = {"headers": dict(headers)} if headers else {}
        if json_body is not None:
            # bytes, so the client sends head and body in one write: a str body goes out in a second
            # small write that Nagle's algorithm holds until the server's delayed ACK (up to 40 ms)
            kw["data"] = json.dumps(json_body).encode()
            kw["headers"] = {**kw.get("headers", {}), "Content-Type": "application/json", "Accept": "application/json"}
        with self.client.request(method, path, name=name, catch_response=True, context=ctx, **kw) as resp:
            status = resp.status_code or 0
            if status in ok:
                try:
                    body = resp.json() if resp.content else None
                except ValueError:
                    body = None
                resp.success()
            elif resp.error is not None and not status:
                resp.failure(f"{type(resp.error).__name__}: {resp.error}")
            else:
                detail = ""
                try:
                    detail = (resp.text or "")[:160]
                except (UnicodeDecodeError, AttributeError):
                    pass
                resp.failure(f"HTTP {status} {detail}".strip())
        return status, body

    def stream_event(self, name: str, age_ns: int, size: int = 0) -> None:
        """A pushed message's age on arrival, through Locust's request event (so it shows in its stats)."""
        self.environment.events.request.fire(
            request_type="WS", name=name, response_time=max(age_ns, 0) / 1e6, response_length=size,
            response=None, context={"cb_age_ns": age_ns}, exception=None, start_time=time.time(),
        )
