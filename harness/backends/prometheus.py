"""A real Prometheus server for one run: its own config and data directory, a free loopback port,
started and stopped by pid.

    with PrometheusServer(run_dir / "prometheus", jobs, interval_ns) as prom:
        prom.wait_for_scrapes()            # polls /api/v1/targets until every target was scraped
        prom.url                           # http://127.0.0.1:<port>

Prometheus discovers static targets a few seconds after it starts and scrapes each one at its own
phase, so the first sample is waited for by polling, never by a fixed sleep. Where no binary is
installed, ``find_binary()`` returns None and ``PrometheusUnavailable`` says why.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from core.monitoring.apis import rfc3339_to_ns
from core.monitoring.promconfig import config_text
from harness.ports import free_port

NEVER = "0001-01-01T00:00:00Z"


class PrometheusUnavailable(RuntimeError):
    """No Prometheus binary on this machine (the message says where it looked)."""


class PrometheusError(RuntimeError):
    """Prometheus did not start, or did not scrape in time; the message has its log's tail."""


def find_binary() -> str | None:
    """``$CLOCKBENCH_PROMETHEUS``, else ``prometheus`` on PATH, else Debian's /usr/bin/prometheus."""
    explicit = os.environ.get("CLOCKBENCH_PROMETHEUS")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    found = shutil.which("prometheus")
    if found:
        return found
    return "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None


def _tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class PrometheusServer:
    def __init__(self, directory: Path, jobs: list[dict[str, Any]], interval_ns: int, *,
                 binary: str | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.directory = Path(directory)
        self.jobs = jobs
        self.interval_ns = interval_ns
        self.binary = binary or find_binary()
        if self.binary is None:
            raise PrometheusUnavailable("no Prometheus binary: not on PATH, not /usr/bin/prometheus, "
                                        "CLOCKBENCH_PROMETHEUS unset (Debian: apt-get install prometheus)")
        self.host = host
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.directory / "prometheus.log"
        self.config = self.directory / "prometheus.yml"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> PrometheusServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config.write_text(config_text(self.jobs, self.interval_ns))
        data = self.directory / "data"
        data.mkdir(exist_ok=True)
        self.port = self.port or free_port(self.host)
        cmd = [self.binary, f"--config.file={self.config}", f"--storage.tsdb.path={data}",
               f"--web.listen-address={self.host}:{self.port}", "--storage.tsdb.retention.time=1d",
               "--log.level=warn"]
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        (self.directory / "prometheus.pid").write_text(f"{self.proc.pid}\n")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self.proc.returncode} at start:\n{_tail(self.log)}")
            try:
                if httpx.get(self.url + "/-/ready", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise PrometheusError(f"prometheus not ready on {self.url} within {timeout_s:g}s:\n{_tail(self.log)}")

    def targets(self) -> list[dict[str, Any]]:
        r = httpx.get(self.url + "/api/v1/targets", params={"state": "active"}, timeout=2.0)
        r.raise_for_status()
        return r.json()["data"]["activeTargets"]

    def wait_for_scrapes(self, scrapes: int = 1, timeout_s: float = 40.0) -> dict[str, int]:
        """Poll until every configured target has been scraped (healthy) ``scrapes`` times since this call
        began watching; returns each target's last scrape instant (ns). A target scraped but down (its
        /metrics failed) is an error naming it and Prometheus's reason."""
        want = sum(len(sc["targets"]) for job in self.jobs for sc in job["static_configs"])
        seen: dict[str, set[int]] = {}
        last: dict[str, int] = {}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self.proc.returncode}:\n{_tail(self.log)}")
            try:
                active = self.targets()
            except httpx.HTTPError:
                active = []
            for t in active:
                if t.get("lastScrape", NEVER) == NEVER:
                    continue
                url = t["scrapeUrl"]
                if t.get("health") == "down":
                    seen.pop(url, None)
                    if t.get("lastError"):
                        last[url] = -1
                    continue
                ns = rfc3339_to_ns(t["lastScrape"])
                seen.setdefault(url, set()).add(ns)
                last[url] = ns
            if len(seen) >= want and all(len(v) >= scrapes for v in seen.values()):
                return {u: last[u] for u in seen}
            time.sleep(0.1)
        down = [f"{t['scrapeUrl']}: {t.get('lastError')}" for t in (self.targets() if self.proc else [])
                if t.get("health") == "down"]
        raise PrometheusError(f"not every target ({len(seen)}/{want}) scraped {scrapes}x within {timeout_s:g}s"
                              + (f"; down: {'; '.join(down)}" if down else ""))

    def stop(self, timeout_s: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def __enter__(self) -> PrometheusServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
