"""Locate PostgreSQL and Redis (explicit URL, then the default local port)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Found:
    """The outcome of looking for one service: a URL and how it was found, or the reason it was not."""

    name: str
    url: str | None
    how: str  # "explicit", "local port", "embedded" or "missing"
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.url is not None


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _find(name: str, explicit: str | None, env_var: str, default_url: str) -> Found:
    url = explicit or os.environ.get(env_var)
    if url:
        return Found(name, url, "explicit")
    parsed = urlparse(default_url)
    assert parsed.hostname and parsed.port
    if port_open(parsed.hostname, parsed.port):
        return Found(name, default_url, "local port")
    return Found(
        name,
        None,
        "missing",
        f"no {name} URL given ({env_var} or --{name}-url) and nothing answers on {parsed.hostname}:{parsed.port}",
    )


def find_postgres(explicit: str | None = None) -> Found:
    return _find("postgres", explicit, "CLOCKBENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def find_redis(explicit: str | None = None) -> Found:
    return _find("redis", explicit, "CLOCKBENCH_REDIS_URL", DEFAULT_REDIS_URL)
