"""schemathesis over the service's own OpenAPI document, every check (but use_after_free: the API's
DELETEs are cancels that keep the record, see CONFIG), both builds, both clocks (issue 11, item 8),
against one worker on the private PostgreSQL and Redis.

The document is read from the running worker (``/openapi.json``), and OpenAPI ``links`` are added
to it here, so schemathesis's stateful phase chains what it made: an order's 201 gives the
``order_id`` that GET and DELETE ``/api/v1/orders/{order_id}`` then use, an algo's 201 the
``algo_id`` of its GET, pause, resume and DELETE. Without them random ids would only ever hit 404s.
The test then checks, from the run's HAR record, that the order paths were really reached (201s,
then 200s on GET and DELETE of a made order), so a run that silently stopped reaching them fails.

Bounded for CI: ``MAX_EXAMPLES`` cases per operation and phase, a fixed seed (reproducible;
``CLOCKBENCH_SCHEMATHESIS_SEED`` / ``CLOCKBENCH_SCHEMATHESIS_EXAMPLES`` override for a longer hunt).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from harness.builds import BUILDS

from tests.conftest import missing

from .conftest import PrivateServers, private_stack

START_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z, the TestClock's start
MAX_EXAMPLES = int(os.environ.get("CLOCKBENCH_SCHEMATHESIS_EXAMPLES", "25"))
SEED = int(os.environ.get("CLOCKBENCH_SCHEMATHESIS_SEED", "20261130"))
MADE_ID = re.compile(r"W[0-9]+-[OA][0-9]+")
# positive_data_acceptance (schema-valid data must be accepted) runs on every operation; on the two
# that create orders and algos a 422 is also an accepted answer to schema-valid data, because the
# domain has rules JSON Schema cannot state: the venue's price band (it moves with the market), the
# instrument's tick size on a price string, the lot size per instrument, a GTD's expiry after *now*.
# Everything else (the integer fields, enums, patterns, the clock routes...) keeps the default.
# use_after_free (ST301: a GET after a successful DELETE must be 404/410) is excluded: the API's only two
# DELETEs (an order, an algo) are cancels, documented as such, and a canceled order or algo stays
# readable with its state (a trading record is never erased). Once integral numbers (2.0) were accepted
# the stateful phase made enough orders to chain DELETE then GET, and reported exactly that. (schemathesis
# 4.32.5 ignored the check's per-operation switch on the GET operations: hence the CLI exclusion.)
CONFIG = """
[[operations]]
include-path-regex = "^/api/v1/(orders|algos)$"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "409", "422", "429"]
"""
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
FIGURES: list[dict[str, Any]] = []


def schemathesis_exe() -> str:
    exe = Path(sys.executable).with_name("schemathesis")
    if exe.exists():
        return str(exe)
    found = shutil.which("schemathesis") or shutil.which("st")
    if found is None:
        missing("schemathesis", "not installed (pip install -r requirements.lock)")
    return found  # type: ignore[return-value]


def with_links(doc: dict[str, Any]) -> dict[str, Any]:
    """The document plus links from each POST that makes a resource to the operations on it."""
    paths = doc["paths"]

    def link(source: tuple[str, str], status: str, targets: dict[str, tuple[str, str]], param: str, pointer: str) -> None:
        resp = paths[source[0]][source[1]]["responses"][status]
        resp["links"] = {
            name: {"operationId": paths[p][m]["operationId"], "parameters": {param: f"$response.body#/{pointer}"}}
            for name, (p, m) in targets.items()
        }

    link(("/api/v1/orders", "post"), "201",
         {"GetOrder": ("/api/v1/orders/{order_id}", "get"), "CancelOrder": ("/api/v1/orders/{order_id}", "delete")},
         "order_id", "order_id")  # fmt: skip
    link(("/api/v1/orders/{order_id}", "delete"), "200",
         {"GetCanceledOrder": ("/api/v1/orders/{order_id}", "get")}, "order_id", "order_id")  # fmt: skip
    link(("/api/v1/algos", "post"), "201",
         {"GetAlgo": ("/api/v1/algos/{algo_id}", "get"), "PauseAlgo": ("/api/v1/algos/{algo_id}/pause", "post"),
          "ResumeAlgo": ("/api/v1/algos/{algo_id}/resume", "post"), "CancelAlgo": ("/api/v1/algos/{algo_id}", "delete")},
         "algo_id", "algo_id")  # fmt: skip
    # explicit examples: a LIMIT well below the market but inside the venue's price band (AAPL ~190, ±50%) (it rests, so it can be read and canceled) and a
    # MARKET order (it trades at once); the examples phase sends them as they are
    body = paths["/api/v1/orders"]["post"]["requestBody"]["content"]["application/json"]
    body["examples"] = {
        "resting_limit": {"value": {"client_order_id": "st-limit-1", "instrument": "AAPL", "side": "BUY", "quantity": 5,
                                    "order_type": "LIMIT", "limit_price": "100.00", "time_in_force": "GTC"}},
        "market": {"value": {"client_order_id": "st-market-1", "instrument": "MSFT", "side": "SELL", "quantity": 2}},
    }  # fmt: skip
    return doc


def reached(har: Path) -> Counter[tuple[str, str, int]]:
    """(method, path shape, status) -> how many times, from the HAR record of the run."""
    out: Counter[tuple[str, str, int]] = Counter()
    for entry in json.loads(har.read_text())["log"]["entries"]:
        path = urlparse(entry["request"]["url"]).path
        shape = path
        for prefix in ("/api/v1/orders/", "/api/v1/algos/"):
            rest = path[len(prefix):].split("/", 1)
            if path.startswith(prefix) and MADE_ID.fullmatch(rest[0]):  # an id the service made (W<n>-O<k>)
                shape = prefix + "{id}" + ("/" + rest[1] if len(rest) > 1 else "")
        out[(entry["request"]["method"], shape, int(entry["response"]["status"]))] += 1
    return out


class ServiceFailures(AssertionError):
    """schemathesis found failures in the service (as opposed to this test not reaching the order paths)."""


KNOWN_FAILING: set[str] = set()  # none open (GET /dashboard/{name} now documents its 404)


def failing_operations(out: str) -> set[str]:
    """The operations schemathesis reports a failure for (its "____ METHOD /path ____" headings)."""
    found = set()
    for line in out.splitlines():
        m = re.fullmatch(r"_{3,} ([A-Z]+ /\S*) _{3,}", line.strip())
        if m:
            found.add(m.group(1))
    return found


def failures(out: str) -> str:
    """Each failing operation and its failure codes, then the summary (the whole log is kept in a file)."""
    lines = out.splitlines()
    keep = [ln for ln in lines if ln.startswith("___") or ln.lstrip().startswith("- ST") or "curl " in ln]
    tail = lines[next((i for i, ln in enumerate(lines) if "SUMMARY" in ln), len(lines)):]
    return "\n".join(keep[:150] + tail)




@pytest.mark.service("postgres")
@pytest.mark.parametrize("clock", ["live", "test"])
@pytest.mark.parametrize("build", BUILDS)
def test_schemathesis_all_checks(private_servers: PrivateServers, build: str, clock: str, tmp_path: Path) -> None:
    exe = schemathesis_exe()
    _, stack_cm = private_stack(private_servers, build, workers=1, nginx=False, clock=clock,
                                start_time_ns=START_NS if clock == "test" else None)  # fmt: skip
    with stack_cm as s:
        doc = httpx.get(s.url + "/openapi.json", timeout=10).json()
        schema_file = tmp_path / "openapi.json"
        schema_file.write_text(json.dumps(with_links(doc)))
        har = tmp_path / "run.har"
        config = tmp_path / "schemathesis.toml"
        config.write_text(CONFIG)
        cmd = [exe, "--config-file", str(config), "run", str(schema_file), "--url", s.url, "--checks", "all",
               "--exclude-checks", "use_after_free",
               "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", str(MAX_EXAMPLES),
               "--seed", str(SEED), "--workers", "1", "--request-timeout", "15", "--no-color",
               "--suppress-health-check", "too_slow",
               "--report", "har,junit", "--report-har-path", str(har),
               "--report-junit-path", str(tmp_path / "junit.xml")]  # fmt: skip
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=str(tmp_path),
                             env=dict(os.environ, SCHEMATHESIS_HOOKS=str(HOOKS)))  # fmt: skip
        dead = s.dead()
    out = run.stdout + run.stderr
    (tmp_path / "schemathesis.log").write_text(out)
    seen = reached(har) if har.exists() else Counter()
    fig = {"fault": "schemathesis", "build": build, "clock": clock, "exit": run.returncode,
           "requests": sum(seen.values()),
           "orders_201": seen[("POST", "/api/v1/orders", 201)],
           "order_get_200": seen[("GET", "/api/v1/orders/{id}", 200)],
           "order_delete_200": seen[("DELETE", "/api/v1/orders/{id}", 200)],
           "order_delete_made": seen[("DELETE", "/api/v1/orders/{id}", 200)] + seen[("DELETE", "/api/v1/orders/{id}", 409)],
           "5xx": sum(n for (_, _, st), n in seen.items() if st >= 500)}  # fmt: skip
    FIGURES.append(fig)
    assert not dead, f"worker died during the run: {dead}"
    # schemathesis reached the order paths: it made orders, then read and canceled what it made (a
    # cancel of a made order that had already filled answers 409: the cancel path ran on a real order)
    assert fig["orders_201"] > 0, f"no order was accepted: the order paths were not reached ({fig})\n{out[-3000:]}"
    assert fig["order_get_200"] > 0 and fig["order_delete_made"] > 0, (
        f"GET/DELETE of a made order never happened: the links were not followed ({fig})\n{out[-3000:]}")
    if run.returncode != 0:
        failing = failing_operations(out)
        if not failing or not failing <= KNOWN_FAILING:  # anything new fails outright, never hidden by the xfail
            raise AssertionError(f"schemathesis failed on {sorted(failing)} ({fig}):\n{failures(out)}\n"
                                 f"(whole output: {tmp_path / 'schemathesis.log'})")  # fmt: skip
        raise ServiceFailures(f"schemathesis failed ({fig}):\n{failures(out)}\n(whole output: {tmp_path / 'schemathesis.log'})")


@pytest.mark.service("postgres")
def test_schema_valid_integral_number_is_accepted(private_servers: PrivateServers) -> None:
    """A JSON number with a zero fraction is an 'integer' for JSON Schema (2020-12, OpenAPI 3.1), so
    {"t0": 251091444.0} is schema-valid (schemathesis found it by chance, seed-dependent: pinned here).
    It is taken as that integer, exactly; 2.5, true and "2" stay refused, and the bounds still apply."""
    import jsonschema_rs  # comes with schemathesis

    _, stack_cm = private_stack(private_servers, "clocked", workers=1, nginx=False)
    with stack_cm as s:
        doc = httpx.get(s.url + "/openapi.json", timeout=10).json()
        ref = doc["paths"]["/api/v1/clock/sync"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        validator = jsonschema_rs.Draft202012Validator({**ref, "components": doc["components"]})
        body = {"t0": 251091444.0}
        assert validator.is_valid(body), "the document itself refuses the body: then a 422 would be right"
        r = httpx.post(s.url + "/api/v1/clock/sync", json=body, timeout=10)
        assert r.status_code == 200, f"schema-valid {body} answered {r.status_code}: {r.text[:300]}"
        assert r.json()["t0"] == 251091444 and isinstance(r.json()["t0"], int)
        for bad in (2.5, True, "2", -1.0, 2.0**63):  # not integers, or out of bounds: refused, naming the field
            r = httpx.post(s.url + "/api/v1/clock/sync", json={"t0": bad}, timeout=10)
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "t0", (bad, r.text[:300])
        order = {"client_order_id": "int-float-1", "instrument": "MSFT", "side": "BUY", "quantity": 3.0}
        r = httpx.post(s.url + "/api/v1/orders", json=order, timeout=10)
        assert r.status_code == 201 and r.json()["quantity"] == 3, r.text[:300]
        r = httpx.post(s.url + "/api/v1/orders", json={**order, "client_order_id": "int-float-2", "quantity": 3.5},
                       timeout=10)  # fmt: skip
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "quantity", r.text[:300]
