from __future__ import annotations

import pytest
from gwkit import driver


@pytest.fixture(params=["clocked", "baseline"])
def drv(request):  # type: ignore[no-untyped-def]
    return driver(request.param)


@pytest.fixture(params=["local", "redis"])
def store(request):  # type: ignore[no-untyped-def]
    """None for the in-process limiter, the Redis URL for the shared one."""
    return None if request.param == "local" else request.getfixturevalue("redis_url")
