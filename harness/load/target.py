"""Where the load goes: the user's own running stack (``--target URL``) or one started for the run.

Starting goes through the stack's programmatic API (harness/stack). Its errors (nginx missing, a
port taken, PostgreSQL unreachable) come back as ``LoadError`` with the stack's own message.
"""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.load.runner import LoadError


@dataclass
class Target:
    url: str
    build: str  # "clocked", "baseline", "mixed" (components differ) or "unknown" (a user's stack)
    build_map: dict[str, str]
    started: bool  # True when this run started the stack (and will stop it)
    # The parts of a started stack that have died (runner.run's ``watch``); a user's stack is only
    # checked at the end of each run, through its /health.
    dead: Callable[[], list[str]] = field(default=lambda: [], repr=False)
    access_log: Path | None = None  # nginx's access log of a stack started for the run (None for a user's stack)


def label_of(build_map: dict[str, str]) -> str:
    builds = set(build_map.values())
    return builds.pop() if len(builds) == 1 else ("mixed" if builds else "unknown")


def probe_build(url: str, timeout_s: float = 5.0) -> dict[str, str]:
    """The build map a running stack reports at ``/api/v1/build`` ({} if it does not say)."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/api/v1/build", timeout=timeout_s) as r:
            data = json.loads(r.read())
    except (OSError, ValueError):
        return {}
    if isinstance(data, dict):
        m = data.get("components", data.get("build_map", data))
        if isinstance(m, dict) and all(isinstance(v, str) for v in m.values()):
            return {str(k): v for k, v in m.items()}
    return {}


def check_reachable(url: str, timeout_s: float = 5.0) -> None:
    if not url.startswith(("http://", "https://")):
        raise LoadError(f"--target {url!r}: expected an http:// or https:// URL")
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=timeout_s):
            pass
    except urllib.error.HTTPError:
        pass  # it answered: reachable (its health is its own business)
    except OSError as exc:
        raise LoadError(f"--target {url}: nothing answers there ({exc})") from None


@contextlib.contextmanager
def target(
    url: str | None, *, build: str = "clocked", components: Sequence[str] = (), workers: int = 2, nginx: bool = True,
    **stack_options: Any,
) -> Iterator[Target]:
    """The user's stack at ``url``, or one started for the run (``stack_options`` go to harness.stack.running)."""
    if url:
        check_reachable(url)
        bmap = probe_build(url)
        yield Target(url.rstrip("/"), label_of(bmap), bmap, False)
        return
    try:
        from harness.stack import StackError, running
    except ImportError as exc:
        raise LoadError(f"the stack (harness/stack) is not available here ({exc}); aim at a running one with --target URL") from None
    try:
        cm = running(build=build, components=list(components), workers=workers, nginx=nginx, **stack_options)
        stack = cm.__enter__()
    except StackError as exc:
        raise LoadError(f"could not start the {build} stack: {exc}") from None
    try:
        yield Target(stack.url.rstrip("/"), label_of(stack.build_map), dict(stack.build_map), True, stack.dead,
                     stack.access_log)
    finally:
        cm.__exit__(None, None, None)
