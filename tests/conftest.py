"""Shared fixtures. A test that needs a service skips with the reason on a laptop without it;
under CI (CI=true) a missing service is a failure, never a silent skip."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

# Runs and stack state made by the tests go to a temporary folder, never into the user's
# reports/runs/ or reports/stack/ (set before any harness module reads them; inherited by the
# subprocesses the tests start).
_SCRATCH = tempfile.mkdtemp(prefix="clockbench-tests-")
os.environ["CLOCKBENCH_RUNS_DIR"] = os.path.join(_SCRATCH, "runs")
os.environ["CLOCKBENCH_STATE_DIR"] = os.path.join(_SCRATCH, "stack")
atexit.register(shutil.rmtree, _SCRATCH, True)

from harness.backends import find_postgres, find_redis

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(what: str, reason: str) -> None:
    """Skip (laptop) or fail (CI) because a real service or tool is not available."""
    message = f"{what} not available: {reason}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing service is a failure)", pytrace=False)
    pytest.skip(message)


def require_tool(executable: str) -> str:
    path = shutil.which(executable)
    if path is None:
        missing(executable, f"{executable!r} is not on PATH")
    return path  # type: ignore[return-value]


@pytest.fixture(scope="session")
def postgres_url() -> str:
    found = find_postgres()
    if not found.ok:
        missing("PostgreSQL", found.reason)
    return found.url  # type: ignore[return-value]


@pytest.fixture(scope="session")
def redis_url() -> str:
    found = find_redis()
    if not found.ok:
        missing("Redis", found.reason)
    return found.url  # type: ignore[return-value]


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A private Docker engine for the session (harness/backends/docker_engine.py), busybox image imported."""
    from harness.backends.docker_engine import EngineUnavailable, ensure_busybox_image, start_engine

    try:
        engine = start_engine(tmp_path_factory.mktemp("dockerd"))
    except EngineUnavailable as exc:
        missing("Docker engine", str(exc))
    try:
        ensure_busybox_image(engine.client())
        yield engine
    finally:
        engine.stop()
