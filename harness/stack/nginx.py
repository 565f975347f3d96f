"""nginx for one run: the config rendered from a template into the run's directory, checked with
``nginx -t``, and started as the run's own foreground process (never the system's service)."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import jinja2

from .errors import StackError

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE = "nginx.conf.j2"


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int
    down: bool = False  # kept in the config but sent no traffic (a worker the health gate took out)


def find_nginx(explicit: str | None = None) -> str:
    """The nginx executable: explicit path, $CLOCKBENCH_NGINX, PATH, then /usr/sbin/nginx."""
    for candidate in (explicit, os.environ.get("CLOCKBENCH_NGINX"), shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise StackError(
        "nginx is not installed (not on PATH nor at /usr/sbin/nginx); install it "
        "(apt-get install nginx-light) or run the stack with --no-nginx"
    )


def render_config(
    *,
    prefix: Path,
    host: str,
    port: int,
    workers: list[Upstream],
    worker_processes: int = 1,
    worker_connections: int = 1024,
    access_log_buffer: str | None = None,
) -> str:
    """The nginx.conf text for this run (pure: no file is touched)."""
    if not workers:
        raise StackError("nginx needs at least one upstream worker")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    # As root, nginx would drop its workers to "nobody", who cannot write the run's directory.
    user = getpass.getuser() if os.geteuid() == 0 else None
    return env.get_template(TEMPLATE).render(
        run_dir=str(prefix.parent),
        prefix=str(prefix),
        conf_path=str(prefix / "nginx.conf"),
        host=host,
        port=port,
        workers=workers,
        worker_processes=worker_processes,
        worker_connections=worker_connections,
        access_log_buffer=access_log_buffer,
        user=user,
    )


def write_config(prefix: Path, text: str) -> Path:
    """Write nginx.conf and the directories it names under ``prefix``."""
    for sub in ("logs", "temp/client_body", "temp/proxy", "temp/fastcgi", "temp/uwsgi", "temp/scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    path = prefix / "nginx.conf"
    path.write_text(text)
    return path


def command(nginx: str, prefix: Path) -> list[str]:
    return [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"]


def check_config(nginx: str, prefix: Path) -> str:
    """Run ``nginx -t`` on the run's config; raise StackError with nginx's own words if it fails."""
    proc = subprocess.run(
        [nginx, "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise StackError(f"nginx -t rejected {prefix / 'nginx.conf'}: {output}")
    return output


def start(nginx: str, prefix: Path) -> subprocess.Popen[bytes]:
    """Start nginx in the foreground as our child, in its own process group, output to the run dir."""
    out = open(prefix / "logs" / "nginx.out", "ab")
    try:
        return subprocess.Popen(
            command(nginx, prefix),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        out.close()
