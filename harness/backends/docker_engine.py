"""A private Docker engine for a run or a test session, and the busybox image its containers use.

No daemon runs on these machines and no registry is reachable, so the harness starts its own
``dockerd`` (vfs storage, no bridge, no iptables) with its socket, data, exec state and pidfile in
folders of its own, and makes its image with ``docker import`` of a busybox root filesystem built
here in Python. Two sessions never share an engine: each gets fresh folders. The socket and the
exec root live under a short ``/tmp`` folder because a unix socket path is limited to ~107 bytes
(containerd puts its own sockets under the exec root).

Containers have no network but the host's (``--network host``); published ports are ignored.
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

BUSYBOX_TAG = "clockbench/busybox:2"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
_SOCKET_LIMIT = 100  # bytes; sun_path is 108 with the NUL, keep a margin


class EngineUnavailable(RuntimeError):
    """No private engine could be started here; the message says why (shown as the reason)."""


def find_dockerd() -> str | None:
    """``dockerd`` on PATH or in /usr/sbin (not on a non-root user's PATH on Debian)."""
    found = shutil.which("dockerd")
    if found:
        return found
    candidate = Path("/usr/sbin/dockerd")
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def unavailable_reason() -> str:
    """Why an engine cannot be started here, or '' when it can be tried."""
    if find_dockerd() is None:
        return "dockerd not installed (apt-get install docker.io)"
    if os.geteuid() != 0:
        return "dockerd needs root to run containers (run as root, or point DOCKER_HOST at an engine)"
    try:
        import docker  # noqa: F401
    except ImportError:
        return "the Python package docker is not installed"
    return ""


@dataclass
class DockerEngine:
    """A running private engine. ``stop()`` ends it by its pid and removes its folders."""

    run_dir: Path  # data root, pidfile and log
    short_dir: Path  # socket and exec root (short path)
    proc: subprocess.Popen
    started_s: float  # seconds from spawn to first answer
    version: str = ""
    _clients: list = field(default_factory=list)

    @property
    def socket_path(self) -> Path:
        return self.short_dir / "docker.sock"

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "dockerd.log"

    def client(self, timeout_s: float = 60.0):
        """A docker SDK client on this engine (closed by ``stop()``)."""
        import docker

        c = docker.DockerClient(base_url=self.base_url, timeout=int(timeout_s))
        self._clients.append(c)
        return c

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Remove every container, SIGTERM the daemon by its pid, SIGKILL after the deadline. Idempotent."""
        for c in self._clients:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
        self._clients.clear()
        if self.proc.poll() is None:
            try:
                import docker

                c = docker.DockerClient(base_url=self.base_url, timeout=10)
                try:  # side by side: one after the other, a run's 40-odd payloads took ~20 s at load 10
                    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="engine-stop") as pool:
                        list(pool.map(_remove, c.containers.list(all=True)))
                finally:
                    c.close()
            except Exception:  # noqa: BLE001 - the daemon's SIGTERM stops them anyway
                pass
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout_s)
        _unmount_below(self.run_dir)
        _unmount_below(self.short_dir)
        shutil.rmtree(self.short_dir, ignore_errors=True)
        if getattr(self, "_own_run_dir", False):
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> DockerEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _remove(ctr) -> None:
    """Remove one container, running or not (best effort: the daemon's SIGTERM stops what is left)."""
    try:
        ctr.remove(force=True)
    except Exception:  # noqa: BLE001
        pass


def _unmount_below(root: Path) -> None:
    """dockerd leaves mounts (netns, shm) under its roots when killed; unmount them before rmtree."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    prefix = str(root.resolve()) + "/"
    targets = [m.split()[1] for m in mounts if len(m.split()) > 1 and m.split()[1].startswith(prefix)]
    for target in sorted(targets, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)


def start_engine(run_dir: Path | None = None, *, ready_timeout_s: float = READY_TIMEOUT_S) -> DockerEngine:
    """Start a private dockerd and wait until it answers; raises EngineUnavailable with the reason.

    ``run_dir`` holds the data root, pidfile and log (a fresh temporary folder when None, removed by
    ``stop()``). Safe to call from parallel sessions: every call gets its own folders and socket.
    """
    reason = unavailable_reason()
    if reason:
        raise EngineUnavailable(reason)
    own = run_dir is None
    run_dir = Path(tempfile.mkdtemp(prefix="clockbench-dockerd-")) if own else Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    short_dir = Path(tempfile.mkdtemp(prefix="cbd-", dir="/tmp"))
    sock = short_dir / "docker.sock"
    if len(str(sock).encode()) > _SOCKET_LIMIT or len(str(short_dir / "exec")) > 60:
        raise EngineUnavailable(f"socket path too long for a unix socket: {sock}")
    argv = [
        find_dockerd() or "dockerd",
        "--storage-driver=vfs",
        "--iptables=false",
        "--ip-masq=false",
        "--ip-forward=false",
        "--bridge=none",
        "--userland-proxy=false",
        "--log-level=warn",
        "-H", f"unix://{sock}",
        "--data-root", str(run_dir / "data"),
        "--exec-root", str(short_dir / "exec"),
        "--pidfile", str(run_dir / "docker.pid"),
    ]
    log = open(run_dir / "dockerd.log", "wb")
    spawned = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    except OSError as exc:
        log.close()
        shutil.rmtree(short_dir, ignore_errors=True)
        raise EngineUnavailable(f"cannot run dockerd: {exc}") from exc
    finally:
        pass
    log.close()
    engine = DockerEngine(run_dir, short_dir, proc, 0.0)
    engine._own_run_dir = own  # type: ignore[attr-defined]
    try:
        engine.version = _wait_ready(engine, ready_timeout_s)
    except BaseException:
        engine.stop()
        raise
    engine.started_s = time.monotonic() - spawned
    atexit.register(engine.stop)  # an interrupted run must not leave a daemon behind (stop is idempotent)
    return engine


def _wait_ready(engine: DockerEngine, timeout_s: float) -> str:
    import docker

    deadline = time.monotonic() + timeout_s
    last = "no socket yet"
    while time.monotonic() < deadline:
        if engine.proc.poll() is not None:
            raise EngineUnavailable(
                f"dockerd exited with code {engine.proc.returncode}: {engine.log_tail(5) or 'no output'}"
            )
        if engine.socket_path.exists():
            try:
                c = docker.DockerClient(base_url=engine.base_url, timeout=5)
                try:
                    return str(c.version().get("Version", ""))
                finally:
                    c.close()
            except Exception as exc:  # noqa: BLE001 - not ready yet
                last = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        time.sleep(0.05)
    raise EngineUnavailable(f"dockerd did not answer within {timeout_s:.0f} s ({last}): {engine.log_tail(5)}")


# --- the image ------------------------------------------------------------------------------------

def find_busybox() -> str | None:
    """A statically linked busybox (busybox-static installs it as /bin/busybox)."""
    for candidate in ("/bin/busybox", "/usr/bin/busybox"):
        if Path(candidate).is_file():
            return candidate
    return shutil.which("busybox")


def busybox_applets(busybox: str) -> list[str]:
    """The applets this busybox offers, with their install folders ('bin/sh', 'usr/bin/wget', ...)."""
    out = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True, timeout=10)
    return [line.strip().lstrip("/") for line in out.stdout.splitlines() if line.strip()]


def busybox_rootfs_tar(busybox: str | None = None) -> bytes:
    """A root filesystem as an uncompressed tar: /bin/busybox, a symlink per applet, /tmp, /www, /etc."""
    busybox = busybox or find_busybox()
    if busybox is None:
        raise EngineUnavailable("busybox not installed (apt-get install busybox-static)")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        def add_dir(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)

        def add_file(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))

        for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "www", "proc", "sys", "dev", "run"):
            add_dir(d)
        add_dir("tmp", 0o1777)
        add_file("bin/busybox", Path(busybox).read_bytes(), 0o755)
        add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
        add_file("etc/group", b"root:x:0:\nnogroup:x:65534:\n")
        add_file("www/health", b"ok\n")
        # /lib and /lib64 point into /usr, so a host /usr bind-mounted read-only gives a dynamically
        # linked program (the host's Python) its loader and libraries, as on a merged-/usr host.
        for name, target in (("lib", "usr/lib"), ("lib64", "usr/lib64")):
            link = tarfile.TarInfo(name)
            link.type, link.linkname, link.mode = tarfile.SYMTYPE, target, 0o777
            tar.addfile(link)
        seen = {"bin/busybox"}
        for applet in busybox_applets(busybox):
            if applet in seen or "/" not in applet:
                continue
            seen.add(applet)
            link = tarfile.TarInfo(applet)
            link.type, link.linkname, link.mode = tarfile.SYMTYPE, "/bin/busybox", 0o777
            tar.addfile(link)
    return buf.getvalue()


def ensure_busybox_image(client, tag: str = BUSYBOX_TAG) -> str:
    """The busybox image on this engine (imported once; later calls find it). Returns its id."""
    import docker

    try:
        return client.images.get(tag).id
    except docker.errors.ImageNotFound:
        pass
    repo, _, version = tag.partition(":")
    client.api.import_image_from_data(busybox_rootfs_tar(), repository=repo, tag=version or "latest")
    return client.images.get(tag).id


@contextmanager
def engine_session(run_dir: Path | None = None) -> Iterator[DockerEngine]:
    """An engine with the busybox image imported, stopped on exit."""
    engine = start_engine(run_dir)
    try:
        ensure_busybox_image(engine.client())
        yield engine
    finally:
        engine.stop()


# --- the payload: a container with a health endpoint ------------------------------------------------

NS_PER_S = 1_000_000_000


def health_payload_command(port: int, graceful: bool = True) -> list[str]:
    """busybox httpd serving /www on 127.0.0.1:port. ``graceful``: a shell that exits 0 on SIGTERM
    (and when httpd dies, so a killed endpoint ends the container); otherwise httpd is PID 1, which
    ignores SIGTERM, so a stop has to kill it."""
    httpd = f"httpd -f -p 127.0.0.1:{port} -h /www"
    if not graceful:
        return httpd.split()
    return ["sh", "-c", f"trap 'exit 0' TERM; {httpd} & wait $!"]


def create_health_payload(client, port: int, *, www_dir: Path | None = None, graceful: bool = True,
                          health_interval_ns: int | None = NS_PER_S // 2, name: str | None = None,
                          labels: dict[str, str] | None = None, start: bool = True):
    """A busybox container on the host network whose /health answers 200 while the file exists.

    With ``www_dir`` the container serves that host folder (read-only), so the harness kills and
    revives the endpoint by removing and restoring ``www_dir/health`` at the instants it chooses;
    without it, the image's own /www/health. The engine's own health check polls the same URL
    every ``health_interval_ns`` (one failure marks it unhealthy); None: no engine health check
    (each one is an exec in the container, costly by the dozen on a small machine).
    """
    url = f"http://127.0.0.1:{port}/health"
    volumes = {str(www_dir): {"bind": "/www", "mode": "ro"}} if www_dir is not None else None
    kwargs = dict(
        command=health_payload_command(port, graceful),
        network_mode="host",
        volumes=volumes,
        name=name,
        labels={"clockbench": "payload", **(labels or {})},
        healthcheck={"test": ["NONE"]} if health_interval_ns is None else {
            "test": ["CMD", "/bin/busybox", "wget", "-q", "-O", "/dev/null", url],
            "interval": health_interval_ns,
            "timeout": NS_PER_S,
            "retries": 1,
            "start_period": 0,
        },
        stop_signal="SIGTERM",
    )
    if start:
        return client.containers.run(BUSYBOX_TAG, detach=True, **kwargs)
    return client.containers.create(BUSYBOX_TAG, **kwargs)
