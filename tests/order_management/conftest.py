from __future__ import annotations

import pytest_asyncio

from omkit import BaselineDriver, ClockedDriver


@pytest_asyncio.fixture(params=["clocked", "baseline"])
async def drv(request):  # type: ignore[no-untyped-def]
    d = ClockedDriver() if request.param == "clocked" else BaselineDriver()
    await d.stack.start()
    try:
        yield d
    finally:
        await d.close()
