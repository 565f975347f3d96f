"""Run one Locust load test headless, as subprocesses, and turn its output into a run summary.

The Locust master (or lone process) writes its stats (``--json-file``, ``--csv``) and, through
loadtests/common.py, the merged HdrHistograms (``hdr.json``). This module starts it (plus N
local workers in distributed mode), samples the Locust processes' CPU with psutil, prints a
progress line every few seconds from Locust's stats history, and builds the summary: counts,
throughput, integer-ns percentiles (uncorrected and, in the open mode, corrected), validity.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from harness.load import hdr
from harness.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
LOADTESTS = ROOT / "loadtests"
PROFILES = ("orders", "market_ws", "gateway", "mixed", "ceiling")
SHAPES = ("steps", "spike", "soak")
CPU_LIMIT = 90.0  # percent of one core, per Locust process (each is single-threaded)
RATE_TOLERANCE = 0.05  # an open run achieving less than 95% of its target rate is invalid
MAX_ERROR_RATE = 0.01  # a run in which more than 1% of requests failed measured failures, not the build

Progress = Callable[[str], None]
Watch = Callable[[], list[str]]  # what of the target has died so far (e.g. ["worker-1"]); [] while all is well


class LoadError(RuntimeError):
    """A load run that could not be made (bad spec, Locust failed to start); the message says why."""


@dataclass
class LoadSpec:
    profile: str = "orders"
    users: int = 10
    spawn_rate: float = 10.0
    duration_s: float = 10.0
    warmup_s: float = 0.0
    shape: str | None = None
    rate: float = 0.0  # open mode: arrivals per second over all processes (0: closed mode)
    workers: int = 0  # 0: one Locust process; N: a master and N local workers
    expect_workers: int = 0  # remote workers (other machines) the master waits for, counted in the rate split
    master_bind_host: str = "127.0.0.1"  # where the master listens for workers (0.0.0.0 for remote ones)
    master_port: int = 0  # the master's port for workers (0: a free one; give it when remote workers join)
    worker_wait_s: float = 30.0  # how long the master waits for every worker before giving up
    think: str = ""  # closed mode think time "MIN-MAX" ms ("" = the profile's own)
    stop_timeout_s: float = 10.0
    instruments: str = ""
    cpu_limit: float = CPU_LIMIT
    rate_tolerance: float = RATE_TOLERANCE
    max_error_rate: float = MAX_ERROR_RATE  # 1.0 turns the rule off (the capacity search judges errors by its SLO)
    extra_args: list[str] = field(default_factory=list)

    def check(self) -> None:
        if self.profile not in PROFILES:
            raise LoadError(f"unknown profile {self.profile!r}; choose one of {', '.join(PROFILES)}")
        if self.shape is not None and self.shape not in SHAPES:
            raise LoadError(f"unknown shape {self.shape!r}; choose one of {', '.join(SHAPES)}")
        if self.users < 1:
            raise LoadError(f"--users must be at least 1 (got {self.users})")
        if self.spawn_rate <= 0:
            raise LoadError(f"--spawn-rate must be positive (got {self.spawn_rate})")
        if not self.duration_s > 0:
            raise LoadError(f"--duration must be positive (got {self.duration_s})")
        if self.warmup_s < 0 or self.warmup_s >= self.duration_s:
            raise LoadError(f"--warmup ({self.warmup_s}s) must be at least 0 and shorter than --duration ({self.duration_s}s)")
        if self.rate < 0:
            raise LoadError(f"--rate must be positive (got {self.rate})")
        if self.rate and self.profile in ("market_ws", "mixed"):
            raise LoadError(f"--rate (open mode) paces requests; the {self.profile} profile receives a stream: use users")
        if self.rate and self.shape:
            raise LoadError("--rate and --shape do not mix: the open mode holds one rate for the whole run")
        if self.workers < 0:
            raise LoadError(f"--workers must be 0 or more (got {self.workers})")
        if self.expect_workers < 0:
            raise LoadError(f"--expect-workers must be 0 or more (got {self.expect_workers})")
        if not 0 <= self.master_port <= 65535:
            raise LoadError(f"--master-port must be a port number, 0..65535 (got {self.master_port})")
        if not self.master_bind_host.strip():
            raise LoadError("--master-bind-host is empty; give an address such as 127.0.0.1 or 0.0.0.0")
        if not self.worker_wait_s > 0:
            raise LoadError(f"--worker-wait must be positive (got {self.worker_wait_s})")
        if not 0 <= self.max_error_rate <= 1:
            raise LoadError(f"--max-error-rate must be a fraction between 0 and 1, e.g. 0.01 (got {self.max_error_rate})")

    @property
    def mode(self) -> str:
        return "open" if self.rate > 0 else "closed"

    @property
    def distributed(self) -> bool:
        return self.workers + self.expect_workers > 0

    @property
    def processes(self) -> int:
        """Locust processes running users: the rate is split evenly among them."""
        return max(1, self.workers + self.expect_workers)


def spawn_rate_for(users: int, warmup_s: float) -> float:
    """Users per second that start all ``users`` within 80% of the warm-up, so the measured window
    begins at full load (at least 1/s; a warm-up under 0.3 s is taken as 0.3 s)."""
    return max(1.0, users / (max(warmup_s, 0.3) * 0.8))


def _common_args(spec: LoadSpec) -> list[str]:
    files = [str(LOADTESTS / f"{spec.profile}.py")]
    if spec.shape:
        files.append(str(LOADTESTS / "shapes" / f"{spec.shape}.py"))
    args = ["-f", ",".join(files), "--cb-warmup", str(spec.warmup_s),
            "--cb-processes", str(spec.processes)]
    if spec.rate:
        args += ["--cb-rate", str(spec.rate)]
    if spec.think:
        args += ["--cb-think", spec.think]
    if spec.instruments:
        args += ["--cb-instruments", spec.instruments]
    if spec.shape:
        args += ["--cb-users", str(spec.users), "--cb-duration", str(spec.duration_s),
                 "--cb-spawn-rate", str(spec.spawn_rate)]
    return args + list(spec.extra_args)


def locust_commands(spec: LoadSpec, url: str, out: Path, master_port: int | None = None) -> tuple[list[str], list[list[str]]]:
    """(master or lone command, worker commands) for a spec: pure, for tests and the README."""
    exe = [sys.executable, "-m", "locust"]
    common = _common_args(spec)
    main = exe + common + [
        "--headless", "--host", url, "--only-summary", "--loglevel", "WARNING",
        "--json-file", str(out / "locust"), "--csv", str(out / "locust"), "--csv-full-history",
        "--stop-timeout", f"{int(math.ceil(spec.stop_timeout_s))}s", "--cb-hdr-out", str(out / "hdr.json"),
    ]
    if not spec.shape:
        main += ["-u", str(spec.users), "-r", str(spec.spawn_rate), "-t", f"{int(math.ceil(spec.duration_s))}s"]
    workers: list[list[str]] = []
    if spec.distributed:
        port = master_port or spec.master_port or free_port()
        main += ["--master", "--master-bind-host", spec.master_bind_host, "--master-bind-port", str(port),
                 "--expect-workers", str(spec.processes),
                 "--expect-workers-max-wait", str(int(math.ceil(spec.worker_wait_s)))]
        workers = [exe + worker_args(spec, "127.0.0.1", port) for _ in range(spec.workers)]
    return main, workers


def worker_args(spec: LoadSpec, master_host: str, master_port: int) -> list[str]:
    """A worker's Locust arguments (after ``python -m locust``): the same locustfile and clockbench
    options as the master, so the rate split and warm-up agree."""
    return _common_args(spec) + ["--worker", "--master-host", master_host, "--master-port", str(master_port),
                                 "--loglevel", "WARNING"]


def remote_worker_command(spec: LoadSpec, master_host: str, master_port: int) -> str:
    """The shell command another machine runs (from a checkout of this repository) to join as a worker."""
    import shlex

    args = worker_args(spec, master_host, master_port)
    # locustfile paths relative to the checkout, so the command works wherever the repository is
    rel = []
    for a in args:
        rel.append(",".join(os.path.relpath(f, ROOT) if os.path.isabs(f) else f for f in a.split(","))
                   if a.endswith(".py") else a)
    return "PYTHONPATH=. python -m locust " + " ".join(shlex.quote(a) for a in rel)


class CpuSampler:
    """psutil CPU% of each Locust process (and of the whole machine), once a second, in a thread."""

    def __init__(self, pids: dict[str, int], interval_s: float = 1.0) -> None:
        self.procs = {}
        for role, pid in pids.items():
            try:
                self.procs[role] = psutil.Process(pid)
            except psutil.NoSuchProcess:
                pass
        self.samples: dict[str, list[tuple[float, float]]] = {r: [] for r in self.procs}
        self.machine: list[tuple[float, float]] = []
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.t0 = time.monotonic()

    def start(self) -> "CpuSampler":
        for p in self.procs.values():
            try:
                p.cpu_percent(None)
            except psutil.Error:
                pass
        psutil.cpu_percent(None)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            t = time.monotonic() - self.t0
            for role, p in self.procs.items():
                try:
                    self.samples[role].append((t, p.cpu_percent(None)))
                except psutil.Error:
                    pass
            self.machine.append((t, psutil.cpu_percent(None)))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def last(self) -> float:
        return max((s[-1][1] for s in self.samples.values() if s), default=0.0)

    def report(self, from_s: float, to_s: float) -> dict:
        """Mean and max CPU% per process over [from_s, to_s) of the sampler's time (the measured window)."""
        per: dict[str, dict[str, float]] = {}
        for role, s in self.samples.items():
            xs = [v for t, v in s if from_s <= t < to_s] or [v for _, v in s]
            if xs:
                per[role] = {"mean": round(sum(xs) / len(xs), 1), "max": round(max(xs), 1), "samples": len(xs)}
        ms = [v for t, v in self.machine if from_s <= t < to_s] or [v for _, v in self.machine]
        cores = psutil.cpu_count() or 1
        total = round(sum(p["mean"] for p in per.values()), 1)
        return {
            "processes": per,  # % of one core per Locust process (each is single-threaded: 100 is its ceiling)
            "max_process_mean": max((p["mean"] for p in per.values()), default=0.0),
            "locust_total_mean": total,  # % of one core, all local Locust processes together
            "locust_share_of_machine": round(total / cores, 1),  # % of the whole machine (all cores)
            "machine_mean": round(sum(ms) / len(ms), 1) if ms else 0.0,  # % of the whole machine, everything on it
            "cores": cores,
        }


