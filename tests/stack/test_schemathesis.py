"""schemathesis over the service's OpenAPI document against a real worker (uvicorn, PostgreSQL, Redis),
both builds and both clocks, with zero failures.

Every check runs (``--checks all``) except ``positive_data_acceptance``: the domain has rules JSON
Schema cannot state (a LIMIT needs a price and a MARKET none, prices within the venue's band and on
the tick, quantities on the lot, a POV needs a rate, a GTD an expiry after now), so schema-valid
bodies are rightly refused with a 422 naming the rule. The OpenAPI links (POST /orders -> GET/DELETE
/orders/{order_id}, POST /algos -> its controls) let the stateful phase reach what it made.
Bounded (``--max-examples``) to keep CI fast.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from harness.builds import BUILDS
from harness.stack import running
from tests.conftest import missing
from tests.stack.conftest import isolation_args

START_NS = 1_700_000_000_000_000_000
MAX_EXAMPLES = 10


ROOT = Path(__file__).resolve().parents[2]


def _schemathesis() -> str:
    """schemathesis lives in its own venv (.venv-st, made by .ci/run): it pins pytest<9, this project pytest 9."""
    for exe in (os.environ.get("SCHEMATHESIS"), ROOT / ".venv-st/bin/schemathesis", Path(sys.executable).with_name("schemathesis")):
        if exe and Path(exe).exists():
            return str(exe)
    found = shutil.which("schemathesis")
    if found is None:
        missing("schemathesis", "python3 -m venv .venv-st && .venv-st/bin/pip install schemathesis==4.32.5")
    return found  # type: ignore[return-value]


@pytest.mark.parametrize("clock", ["live", "test"])
@pytest.mark.parametrize("build", BUILDS)
def test_schemathesis_finds_no_failure(build, clock, postgres_url, redis_url, tmp_path):
    exe = _schemathesis()
    schema, args = isolation_args()
    with running(build=build, workers=1, nginx=False, clock=clock, start_time_ns=START_NS if clock == "test" else None,
                 postgres_url=postgres_url, redis_url=redis_url, service_args=args, write_pointer=False) as s:  # fmt: skip
        if clock == "test":  # quotes first, so orders meet a market
            httpx.post(s.url + "/api/v1/clock/advance", json={"by_ns": 2_000_000_000}, timeout=10).raise_for_status()
        r = subprocess.run(
            [exe, "run", s.url + "/openapi.json", "-u", s.url, "--checks", "all",
             "--exclude-checks", "positive_data_acceptance", "--max-examples", str(MAX_EXAMPLES),
             "--exclude-path", "/dashboard/{name}", "--seed", "11", "--no-color"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    from tests.stack.conftest import _drop

    _drop(postgres_url, schema)
    tail = "\n".join((r.stdout + r.stderr).splitlines()[-60:])
    assert r.returncode == 0, tail
    assert "201" in r.stdout or "passed" in r.stdout, tail
