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


def ask_version(name: str, path: str, args: Sequence[str], timeout_s: float = VERSION_TIMEOUT_S) -> Tool:
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
    if out.returncode != 0:
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


PROBES: dict[str, Callable[[], Tool]] = {
    "nginx": probe_nginx,
    "prometheus": probe_prometheus,
    "docker": probe_docker,
    "chromium": probe_chromium,
    "locust": probe_locust,
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
