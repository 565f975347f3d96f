"""Get PostgreSQL and Redis for a run: ``with provide() as svc:`` finds or starts them, then stops
whatever it started.

    with provide(postgres_url=None, redis_url=None, allow_embedded=True) as svc:
        svc.postgres.url, svc.postgres.how, svc.postgres.version   # how: explicit/local port/embedded/missing
        env = {**os.environ, **svc.env()}                          # hand the URLs to child processes

A service that cannot be had is a ``Found`` with ``url=None`` and a reason: the caller reports the
parts that need it as not measured and runs the rest. Nothing here raises for an unreachable
server; a malformed explicit URL raises ``BadServiceURL`` (a ValueError) naming the problem.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from .discovery import (
    EMBEDDED,
    EXPLICIT,
    LOCAL_PORT,
    POSTGRES,
    REDIS,
    Attempt,
    Candidate,
    Found,
    Spec,
    candidates,
    choose,
    host_port,
    port_open,
    redact,
    url_problem,
)
from .embedded import EMBEDDED as EMBEDDED_SERVERS
from .embedded import EmbeddedError, EmbeddedServer
from .probes import VERSION_PROBES, ProbeError


class BadServiceURL(ValueError):
    """An explicit URL (flag or variable) that cannot be a URL for its service at all."""


@dataclass
class Services:
    """What a run got: one ``Found`` per service, and the embedded servers to stop afterwards."""

    postgres: Found
    redis: Found
    started: list[EmbeddedServer] = field(default_factory=list)

    def __iter__(self) -> Iterator[Found]:
        return iter((self.postgres, self.redis))

    def env(self) -> dict[str, str]:
        """Environment variables that make child processes use the same servers (as explicit URLs)."""
        out = {}
        if self.postgres.ok:
            out[POSTGRES.env_var] = self.postgres.url  # type: ignore[assignment]
        if self.redis.ok:
            out[REDIS.env_var] = self.redis.url  # type: ignore[assignment]
        return out

    def stop(self) -> None:
        """Stop every embedded server this object started (the others are not ours)."""
        while self.started:
            self.started.pop().stop()


def check_explicit(spec: Spec, explicit: str | None, env: Mapping[str, str]) -> None:
    """Raise BadServiceURL if the explicit URL for ``spec`` (flag, else variable) is malformed."""
    for cand in candidates(spec, explicit, env, allow_embedded=False):
        if cand.how == EXPLICIT and cand.url is not None:
            problem = url_problem(spec, cand.url)
            if problem:
                raise BadServiceURL(f"{cand.source}: {problem}")


def _attempt_for(
    spec: Spec,
    started: list[EmbeddedServer],
    probe: Callable[[str], str],
    make_embedded: Callable[[], EmbeddedServer],
) -> Callable[[Candidate], Attempt]:
    """The I/O behind ``choose``: probe a URL, or start an embedded server and probe it."""

    def attempt(cand: Candidate) -> Attempt:
        if cand.how in (EXPLICIT, LOCAL_PORT):
            assert cand.url is not None
            if cand.how == LOCAL_PORT:
                host, port = host_port(cand.url)
                if not port_open(host, port):
                    return Attempt(None, f"nothing answers on {host}:{port}")
            try:
                return Attempt(cand.url, version=probe(cand.url))
            except ProbeError as exc:
                return Attempt(None, f"{redact(cand.url)} does not answer as {spec.name}: {exc}")
        assert cand.how == EMBEDDED
        server = make_embedded()
        reason = server.unavailable()
        if reason:
            return Attempt(None, reason)
        try:
            url = server.start()
        except EmbeddedError as exc:
            return Attempt(None, f"the embedded server did not start: {exc}")
        except OSError as exc:
            return Attempt(None, f"the embedded server did not start: {type(exc).__name__}: {exc}")
        started.append(server)
        try:
            return Attempt(url, version=probe(url))
        except ProbeError as exc:
            started.remove(server)
            server.stop()
            return Attempt(None, f"the embedded server started but does not answer: {exc}")

    return attempt


def not_requested(spec: Spec) -> Found:
    return Found(spec.name, None, "missing", "not requested by this run")


def find(
    spec: Spec,
    explicit: str | None,
    *,
    allow_embedded: bool,
    started: list[EmbeddedServer],
    env: Mapping[str, str] | None = None,
    probe: Callable[[str], str] | None = None,
    make_embedded: Callable[[], EmbeddedServer] | None = None,
) -> Found:
    """Find one service in the documented order; an embedded server started is appended to ``started``."""
    env = os.environ if env is None else env
    check_explicit(spec, explicit, env)
    attempt = _attempt_for(
        spec,
        started,
        probe or VERSION_PROBES[spec.name],
        make_embedded or EMBEDDED_SERVERS[spec.name],
    )
    return choose(spec, candidates(spec, explicit, env, allow_embedded), attempt)


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """Make SIGTERM unwind the stack (SystemExit) so embedded servers are stopped, not orphaned.

    Only from the main thread and only where nobody has set a SIGTERM handler already.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def unwind(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, unwind)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def provide(
    postgres_url: str | None = None,
    redis_url: str | None = None,
    allow_embedded: bool = True,
    *,
    postgres: bool = True,
    redis: bool = True,
    env: Mapping[str, str] | None = None,
) -> Iterator[Services]:
    """Find (or start) PostgreSQL and Redis for the duration of the ``with`` block.

    ``postgres=False`` / ``redis=False`` leave a service alone (its Found says "not requested").
    Both explicit URLs are checked for form before anything is started.
    """
    env = os.environ if env is None else env
    if postgres:
        check_explicit(POSTGRES, postgres_url, env)
    if redis:
        check_explicit(REDIS, redis_url, env)
    svc = Services(not_requested(POSTGRES), not_requested(REDIS))
    with _sigterm_unwinds():
        try:
            if postgres:
                svc.postgres = find(POSTGRES, postgres_url, allow_embedded=allow_embedded, started=svc.started, env=env)
            if redis:
                svc.redis = find(REDIS, redis_url, allow_embedded=allow_embedded, started=svc.started, env=env)
            yield svc
        finally:
            svc.stop()
