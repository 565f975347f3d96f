"""A docker SDK client on the session's private engine (``docker_engine`` in tests/conftest.py);
the payload containers a test made are removed after it."""

from __future__ import annotations

import pytest


@pytest.fixture()
def docker_client(docker_engine):  # type: ignore[no-untyped-def]
    client = docker_engine.client()
    yield client
    for c in client.containers.list(all=True, filters={"label": "clockbench=payload"}):
        c.remove(force=True)