def _tail_history(path: Path) -> dict | None:
    """The last Aggregated row of Locust's stats history CSV (None before the first flush)."""
    try:
        with path.open() as f:
            rows = [r for r in csv.DictReader(f) if r.get("Name") == "Aggregated"]
    except (OSError, csv.Error):
        return None
    return rows[-1] if rows else None


def _fmt_ms(v: Any) -> str:
    try:
        return f"{float(v):.1f}ms"
    except (TypeError, ValueError):
        return "-"


def note_dead(watch: Watch | None, died: dict[str, float], elapsed_s: float, next_s: float) -> float:
    """Both run loops' once-a-second look at the target: when ``elapsed_s`` has reached ``next_s``,
    note in ``died`` (part -> seconds into the run, the first sighting kept) what ``watch`` names
    as dead; returns when to look next (a second later; unchanged when it was not yet time)."""
    if watch is None or elapsed_s < next_s:
        return next_s
    for part in watch():
        died.setdefault(part, elapsed_s)
    return next_s + 1.0


def run(
    spec: LoadSpec,
    url: str,
    out: Path,
    *,
    label: dict | None = None,
    progress: Progress = print,
    every_s: float = 5.0,
    watch: Watch | None = None,
) -> dict:
    """Run the spec against ``url``; write locust.*, hdr.json and summary.json/.csv into ``out``.

    ``watch`` (polled about once a second) names the parts of the target that died during the run
    (a stack started for it knows its processes); after the run the target's ``/health`` must
    still answer. Either failing makes the run INVALID: its figures measured a broken target.
    """
    spec.check()
    out.mkdir(parents=True, exist_ok=True)
    main_cmd, worker_cmds = locust_commands(spec, url, out)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("LOCUST_LOCUSTFILE", None)
    join = None
    if spec.expect_workers:
        port = int(main_cmd[main_cmd.index("--master-bind-port") + 1])
        host = spec.master_bind_host if spec.master_bind_host not in ("0.0.0.0", "::", "*") else socket.gethostname()
        join = remote_worker_command(spec, host, port)
        progress(f"  waiting up to {spec.worker_wait_s:g}s for {spec.expect_workers} remote worker(s); on each "
                 f"other machine, from a checkout of this repository, run:\n    {join}")
    (out / "commands.json").write_text(json.dumps({"master": main_cmd, "workers": worker_cmds, "remote_worker": join}, indent=1))
    log = (out / "locust.log").open("wb")
    started_ns = time.time_ns()
    died: dict[str, float] = {}  # part of the target -> seconds into the run when it was seen dead
    procs: dict[str, subprocess.Popen] = {}
    try:
        procs["master" if worker_cmds else "locust"] = subprocess.Popen(
            main_cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        for i, cmd in enumerate(worker_cmds):
            procs[f"worker{i}"] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        sampler = CpuSampler({r: p.pid for r, p in procs.items()}).start()
        main = next(iter(procs.values()))
        limit = spec.duration_s + spec.stop_timeout_s + 90 + (spec.worker_wait_s if spec.distributed else 0)
        t0 = time.monotonic()
        next_line = every_s
        next_watch = 1.0
        while main.poll() is None:
            time.sleep(0.25)
            el = time.monotonic() - t0
            next_watch = note_dead(watch, died, el, next_watch)
            if el > limit:
                raise LoadError(f"Locust did not finish within {limit:.0f}s; see {out / 'locust.log'}")
            if el >= next_line:
                next_line += every_s
                row = _tail_history(out / "locust_stats_history.csv")
                if row:
                    progress(
                        f"  t={el:4.0f}s users={row.get('User Count', '?'):>5} rps={float(row.get('Requests/s') or 0):8.1f} "
                        f"fail/s={float(row.get('Failures/s') or 0):6.1f} p50={_fmt_ms(row.get('50%'))} "
                        f"p99={_fmt_ms(row.get('99%'))} locust-cpu={sampler.last():.0f}%"
                    )
                else:
                    progress(f"  t={el:4.0f}s starting (locust-cpu={sampler.last():.0f}%)")
        for p in procs.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        sampler.stop()
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        log.close()
    ended_ns = time.time_ns()
    hdr_path = out / "hdr.json"
    if not hdr_path.exists():
        tail = (out / "locust.log").read_text(errors="replace").splitlines()[-15:]
        raise LoadError("Locust wrote no results (exit code %s); its log ends:\n%s" % (main.returncode, "\n".join(tail)))
    hdr_data = json.loads(hdr_path.read_text())
    locust_stats = json.loads((out / "locust.json").read_text()) if (out / "locust.json").exists() else []
    cpu = sampler.report(spec.warmup_s + 1.0, spec.duration_s + 2.0)
    for part in watch() if watch is not None else []:
        died.setdefault(part, (ended_ns - started_ns) / 1e9)
    target_problems = [f"{part} died about {at:.0f}s into the run" for part, at in sorted(died.items(), key=lambda kv: kv[1])]
    down = health_problem(url)
    if down:
        target_problems.append(down)
    summary = summarize(spec, hdr_data, locust_stats, cpu, url=url, label=label or {},
                        started_ns=started_ns, ended_ns=ended_ns, exit_code=main.returncode,
                        target_problems=target_problems)
    write_summary(summary, out)
    return summary


def health_problem(url: str, timeout_s: float = 5.0) -> str | None:
    """Why the target does not answer ``/health`` after a run (None when it answers, whatever the status:
    a stack that is up but not ready still answered)."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=timeout_s):
            return None
    except urllib.error.HTTPError:
        return None
    except OSError as exc:
        return f"the target no longer answered at the end of the run ({url}/health: {exc})"


def _latency(hists: dict[str, Any], series: str, name: str) -> dict | None:
    text = hists.get(f"{series}\t{name}")
    return hdr.summary(hdr.decode(text)) if text else None


def summarize(
    spec: LoadSpec, hdr_data: dict, locust_stats: list[dict], cpu: dict, *, url: str, label: dict,
    started_ns: int, ended_ns: int, exit_code: int | None, target_problems: list[str] | None = None,
) -> dict:
    """The run summary (plain JSON): counts, throughput, percentiles in ns, validity with reasons."""
    hists = hdr_data.get("hists", {})
    procs = hdr_data.get("processes", {})
    window_s = max((p["window_ns"] for p in procs.values()), default=0) / 1e9
    counts = hdr_data.get("counts", {})
    names = sorted(k for k in counts if k != "Aggregated")

    def entry(name: str) -> dict:
        c = counts.get(name, {"sent": 0, "answered": 0, "failed": 0})
        done = c["answered"] + c["failed"]
        e = {
            "requests": c["sent"], "answered": c["answered"], "failed": c["failed"],
            "unaccounted": c["sent"] - done,  # sent but neither answered nor failed: must be 0
            "cut_off_at_stop": c.get("cut_off", 0),  # killed in flight by the stop, not counted as sent
            "error_rate": (c["failed"] / done) if done else 0.0,
            "throughput_rps": (c["answered"] / window_s) if window_s else 0.0,
            "latency_ns": _latency(hists, "uncorrected", name),
            "latency_corrected_ns": _latency(hists, "corrected", name) if spec.rate else None,
        }
        return e

    agg = entry("Aggregated")
    reasons: list[str] = []
    if exit_code not in (0, 1, None):  # Locust exits 1 when any request failed; that is judged below
        reasons.append(f"Locust exited with code {exit_code}")
    if cpu["max_process_mean"] > spec.cpu_limit:
        worst = max(cpu["processes"].items(), key=lambda kv: kv[1]["mean"])
        reasons.append(f"load generator saturated: {worst[0]} averaged {worst[1]['mean']:.0f}% CPU (limit {spec.cpu_limit:.0f}%)")
    achieved = None
    if spec.rate:
        # sends up to when stopping began, over that time (the stop itself can take a second on a
        # busy machine and schedules nothing)
        achieved = sum(p.get("sent_before_stopping", p["sent"]) / (p.get("rate_window_ns") or p["window_ns"]) * 1e9
                       for p in procs.values() if p.get("rate_window_ns") or p["window_ns"])
        if achieved < spec.rate * (1 - spec.rate_tolerance):
            reasons.append(f"short of the target rate: {achieved:.1f}/s sent of {spec.rate:.1f}/s")
    elif not spec.shape:
        users = max((p["users_max"] for p in procs.values()), default=0)
        if users < spec.users:
            reasons.append(f"only {users} of {spec.users} users were running")
    if agg["requests"] == 0 and not hdr_data.get("streams"):
        reasons.append("no request was measured")
    if agg["unaccounted"]:
        reasons.append(f"{agg['unaccounted']} requests were sent but never answered nor failed")
    if agg["error_rate"] > spec.max_error_rate:
        reasons.append(f"{agg['error_rate'] * 100:.1f}% of requests failed ({agg['failed']} of "
                       f"{agg['answered'] + agg['failed']}), above the {spec.max_error_rate * 100:g}% limit (--max-error-rate)")
    reasons.extend(target_problems or [])
    streams = {}
    for name, s in hdr_data.get("streams", {}).items():
        streams[name] = {**s, "age_ns": _latency(hists, "stream", name)}
    locust_total = {
        "requests": sum(e.get("num_requests", 0) for e in locust_stats),
        "failures": sum(e.get("num_failures", 0) for e in locust_stats),
    }
    return {
        "format": "clockbench.load/1",
        **label,
        "profile": spec.profile, "mode": spec.mode, "shape": spec.shape, "target": url,
        "spec": asdict(spec),
        "started_ns": started_ns, "ended_ns": ended_ns, "window_s": window_s,
        "rate_target": spec.rate or None, "rate_achieved": achieved,
        "aggregate": agg,
        "endpoints": {n: entry(n) for n in names},
        "streams": streams,
        "errors": hdr_data.get("errors", {}),
        "locust": locust_total,
        "generator": {**cpu, "locust_processes": len(procs) or 1, "hdr_reports": hdr_data.get("reports", 0),
                      "remote_workers_not_sampled": spec.expect_workers},
        "validity": {"valid": not reasons, "reasons": reasons},
    }


CSV_FIELDS = [
    "label", "build", "round", "profile", "mode", "name", "requests", "answered", "failed", "error_rate",
    "throughput_rps", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns",
    "p50_corrected_ns", "p90_corrected_ns", "p99_corrected_ns", "p999_corrected_ns",
    "valid", "reason", "generator_cpu_max_mean", "locust_cpu_share_of_machine", "machine_cpu_mean",
]


def csv_rows(s: dict) -> list[dict]:
    rows = []
    for name, e in [("Aggregated", s["aggregate"]), *s["endpoints"].items()]:
        lat = e["latency_ns"] or {}
        cor = e["latency_corrected_ns"] or {}
        rows.append({
            "label": s.get("label", ""), "build": s.get("build", ""), "round": s.get("round", ""),
            "profile": s["profile"], "mode": s["mode"], "name": name,
            "requests": e["requests"], "answered": e["answered"], "failed": e["failed"],
            "error_rate": f"{e['error_rate']:.6f}", "throughput_rps": f"{e['throughput_rps']:.3f}",
            **{f"{k}_ns": lat.get(k, "") for k in ("p50", "p90", "p99", "p999", "max")},
            **{f"{k}_corrected_ns": cor.get(k, "") for k in ("p50", "p90", "p99", "p999")},
            "valid": s["validity"]["valid"], "reason": "; ".join(s["validity"]["reasons"]),
            "generator_cpu_max_mean": s["generator"]["max_process_mean"],
            "locust_cpu_share_of_machine": s["generator"].get("locust_share_of_machine", ""),
            "machine_cpu_mean": s["generator"].get("machine_mean", ""),
        })
    for name, st in s.get("streams", {}).items():
        age = st["age_ns"] or {}
        rows.append({
            "label": s.get("label", ""), "build": s.get("build", ""), "round": s.get("round", ""),
            "profile": s["profile"], "mode": "stream", "name": name, "requests": st["received"],
            "answered": st["received"], "failed": 0, "error_rate": "0", "throughput_rps": "",
            **{f"{k}_ns": age.get(k, "") for k in ("p50", "p90", "p99", "p999", "max")},
            "valid": s["validity"]["valid"], "reason": "; ".join(s["validity"]["reasons"]),
            "generator_cpu_max_mean": s["generator"]["max_process_mean"],
            "locust_cpu_share_of_machine": s["generator"].get("locust_share_of_machine", ""),
            "machine_cpu_mean": s["generator"].get("machine_mean", ""),
        })
    return rows


def write_csv(rows: list[dict], path: Path) -> Path:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def write_summary(s: dict, out: Path) -> None:
    (out / "summary.json").write_text(json.dumps(s, indent=1))
    write_csv(csv_rows(s), out / "summary.csv")


def headline(s: dict) -> str:
    """One line: throughput, p50/p99 (corrected when open), errors, CPU, validity."""
    a = s["aggregate"]
    lat = a["latency_corrected_ns"] or a["latency_ns"] or {}
    kind = "corrected " if a["latency_corrected_ns"] else ""
    v = "valid" if s["validity"]["valid"] else "INVALID (" + "; ".join(s["validity"]["reasons"]) + ")"
    n_remote = s["generator"].get("remote_workers_not_sampled", 0)
    remote = f"; {n_remote} remote worker(s) not sampled" if n_remote else ""
    p50 = lat.get("p50", 0) / 1e6
    p99 = lat.get("p99", 0) / 1e6
    return (f"{a['requests']} requests, {a['failed']} failed ({a['error_rate'] * 100:.2f}%), "
            f"{a['throughput_rps']:.1f}/s, {kind}p50 {p50:.2f}ms p99 {p99:.2f}ms, "
            f"locust CPU {s['generator']['max_process_mean']:.0f}% (busiest process; all Locust "
            f"{s['generator'].get('locust_share_of_machine', 0):.0f}% of the machine, machine "
            f"{s['generator'].get('machine_mean', 0):.0f}%{remote}): {v}")


# --- a long-lived Locust process ------------------------------------------------------------------


class Session:
    """One lone Locust process kept alive across many short runs against one target, driven over
    its web API (``POST /swarm`` with the run's users, spawn rate, run time and clockbench options).

    Why: a Locust process costs about a second of CPU to start (its imports) and more to stop; an
    A/B of 12 six-second runs or a capacity search of 20 five-second steps spent a fifth of its
    wall time there, on two busy cores. A session pays that once. Each ``run`` gives the same
    summary as ``run()`` above: the process writes the test's hdr.json (and a profile's own files)
    when that test stops (loadtests/common.py, ``--cb-session``), and every test starts with fresh
    users, connections and measurements. Closed or open mode, one process, no shape.
    """

    def __init__(self, spec: LoadSpec, url: str | None, out: Path, start_timeout_s: float = 60.0) -> None:
        self.spec = spec
        self.url = url or ""  # may be set after start(): each run names its host (a stack starting meanwhile)
        self.out = out
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self._log = None

    def fits(self, spec: LoadSpec) -> str | None:
        """Why ``spec`` cannot run in this session (None: it can): the process's locustfile and
        fixed options were set when it started."""
        if spec.shape or spec.distributed:
            return "a session is one process without a shape"
        for key in ("profile", "think", "instruments", "extra_args", "rate", "stop_timeout_s"):
            if getattr(spec, key) != getattr(self.spec, key):
                return f"{key} differs from the session's"
        return None

    def command(self) -> list[str]:
        """The process's command line (pure once the port is chosen)."""
        spec = self.spec
        host = ["--host", self.url] if self.url else []
        return [sys.executable, "-m", "locust", *_common_args(spec), "--cb-session", *host,
                "--web-host", "127.0.0.1", "--web-port", str(self.port),
                "--loglevel", "WARNING", "--stop-timeout", f"{int(math.ceil(spec.stop_timeout_s))}s"]

    def __enter__(self) -> "Session":
        return self.start().wait()

    def start(self) -> "Session":
        """Start the process (not waiting for it: several sessions start side by side, then ``wait``)."""
        self.spec.check()
        if self.fits(self.spec):
            raise LoadError(f"no session for this spec: {self.fits(self.spec)}")
        self.out.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env.pop("LOCUST_LOCUSTFILE", None)
        cmd = self.command()
        (self.out / "session-command.json").write_text(json.dumps(cmd, indent=1))
        self._log = (self.out / "locust.log").open("wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        return self

    def wait(self) -> "Session":
        """Until the process's web API answers (its imports done): LoadError when it exits or times out."""
        assert self.proc is not None, "start() first"
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if self.proc.poll() is not None:
                self.close()
                raise LoadError(f"Locust exited with code {self.proc.returncode} while starting; see {self.out / 'locust.log'}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=2.0):
                    return self
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                self.close()
                raise LoadError(f"Locust's web API did not answer within {self.start_timeout_s:.0f}s; see {self.out / 'locust.log'}")
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        self.close()

    def terminate(self) -> None:
        """Ask the process to quit, not waiting (it takes ~3 s at load 20; several quit side by side)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def close(self, grace_s: float = 3.0) -> None:
        """Stop the process: each run's results are on disk by the end of its ``run``, so a process
        slow to quit (its shutdown printing Locust's summary, seconds on a busy machine) is killed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _post(self, path: str, form: dict[str, Any]) -> dict:
        import urllib.parse

        data = urllib.parse.urlencode(form).encode()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", data=data, timeout=10.0) as r:
            return json.loads(r.read() or b"{}")

    def run(self, spec: LoadSpec, out: Path, *, label: dict | None = None, watch: Watch | None = None) -> dict:
        """One test of ``spec`` (its users, spawn rate, duration, warm-up), results into ``out``
        as ``run()`` writes them (summary.json/.csv, hdr.json); the same validity rules."""
        spec.check()
        why = self.fits(spec)
        if why:
            raise LoadError(f"this spec does not fit the session: {why}")
        assert self.proc is not None, "a session runs inside its with block"
        if not self.url:
            raise LoadError("the session has no target URL yet")
        if self.proc.poll() is not None:
            raise LoadError(f"the session's Locust process has exited (code {self.proc.returncode}); see {self.out / 'locust.log'}")
        out.mkdir(parents=True, exist_ok=True)
        hdr_path = out / "hdr.json"
        hdr_path.unlink(missing_ok=True)
        # no run_time (Locust's counts whole seconds: 3.5 s steps ran 4 s): the locustfile's stopper
        # ends the test cb_stop_after seconds after it starts (loadtests/common.py); should it not,
        # the wait below gives up at ``limit``
        form = {"user_count": spec.users, "spawn_rate": spec.spawn_rate, "host": self.url,
                "cb_warmup": spec.warmup_s, "cb_stop_after": spec.duration_s,
                "cb_hdr_out": str(hdr_path), "cb_rate": spec.rate}
        sampler = CpuSampler({"locust": self.proc.pid}).start()
        started_ns = time.time_ns()
        died: dict[str, float] = {}
        t0 = time.monotonic()
        try:
            reply = self._post("/swarm", form)
            swarmed_ns = time.time_ns()  # the test has started (its users spawning): Locust has answered
            if not reply.get("success"):
                raise LoadError(f"Locust refused the run: {reply.get('message')}")
            limit = spec.duration_s + spec.stop_timeout_s + 30
            next_watch = 1.0
            while not hdr_path.exists():
                time.sleep(0.05)
                el = time.monotonic() - t0
                next_watch = note_dead(watch, died, el, next_watch)
                if self.proc.poll() is not None:
                    raise LoadError(f"the session's Locust process exited (code {self.proc.returncode}) during a run; "
                                    f"see {self.out / 'locust.log'}")
                if el > limit:
                    raise LoadError(f"the session's run did not finish within {limit:.0f}s; see {self.out / 'locust.log'}")
        finally:
            sampler.stop()
        ended_ns = time.time_ns()
        hdr_data = json.loads(hdr_path.read_text())
        cpu = sampler.report(spec.warmup_s + 1.0, spec.duration_s + 2.0)
        for part in watch() if watch is not None else []:
            died.setdefault(part, (ended_ns - started_ns) / 1e9)
        target_problems = [f"{part} died about {at:.0f}s into the run" for part, at in sorted(died.items(), key=lambda kv: kv[1])]
        down = health_problem(self.url)
        if down:
            target_problems.append(down)
        summary = summarize(spec, hdr_data, hdr_data.get("locust", []), cpu, url=self.url, label=label or {},
                            started_ns=started_ns, ended_ns=ended_ns, exit_code=None, target_problems=target_problems)
        summary["session"] = {"pid": self.proc.pid, "log": str(self.out / "locust.log"), "swarmed_ns": swarmed_ns}
        write_summary(summary, out)
        return summary


def start_sessions(es: "contextlib.ExitStack", sessions: dict[str, Session]) -> dict[str, Session]:
    """Start every session at once, all closed by ``es`` (their ``wait`` comes later: their imports
    overlap with each other and with whatever starts meanwhile, such as the stacks they will drive).
    Register ``terminate_sessions`` once the stacks are up, so the processes quit while the stacks stop."""
    es.callback(lambda: [sess.close() for sess in _terminated(sessions)])
    for sess in sessions.values():
        sess.start()
    return sessions


def terminate_sessions(sessions: dict[str, Session]) -> None:
    _terminated(sessions)


def _terminated(sessions: dict[str, Session]) -> list[Session]:
    for sess in sessions.values():
        sess.terminate()
    return list(sessions.values())
