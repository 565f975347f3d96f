"""The backends a run needs, found or started: PostgreSQL, Redis, and the tools (nginx, Prometheus, ...).

Order of preference for a server: an explicit URL (flag or environment variable), a server
answering on its default local port, an embedded server started for the run. Where none can be
had, the finding says why, and the parts that need it are reported as not measured.

    from harness import backends
    with backends.provide() as svc:          # postgres_url=..., redis_url=..., allow_embedded=...
        if svc.postgres.ok: ...               # .url, .how, .version, .reason
"""

from .discovery import (
    DEFAULT_POSTGRES_URL,
    DEFAULT_REDIS_URL,
    POSTGRES,
    REDIS,
    Candidate,
    Found,
    Spec,
    candidates,
    choose,
    find_postgres,
    find_redis,
    redact,
    url_problem,
)
from .embedded import EmbeddedError, EmbeddedPostgres, EmbeddedRedis
from .probes import (
    ProbeError,
    postgres_version,
    postgres_version_async,
    redis_version,
    redis_version_async,
)
from .provision import BadServiceURL, Services, find, provide
from .tools import Tool, probe_all

__all__ = [
    "DEFAULT_POSTGRES_URL",
    "DEFAULT_REDIS_URL",
    "POSTGRES",
    "REDIS",
    "BadServiceURL",
    "Candidate",
    "EmbeddedError",
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "Found",
    "ProbeError",
    "Services",
    "Spec",
    "Tool",
    "candidates",
    "choose",
    "find",
    "find_postgres",
    "find_redis",
    "postgres_version",
    "postgres_version_async",
    "probe_all",
    "provide",
    "redact",
    "redis_version",
    "redis_version_async",
    "url_problem",
]
