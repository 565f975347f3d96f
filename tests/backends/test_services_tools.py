"""Tool probes: found or not, each answers with a version or a reason, never an exception."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.backends import probe_all
from harness.backends.tools import PROBES, Tool, ask_version, parse_version, probe_docker, probe_locust, which_first


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("nginx version: nginx/1.22.1", "1.22.1"),
        ("prometheus, version 2.53.0 (branch: HEAD, revision: abc)", "2.53.0"),
        ("Chromium 156.0.8078.108 built on Debian GNU/Linux 12 (bookworm)", "156.0.8078.108"),
        ("locust 2.47.0 from /x (Python 3.11.7)", "2.47.0"),
        ("Docker version 28.2.2, build e6534b4", "28.2.2"),
        ("no digits here", ""),
    ],
)
def test_parse_version(text: str, version: str) -> None:
    assert parse_version(text) == version


def test_probe_all_reports_every_tool_in_order() -> None:
    tools = probe_all()
    assert [t.name for t in tools] == list(PROBES) == ["nginx", "wrk", "prometheus", "docker", "chromium", "locust",
                                                       "valgrind", "faketime", "node"]
    for tool in tools:
        assert isinstance(tool, Tool)
        assert tool.ok == (tool.path is not None and not tool.reason)
        if not tool.ok:
            assert tool.reason  # absent or unusable always says why


def test_locust_is_found_next_to_this_python_with_its_version() -> None:
    from importlib.metadata import version  # never import locust here: it monkey-patches the process

    tool = probe_locust()
    assert tool.ok, tool.reason
    assert tool.version == version("locust")
    assert Path(tool.path).parent == Path(sys.executable).parent or tool.path.endswith("locust")  # type: ignore[arg-type]


def test_a_tool_that_fails_or_hangs_is_a_reason(tmp_path: Path) -> None:
    failing = tmp_path / "failing"
    failing.write_text("#!/bin/sh\necho 'broken install' >&2\nexit 3\n")
    failing.chmod(0o755)
    tool = ask_version("x", str(failing), ["--version"])
    assert not tool.ok and "exited with code 3: broken install" in tool.reason

    hanging = tmp_path / "hanging"
    hanging.write_text("#!/bin/sh\nexec sleep 30\n")  # stands for a tool that never answers
    hanging.chmod(0o755)
    tool = ask_version("y", str(hanging), ["--version"], timeout_s=0.5)
    assert not tool.ok and "did not answer within" in tool.reason

    tool = ask_version("z", str(tmp_path / "absent"), ["--version"])
    assert not tool.ok and "cannot run" in tool.reason


def test_which_first_prefers_the_extra_directory(tmp_path: Path) -> None:
    exe = tmp_path / "sh"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert which_first(["sh"], [tmp_path]) == str(exe)
    assert which_first(["surely-not-a-command-clockbench"]) is None


def test_docker_without_a_daemon_is_a_reason_not_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from harness.backends import docker_engine

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.setattr(docker_engine, "find_dockerd", lambda: None)  # nor can clockbench start its own
    tool = probe_docker(timeout_s=1)
    assert not tool.ok and "no daemon answering" in tool.reason and "no-docker.sock" in tool.reason
    assert "a private engine cannot start: dockerd not installed" in tool.reason


def test_docker_without_a_daemon_but_a_private_engine_is_usable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from harness.backends.docker_engine import unavailable_reason
    from tests.conftest import missing

    if unavailable_reason():
        missing("Docker engine", unavailable_reason())
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    tool = probe_docker(timeout_s=1)
    assert tool.ok and "private engine" in tool.detail and "no-docker.sock" in tool.detail


def test_every_tool_says_what_it_is_needed_for_and_names_real_criteria() -> None:
    from harness.report import criteria as crit
    from harness.backends.tools import NEEDED_FOR

    ids = {c.id for c in crit.load()}
    assert set(NEEDED_FOR) == set(PROBES)
    for name, (what, criteria, fix) in NEEDED_FOR.items():
        assert what and fix, name
        assert set(criteria) <= ids, f"{name}: unknown criteria {set(criteria) - ids}"
    for c in crit.load():  # a criterion that cannot be measured without a tool is listed beside that tool
        for tool in c.needs:
            assert c.id in NEEDED_FOR[tool][1], f"{c.id} needs {tool} but doctor does not say so"
