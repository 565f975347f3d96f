"""The C clients' ceiling for the database benchmarks: pgbench and redis-benchmark, run briefly on
the same servers, with one connection, so the Python builds can be read as a fraction of them.

Command lines are built by pure functions; ``run`` executes one and raises with its output if it
fails. Both tools are optional: ``available()`` says whether they are on PATH.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse


def available(tool: str) -> bool:
    return shutil.which(tool) is not None


def pgbench_command(dsn: str, script: Path, transactions: int) -> list[str]:
    """One client, ``transactions`` runs of ``script``, no vacuum (no pgbench tables needed)."""
    if transactions < 1:
        raise ValueError(f"transactions must be >= 1, got {transactions}")
    return ["pgbench", "-n", "-c", "1", "-t", str(transactions), "-f", str(script), dsn]


def redis_benchmark_command(url: str, requests: int, keyspace: int, *command: str) -> list[str]:
    """One client, ``requests`` runs of ``command``; ``__rand_int__`` in it ranges over ``keyspace``."""
    u = urlparse(url)
    if u.scheme not in ("redis", "rediss") or not u.hostname:
        raise ValueError(f"a redis:// URL is needed, got {url!r}")
    db = (u.path or "/0").lstrip("/") or "0"
    cmd = ["redis-benchmark", "-h", u.hostname, "-p", str(u.port or 6379), "--dbnum", db,
           "-c", "1", "-n", str(requests), "-r", str(keyspace), "-q"]
    if u.password:
        cmd += ["-a", u.password]
    return cmd + list(command)


def run(cmd: list[str], timeout_s: float = 60.0) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()[-500:]}")
    return done.stdout
