"""Private PostgreSQL and Redis servers that a fault test may stop, crash and restart at will.

The machine's shared servers (5432, 6379) are never touched: each server here is started from the
system's binaries (Debian's ``/usr/lib/postgresql/<v>/bin``, ``redis-server``) on a free loopback
port with a temporary data directory of its own. ``stop()`` / ``start()`` / ``restart()`` keep the
same port and directory, so the clients of a running stack (asyncpg pools, redis-py connections)
see a real outage and then the same server back, exactly as after a crash or a failover to the same
address.

PostgreSQL refuses to run as root; as root its commands run as the ``postgres`` system user (made
by Debian's package) through ``runuser``, in a directory that user owns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from harness.ports import free_port


class PrivateServerError(RuntimeError):
    """A private server could not be set up or started; the message says why (one line plus a log tail)."""


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _accepts(port: int, timeout_s: float = 0.5) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=timeout_s).close()
        return True
    except OSError:
        return False


def postgres_bindir() -> Path | None:
    """The newest Debian PostgreSQL bin directory holding initdb and pg_ctl (or the ones on PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0)
    for d in reversed(found):
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    return None


def postgres_unavailable() -> str | None:
    """Why a private PostgreSQL cannot be started here, or None."""
    if postgres_bindir() is None:
        return "no initdb/pg_ctl (Debian: apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root and 'runuser' is missing"
    return None


def redis_unavailable() -> str | None:
    """Why a private Redis cannot be started here, or None."""
    return None if shutil.which("redis-server") else "no redis-server on PATH (apt-get install redis-server)"


class PrivatePostgres:
    """One PostgreSQL cluster on a free port: ``start()``, ``stop(mode)``, ``restart(down_s)``, ``close()``.

    ``stop("immediate")`` is a crash as clients see it (every connection reset, recovery from the
    WAL at the next start); ``stop("fast")`` a clean shutdown. ``fsync=off``: a test crashes the
    server process, never the machine, so the operating system still holds every committed write.
    """

    def __init__(self, port: int | None = None) -> None:
        why = postgres_unavailable()
        if why:
            raise PrivateServerError(f"private PostgreSQL: {why}")
        self.bindir = postgres_bindir()
        self.port = port or free_port("127.0.0.1")
        self.directory = Path(tempfile.mkdtemp(prefix="clockbench-faultpg-"))
        self.data = self.directory / "data"
        self.sockets = self.directory / "sock"
        self.log = self.directory / "postgres.log"
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = "postgres"
            pw = pwd.getpwnam("postgres")
            self.directory.chmod(0o755)
            os.chown(self.directory, pw.pw_uid, pw.pw_gid)
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._initdb()

    def _run(self, *args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._user:
            cmd = ["runuser", "-u", self._user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=str(self.directory))

    def _initdb(self) -> None:
        if self._user:
            subprocess.run(["runuser", "-u", self._user, "--", "mkdir", "-p", str(self.sockets)], check=True)
        else:
            self.sockets.mkdir(parents=True, exist_ok=True)
        done = self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                         "--locale=C", "--no-sync")  # fmt: skip
        if done.returncode != 0:
            raise PrivateServerError(f"initdb failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-500:]}")

    @property
    def running(self) -> bool:
        return _accepts(self.port)

    def start(self, timeout_s: float = 60.0) -> None:
        """Start (or start again) on the same port and data directory; return once it takes connections."""
        opts = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=on -c full_page_writes=off -c max_connections=200")  # fmt: skip
        done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(int(timeout_s)),
                         "-o", opts, "start", timeout_s=timeout_s + 10)  # fmt: skip
        if done.returncode != 0:
            raise PrivateServerError(f"pg_ctl start failed ({done.returncode}): {done.stdout.strip()[-300:]}\n{_tail(self.log)}")
        ready = self._run("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-t", str(int(timeout_s)))
        if ready.returncode != 0:
            raise PrivateServerError(f"PostgreSQL on {self.port} not ready: {ready.stdout.strip()}\n{_tail(self.log)}")

    def stop(self, mode: str = "immediate", timeout_s: float = 60.0) -> None:
        """Stop the server: "immediate" (a crash: connections reset, WAL recovery next start) or "fast"."""
        if not (self.data / "postmaster.pid").exists():
            return
        done = self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", str(int(timeout_s)), "stop",
                         timeout_s=timeout_s + 10)  # fmt: skip
        if done.returncode != 0 and (self.data / "postmaster.pid").exists():
            raise PrivateServerError(f"pg_ctl stop failed ({done.returncode}): {done.stderr.strip()[-300:]}")

    def restart(self, down_s: float = 0.0, mode: str = "immediate") -> float:
        """Stop, stay down ``down_s`` seconds, start again; returns the ``time.monotonic()`` when it
        was taking connections again."""
        self.stop(mode)
        time.sleep(down_s)
        self.start()
        return time.monotonic()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("fast")
        shutil.rmtree(self.directory, ignore_errors=True)


class PrivateRedis:
    """One redis-server on a free port, no persistence (``--save ''``, no AOF): a restart comes back
    empty, as a cache that lost its memory does. ``kill()`` is a crash (SIGKILL)."""

    def __init__(self, port: int | None = None) -> None:
        why = redis_unavailable()
        if why:
            raise PrivateServerError(f"private Redis: {why}")
        self.exe = shutil.which("redis-server")
        self.port = port or free_port("127.0.0.1")
        self.directory = Path(tempfile.mkdtemp(prefix="clockbench-faultredis-"))
        self.log = self.directory / "redis.log"
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None and _accepts(self.port)

    def start(self, timeout_s: float = 30.0) -> None:
        cmd = [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(self.directory), "--daemonize", "no", "--protected-mode", "no",
               "--logfile", str(self.log)]  # fmt: skip
        self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while not _accepts(self.port):
            if self.process.poll() is not None:
                raise PrivateServerError(f"redis-server exited with {self.process.returncode}\n{_tail(self.log)}")
            if time.monotonic() > deadline:
                raise PrivateServerError(f"redis-server not accepting on {self.port} after {timeout_s:.0f}s\n{_tail(self.log)}")
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGKILL) -> None:
        """Stop the server: SIGKILL by default (a crash: connections reset, nothing saved)."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def restart(self, down_s: float = 0.0) -> float:
        """Crash, stay down ``down_s`` seconds, start again on the same port; returns the
        ``time.monotonic()`` when it was taking connections again."""
        self.stop()
        time.sleep(down_s)
        self.start()
        return time.monotonic()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop(signal.SIGTERM)
        shutil.rmtree(self.directory, ignore_errors=True)
