"""``clockbench doctor``: what this machine offers a run."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys

from harness.services import find_postgres, find_redis

TOOLS = {
    "nginx": ["nginx"],
    "prometheus": ["prometheus"],
    "docker engine": ["dockerd", "docker"],
    "chromium": ["chromium", "chromium-browser", "google-chrome"],
    "locust": ["locust"],
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="show what this machine offers a run (services, tools, CPUs)")
    p.add_argument("--postgres-url", help="PostgreSQL URL (else CLOCKBENCH_POSTGRES_URL, else the local port)")
    p.add_argument("--redis-url", help="Redis URL (else CLOCKBENCH_REDIS_URL, else the local port)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(f"python      {sys.version.split()[0]} ({platform.python_implementation()})")
    print(f"machine     {platform.machine()} {platform.system()} {platform.release()}, {os.cpu_count()} CPUs")
    for found in (find_postgres(args.postgres_url), find_redis(args.redis_url)):
        status = f"{found.url} ({found.how})" if found.ok else f"MISSING: {found.reason}"
        print(f"{found.name:<11} {status}")
    for tool, names in TOOLS.items():
        path = next((shutil.which(n) for n in names if shutil.which(n)), None)
        print(f"{tool:<11} {path or 'not found'}")
    return 0
