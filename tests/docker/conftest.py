"""The real Docker engine for the container family's integration tests: one private engine per test
session (skip with the reason on a laptop without one; a failure under CI=true)."""

from __future__ import annotations

import pytest

from harness.backends.docker_engine import EngineUnavailable, ensure_busybox_image, start_engine
from tests.conftest import missing


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory):  # type: ignore[no-untyped-def]
    try:
        engine = start_engine(tmp_path_factory.mktemp("dockerd"))
    except EngineUnavailable as exc:
        missing("Docker engine", str(exc))
    try:
        ensure_busybox_image(engine.client())
        yield engine
    finally:
        engine.stop()


@pytest.fixture()
def docker_client(docker_engine):  # type: ignore[no-untyped-def]
    client = docker_engine.client()
    yield client
    for c in client.containers.list(all=True, filters={"label": "clockbench=payload"}):
        c.remove(force=True)
