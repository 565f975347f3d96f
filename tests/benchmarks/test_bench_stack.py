"""Over the wire (issue 5): POST /api/v1/orders through the run's own nginx, clocked and baseline
stacks side by side in one run, and GET /hello of the same service through the same nginx as the
ceiling (build "reference"). One worker per stack, keep-alive client; a round is ORDERS requests.

The machine's other load shares the cores: compare the ratio, not the absolute figure.
"""

from __future__ import annotations

import itertools
import uuid

import httpx
import pytest

from harness.builds import BUILDS
from harness.stack import StackError, running
from harness.stack.nginx import find_nginx
from tests.conftest import missing

ORDERS = 50  # requests per round
_ids = itertools.count()


@pytest.fixture(scope="module", params=BUILDS)
def stack(request, postgres_url, redis_url):
    try:
        find_nginx()
    except StackError as exc:
        missing("nginx", str(exc))
    schema = "cb_bench_" + uuid.uuid4().hex[:10]
    with running(build=request.param, workers=1, nginx=True, postgres_url=postgres_url, redis_url=redis_url,
                 write_pointer=False, service_args=["--db-schema", schema, "--redis-prefix", f"cb:{schema}:"]) as s:  # fmt: skip
        with httpx.Client(base_url=s.url, timeout=10.0) as client:
            yield request.param, s, client
    import asyncio

    from core.database.schema import drop_at

    asyncio.run(drop_at(postgres_url, schema))


def _post_orders(client: httpx.Client, tag: str) -> None:
    for _ in range(ORDERS):
        r = client.post("/api/v1/orders", json={"client_order_id": f"{tag}-{next(_ids)}", "instrument": "AAPL",
                                               "side": "BUY", "quantity": 1})  # fmt: skip
        if r.status_code != 201:
            raise AssertionError(f"POST /api/v1/orders answered {r.status_code}: {r.text}")


def _hello(client: httpx.Client) -> None:
    for _ in range(ORDERS):
        r = client.get("/hello")
        if r.status_code != 200:
            raise AssertionError(f"GET /hello answered {r.status_code}")


def test_post_order_through_nginx(benchmark, stack) -> None:
    build, s, client = stack
    benchmark.group = "stack.post_order_nginx"
    benchmark.extra_info["build"] = build
    benchmark.extra_info["ops"] = ORDERS
    benchmark.extra_info["build_map"] = s.build_map
    tag = uuid.uuid4().hex[:8]
    benchmark.pedantic(_post_orders, args=(client, tag), rounds=5, iterations=1, warmup_rounds=1)


def test_hello_ceiling_through_nginx(benchmark, stack) -> None:
    build, s, client = stack  # the ceiling, measured on each build's service (no order code runs)
    benchmark.group = "stack.post_order_nginx"
    benchmark.extra_info["build"] = "reference"
    benchmark.extra_info["service_build"] = build
    benchmark.extra_info["ops"] = ORDERS
    benchmark.pedantic(_hello, args=(client,), rounds=5, iterations=1, warmup_rounds=1)
