"""The frontend producer of `clockbench run` on a machine without nginx (``run --no-nginx``, chosen
by itself when nginx is missing): the page talks to one worker per stack, the clock-sync paths go
through the delay proxy in front of that worker, and every frontend metric is produced. nginx is
made unfindable for the test, so a path that still reached for it would fail here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.measure import frontend as fe
from harness.stack import nginx as nginx_mod
from harness.stack.errors import StackError
from tests.conftest import missing

METRICS = {"ui.order_roundtrip", "ui.quote_to_dom", "ui.page_cpu", "ui.clock_sync_error", "ui.client_timestamp_error",
           "ui.clock_sync_error.asymmetric"}


@pytest.fixture()
def no_nginx(monkeypatch: pytest.MonkeyPatch) -> None:
    def absent(explicit: str | None = None) -> str:
        raise StackError("nginx is not installed (hidden by the test)")

    monkeypatch.setattr(nginx_mod, "find_nginx", absent)


def test_producer_measures_everything_without_nginx(no_nginx: None, postgres_url: str, redis_url: str,
                                                     tmp_path: Path) -> None:
    try:
        fe.check_available()
    except fe.BrowserUnavailable as exc:
        missing("headless Chromium", str(exc))
    lines: list[str] = []
    records = fe.produce(tmp_path / "frontend", quick=True, log=lines.append, postgres_url=postgres_url,
                         redis_url=redis_url, nginx=False, sizes=fe.Sizes(clicks=3, cpu_s=1.0, sync_s=4.0, orders=1))
    got = {(r.metric, r.build) for r in records if r.values}
    for metric in METRICS:
        for build in ("baseline", "clocked"):
            assert (metric, build) in got, f"{metric} ({build}) missing; log: {lines}"
    # The stacks ran without nginx: one worker each, nothing of nginx's in their folders.
    for build in ("baseline", "clocked"):
        stack_dir = tmp_path / "frontend" / f"stack-{build}"
        assert stack_dir.is_dir() and not (stack_dir / "nginx").exists()
    summary = json.loads((tmp_path / "frontend" / "frontend.json").read_text())
    for name in ("symmetric", "asymmetric"):
        path = summary["paths"][name]
        assert path["proxy_priority"], "the proxy did not say how it was scheduled"
        assert path["clocked_exchanges"]["n"] >= 8, path  # the exchanges were seen on both sides of the proxy
        assert path["clocked_exchanges"]["min_rtt_proxy_error_ms"] is not None


def _recording(events: list[str], name: str, fail: bool = False):  # type: ignore[no-untyped-def]
    """A context manager that records its start and stop in ``events`` (and fails to start if asked)."""
    import contextlib

    @contextlib.contextmanager
    def cm():  # type: ignore[no-untyped-def]
        if fail:
            events.append(f"{name} failed")
            raise RuntimeError(f"{name} could not start")
        events.append(f"{name} up")
        try:
            yield name
        finally:
            events.append(f"{name} stopped")
    return cm


def test_stacks_and_browser_start_together_and_the_browser_closes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stacks start on threads while the browser starts here; the browser is closed before any
    stack stops (a stack's clean-up cannot run its event loop beside Playwright's), every started
    stack is stopped when another stack or the browser failed to start, and a stack's own error is
    what is raised."""
    events: list[str] = []
    monkeypatch.setattr(fe, "browser", _recording(events, "browser"))
    makers = {"baseline": _recording(events, "baseline"), "clocked": _recording(events, "clocked")}
    with fe.stacks_and_browser(makers) as (stacks, b):
        assert stacks == {"baseline": "baseline", "clocked": "clocked"} and b == "browser"
        assert sorted(events) == ["baseline up", "browser up", "clocked up"]
        events.clear()
    assert events[0] == "browser stopped" and sorted(events[1:]) == ["baseline stopped", "clocked stopped"], events

    events.clear()
    makers["clocked"] = _recording(events, "clocked", fail=True)
    with pytest.raises(RuntimeError, match="clocked could not start"):
        with fe.stacks_and_browser(makers):
            pytest.fail("entered although a stack failed to start")
    assert "browser stopped" in events and "baseline stopped" in events
    assert events.index("browser stopped") < events.index("baseline stopped"), events

    events.clear()
    monkeypatch.setattr(fe, "browser", _recording(events, "browser", fail=True))
    with pytest.raises(RuntimeError, match="browser could not start"):
        with fe.stacks_and_browser({"baseline": _recording(events, "baseline")}):
            pytest.fail("entered although the browser failed to start")
    assert events[-1] == "baseline stopped", events  # started, then stopped: not left running
