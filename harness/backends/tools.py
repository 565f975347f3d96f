"""Which outside tools this machine offers: nginx, a Prometheus server, a Docker engine, Chromium,
Locust. Each is found on PATH (Locust first next to this Python) and asked its version with a
timeout; a tool that is absent or does not answer is reported with the reason, never raised.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

VERSION_TIMEOUT_S = 20.0
DOCKER_TIMEOUT_S = 3.0
DOCKER_SOCKET = "/var/run/docker.sock"

_VERSION_RE = re.compile(r"\d+(?:\.\d+)+")


@dataclass(frozen=True)
class Tool:
    """One tool: where it is, what version it says it is, and why not when it is not usable."""

    name: str
    path: str | None
    version: str = ""
    detail: str = ""  # the first line the tool printed, or the engine's answer
    reason: str = ""  # why it is not available (empty when it is)

    @property
    def ok(self) -> bool:
        return self.path is not None and not self.reason


def parse_version(text: str) -> str:
    """The first dotted number in a tool's --version output ('nginx version: nginx/1.22.1' -> '1.22.1')."""
    match = _VERSION_RE.search(text)
    return match.group(0) if match else ""


def which_first(names: Sequence[str], extra_dirs: Sequence[Path] = ()) -> str | None:
    """The first of ``names`` found in ``extra_dirs``, then on PATH."""
    for directory in extra_dirs:
        for name in names:
            candidate = directory / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def ask_version(name: str, path: str, args: Sequence[str], timeout_s: float = VERSION_TIMEOUT_S,
                ok_codes: Sequence[int] = (0,)) -> Tool:
    """Run ``path args`` and read a version from what it prints (some tools print to stderr)."""
    try:
        out = subprocess.run(
            [path, *args], capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return Tool(name, path, reason=f"{Path(path).name} {' '.join(args)} did not answer within {timeout_s:.0f} s")
    except OSError as exc:
        return Tool(name, path, reason=f"cannot run {path}: {exc.strerror or exc}")
    text = (out.stdout.strip() or out.stderr.strip())
    first = text.splitlines()[0].strip() if text else ""
    if out.returncode not in ok_codes:
        return Tool(name, path, detail=first, reason=f"{Path(path).name} {' '.join(args)} exited with code {out.returncode}: {first}")
    return Tool(name, path, version=parse_version(first), detail=first)


def _simple(name: str, names: Sequence[str], args: Sequence[str], extra_dirs: Sequence[Path] = ()) -> Tool:
    path = which_first(names, extra_dirs)
    if path is None:
        return Tool(name, None, reason=f"{' / '.join(names)} not on PATH")
    return ask_version(name, path, args)


def probe_nginx() -> Tool:
    return _simple("nginx", ["nginx"], ["-v"])  # nginx has no --version; -v prints to stderr


def probe_prometheus() -> Tool:
    return _simple("prometheus", ["prometheus"], ["--version"])


def probe_chromium() -> Tool:
    return _simple(
        "chromium", ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"], ["--version"]
    )


def probe_locust() -> Tool:
    return _simple("locust", ["locust"], ["--version"], extra_dirs=[Path(sys.executable).parent])


def probe_docker(timeout_s: float = DOCKER_TIMEOUT_S) -> Tool:
    """A Docker engine: ``dockerd`` installed, and a daemon answering (DOCKER_HOST, else the socket)."""
    dockerd = which_first(["dockerd"])
    installed = f"dockerd at {dockerd}" if dockerd else "dockerd not on PATH"
    try:
        import docker
    except ImportError:
        return Tool("docker", None, reason=f"{installed}; the Python package docker is not installed")
    where = os.environ.get("DOCKER_HOST") or f"unix://{DOCKER_SOCKET}"
    try:
        client = docker.DockerClient(base_url=where, timeout=timeout_s)
        try:
            info = client.version()
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - every failure to reach the daemon is a reason
        text = str(exc).strip().splitlines()
        cause = text[0] if text else type(exc).__name__
        if "FileNotFoundError" in cause or "No such file" in cause:
            cause = f"no socket at {where}"
        return _private_docker(dockerd, f"no daemon answering on {where} ({cause})")
    version = str(info.get("Version", ""))
    detail = f"engine {version} (API {info.get('ApiVersion', '?')}) on {where}; {installed}"
    return Tool("docker", dockerd or where, version=version, detail=detail)


def _private_docker(dockerd: str | None, why_not_system: str) -> Tool:
    """No engine answers: say whether clockbench can start its own (harness/backends/docker_engine.py),
    as the container tests and ``clockbench run`` do. Starting and stopping one takes about a second."""
    from harness.backends.docker_engine import EngineUnavailable, start_engine

    try:
        engine = start_engine(ready_timeout_s=15.0)
    except EngineUnavailable as exc:
        return Tool("docker", dockerd, reason=f"{why_not_system}; a private engine cannot start: {exc}")
    try:
        detail = (f"private engine {engine.version} started by clockbench in {engine.started_s:.1f} s "
                  f"and stopped (no daemon answering at {os.environ.get('DOCKER_HOST') or DOCKER_SOCKET})")
        return Tool("docker", dockerd, version=engine.version, detail=detail)
    finally:
        engine.stop()


def probe_wrk() -> Tool:
    path = which_first(["wrk"])
    if path is None:
        return Tool("wrk", None, reason="wrk not on PATH")
    return ask_version("wrk", path, ["--version"], ok_codes=(0, 1))  # wrk prints its version and exits 1


def probe_valgrind() -> Tool:
    return _simple("valgrind", ["valgrind"], ["--version"])


def probe_faketime() -> Tool:
    path = which_first(["faketime"])
    if path is None:
        return Tool("faketime", None, reason="faketime not on PATH (Debian: apt-get install faketime)")
    return Tool("faketime", path, version="", detail="libfaketime wrapper")


def probe_node() -> Tool:
    return _simple("node", ["node", "nodejs"], ["--version"])


PROBES: dict[str, Callable[[], Tool]] = {
    "nginx": probe_nginx,
    "wrk": probe_wrk,
    "prometheus": probe_prometheus,
    "docker": probe_docker,
    "chromium": probe_chromium,
    "locust": probe_locust,
    "valgrind": probe_valgrind,
    "faketime": probe_faketime,
    "node": probe_node,
}

# What each tool is for: the feature, the criteria it decides (ids of reports/criteria.toml) and how
# to get it on Debian/Ubuntu. `clockbench doctor` prints it beside a missing tool; the README's table
# says the same.
NEEDED_FOR: dict[str, tuple[str, tuple[str, ...], str]] = {
    "nginx": ("the load balancer in front of the stack; without it the load and capacity criteria are measured "
              "straight against the workers", ("PM-LB-ROUTING", "SC1-LB-EFFICIENCY", "PM-WEBSOCKET-STABILITY",
                                               "SC2-WEBSOCKET-STABILITY", "EI-WEBSOCKET"), "apt-get install nginx-light"),
    "wrk": ("`clockbench ceiling` (the HTTP ceiling Locust is compared with) and its tests", (), "apt-get install wrk"),
    "prometheus": ("the monitoring criteria, scraped by a real Prometheus",
                   ("PM-MONITORING-ACCURACY", "SC2-MONITORING-ACCURACY", "SC2-OBSERVABILITY", "EI-PROMETHEUS",
                    "EI-GRAFANA"), "apt-get install prometheus"),
    "docker": ("the container criteria, on a Docker engine clockbench starts itself",
               ("PM-CONTAINER-RELIABILITY", "SC2-CONTAINER-RELIABILITY", "EI-DOCKER-HEALTH"),
               "apt-get install docker.io busybox-static"),
    "chromium": ("the frontend criteria, in headless Chromium; the report's screenshots in the tests",
                 ("TO-UI-RESPONSIVENESS", "PM-FRONTEND-RESPONSIVENESS", "SC3-FRONTEND-RESPONSIVENESS", "EI-REACT",
                  "SC3-CLOCK-SYNC", "EI-DASHBOARD-SYNC"), "apt-get install chromium"),
    "locust": ("every load and capacity criterion (installed with clockbench)", ("TO-ORDER-LATENCY", "TO-CAPACITY"),
               "pip install -r requirements.lock -e ."),
    "valgrind": ("instruction counts of the CPU-bound microbenchmarks (stable on a noisy machine)", (),
                 "apt-get install valgrind"),
    "faketime": ("the wall-clock-step fault tests", (), "apt-get install faketime"),
    "node": ("rebuilding the dashboard from its TypeScript sources (the built bundle ships with clockbench)", (),
             "apt-get install nodejs npm"),
}


def probe_all(names: Sequence[str] | None = None) -> list[Tool]:
    """Probe the tools concurrently (each --version can take a second or two), in a stable order."""
    selected = list(PROBES) if names is None else list(names)
    with ThreadPoolExecutor(max_workers=len(selected) or 1) as pool:
        futures = [pool.submit(_safe, name) for name in selected]
        return [f.result() for f in futures]


def _safe(name: str) -> Tool:
    try:
        return PROBES[name]()
    except Exception as exc:  # noqa: BLE001 - a probe must never take the doctor down
        return Tool(name, None, reason=f"probe failed: {type(exc).__name__}: {exc}")
