from __future__ import annotations

import pytest_asyncio

from harness.builds import BUILDS
from omkit import DRIVERS


@pytest_asyncio.fixture(params=BUILDS)
async def drv(request):  # type: ignore[no-untyped-def]
    d = DRIVERS[request.param]()
    await d.stack.start()
    try:
        yield d
    finally:
        await d.close()
