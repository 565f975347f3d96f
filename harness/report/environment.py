"""What a run was made on: commit, machine, CPUs, Python, package and service versions."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from importlib import metadata

from harness.rundir import ROOT, commit

PACKAGES = ("pytest", "pytest-benchmark", "locust", "asyncpg", "redis", "fastapi", "uvicorn", "numpy",
            "pandas", "jinja2", "hdrhistogram", "nautilus-trader",
            "uvloop")  # nautilus-trader pulls it in, and uvicorn (loop="auto") then runs the stack on it


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def collect(doctor_timeout: float = 60.0, found_how: dict[str, str] | None = None) -> dict:
    """Facts about this machine; service versions come from ``clockbench doctor --json``.

    ``found_how``: how the run itself found each service (doctor, handed the run's URLs, would call
    every one of them "explicit")."""
    env = {
        "commit": commit(),
        "dirty": _dirty(),
        "machine": f"{platform.machine()} {platform.system()} {platform.release()}",
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": f"{sys.version.split()[0]} ({platform.python_implementation()})",
        "packages": {},
        "clock_impl": _clock_impl(),
    }
    for name in PACKAGES:
        try:
            env["packages"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            env["packages"][name] = None
    try:
        out = subprocess.run([sys.executable, "-m", "harness", "doctor", "--json"], cwd=ROOT,
                             capture_output=True, text=True, timeout=doctor_timeout)
        env["doctor"] = json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr.strip()[-500:]}
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError) as exc:
        env["doctor"] = {"error": f"clockbench doctor --json failed: {exc}"}
    for name, how in (found_how or {}).items():
        entry = (env.get("doctor", {}).get("services") or {}).get(name)
        if isinstance(entry, dict):
            entry["how"] = how
    return env


def _clock_impl() -> dict:
    """The Clock implementation (C accelerator or pure Python) this process, and the run's
    measurements made in it, used; CLOCKBENCH_PURE_CLOCK in the environment forces pure Python."""
    from targets.clock import _impl

    return _impl.describe()


def _dirty() -> bool | None:
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                             capture_output=True, text=True, timeout=10)
        return bool(out.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None
